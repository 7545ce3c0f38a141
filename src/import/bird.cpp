// bird.conf tokenizer: statements end at ';' or at the '}' of their block; "..." strings,
// '#' line comments and /* */ comments as BIRD 2's lexer reads them.
#include "contrail_lb/import/bird.hpp"

namespace clb::import {

namespace {

constexpr int kMaxDepth = 32;

class BirdReader {
  public:
    BirdReader(std::string_view text, const std::string& file) : text_(text), file_(file) {}

    BirdParse read() {
        BirdConfig config{file_, {}};
        if (text_.size() > kMaxSourceBytes) return fail("larger than 4 MiB: not a bird.conf", 0);
        if (!read_block(config.statements, 0)) return BirdParse{std::nullopt, error_};
        return BirdParse{std::move(config), std::nullopt};
    }

  private:
    BirdParse fail(std::string message, int line) {
        return BirdParse{std::nullopt, SourceError{file_, line, std::move(message)}};
    }
    bool error(std::string message, int line) {
        error_ = SourceError{file_, line, std::move(message)};
        return false;
    }

    // Statements up to the matching '}' (depth > 0) or the end of the text (depth 0).
    bool read_block(std::vector<BirdStatement>& out, int depth) {
        if (depth > kMaxDepth) return error("blocks nested deeper than 32", line_);
        BirdStatement current;
        while (true) {
            std::string token;
            if (!next(token)) return false;
            if (token.empty()) {  // end of text
                if (depth > 0) return error("unterminated block: '}' missing", line_);
                if (!current.words.empty())
                    return error("statement without ';' at the end", current.line);
                return true;
            }
            if (token == "}") {
                if (depth == 0) return error("'}' without a block", line_);
                if (!current.words.empty()) out.push_back(std::move(current));
                return true;
            }
            if (token == ";") {
                if (!current.words.empty()) out.push_back(std::move(current));
                current = {};
                continue;
            }
            if (current.words.empty() && !current.has_block) current.line = token_line_;
            if (token == "{") {
                current.has_block = true;
                if (current.line == 0) current.line = token_line_;
                if (!read_block(current.block, depth + 1)) return false;
                out.push_back(std::move(current));
                current = {};
                continue;
            }
            current.words.push_back(std::move(token));
        }
    }

    // The next token into `token` (empty at the end); false on a lexical error.
    bool next(std::string& token) {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == '\n') ++line_;
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                ++pos_;
                continue;
            }
            if (c == '#') {
                skip_to('\n');
                continue;
            }
            if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
                if (!skip_comment()) return false;
                continue;
            }
            break;
        }
        token_line_ = line_;
        if (pos_ >= text_.size()) return true;
        char c = text_[pos_];
        if (c == '\0') return error("NUL byte", line_);
        if (c == ';' || c == '{' || c == '}') {
            token.assign(1, c);
            ++pos_;
            return true;
        }
        if (c == '"') return read_string(token);
        size_t start = pos_;
        while (pos_ < text_.size() && !is_delimiter(text_[pos_]))
            ++pos_;
        token.assign(text_.substr(start, pos_ - start));
        return true;
    }

    static bool is_delimiter(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' ||
               c == '}' || c == '"' || c == '#' || c == '\0';
    }

    void skip_to(char stop) {
        while (pos_ < text_.size() && text_[pos_] != stop)
            ++pos_;
    }

    bool skip_comment() {
        int start = line_;
        pos_ += 2;
        while (pos_ + 1 < text_.size() && !(text_[pos_] == '*' && text_[pos_ + 1] == '/')) {
            if (text_[pos_] == '\n') ++line_;
            ++pos_;
        }
        if (pos_ + 1 >= text_.size()) return error("unterminated /* comment", start);
        pos_ += 2;
        return true;
    }

    bool read_string(std::string& token) {
        size_t start = pos_++;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            if (text_[pos_] == '\n') return error("unterminated string", token_line_);
            if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
            ++pos_;
        }
        if (pos_ >= text_.size()) return error("unterminated string", token_line_);
        ++pos_;
        token.assign(text_.substr(start, pos_ - start));
        return true;
    }

    std::string_view text_;
    const std::string& file_;
    size_t pos_ = 0;
    int line_ = 1;
    int token_line_ = 1;
    std::optional<SourceError> error_;
};

}  // namespace

std::string BirdStatement::text() const {
    std::string out;
    for (const auto& word : words)
        out += (out.empty() ? "" : " ") + word;
    if (has_block) out += out.empty() ? "{ ... }" : " { ... }";
    return out;
}

BirdParse parse_bird(std::string_view text, const std::string& file) {
    return BirdReader(text, file).read();
}

}  // namespace clb::import
