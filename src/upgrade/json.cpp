#include "contrail_lb/upgrade/json.hpp"

#include <cmath>
#include <cstdlib>

namespace clb::upgrade {

namespace {
constexpr int kMaxDepth = 16;
}

class JsonParser {
  public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    std::optional<Json> document(std::string& error) {
        Json root;
        if (!value(root, 0) || (skip_space(), pos_ != text_.size())) {
            if (error_.empty()) error_ = "trailing bytes";
            error = "invalid JSON at byte " + std::to_string(pos_) + ": " + error_;
            return std::nullopt;
        }
        return root;
    }

  private:
    bool fail(const char* why) {
        if (error_.empty()) error_ = why;
        return false;
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\t'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return fail("unknown literal");
        pos_ += word.size();
        return true;
    }

    bool value(Json& out, int depth) {
        if (depth > kMaxDepth) return fail("nested too deep");
        skip_space();
        if (pos_ == text_.size()) return fail("unexpected end");
        char c = text_[pos_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out.kind_ = Json::Kind::string;
            return string(out.text_);
        }
        if (c == 't' || c == 'f') {
            out.kind_ = Json::Kind::boolean;
            out.boolean_ = c == 't';
            return literal(c == 't' ? "true" : "false");
        }
        if (c == 'n') return literal("null");
        return number(out);
    }

    bool object(Json& out, int depth) {
        out.kind_ = Json::Kind::object;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
        for (;;) {
            skip_space();
            std::string key;
            if (pos_ == text_.size() || text_[pos_] != '"') return fail("expected a key");
            if (!string(key)) return false;
            skip_space();
            if (pos_ == text_.size() || text_[pos_++] != ':') return fail("expected ':'");
            Json member;
            if (!value(member, depth + 1)) return false;
            out.members_.emplace_back(std::move(key), std::move(member));
            skip_space();
            if (pos_ == text_.size()) return fail("unexpected end");
            char c = text_[pos_++];
            if (c == '}') return true;
            if (c != ',') return fail("expected ',' or '}'");
        }
    }

    bool array(Json& out, int depth) {
        out.kind_ = Json::Kind::array;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
        for (;;) {
            Json item;
            if (!value(item, depth + 1)) return false;
            out.items_.push_back(std::move(item));
            skip_space();
            if (pos_ == text_.size()) return fail("unexpected end");
            char c = text_[pos_++];
            if (c == ']') return true;
            if (c != ',') return fail("expected ',' or ']'");
        }
    }

    bool hex4(uint32_t& out) {
        if (pos_ + 4 > text_.size()) return fail("short \\u escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            char c = text_[pos_++];
            int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
            if (digit < 0) return fail("bad \\u escape");
            out = out * 16 + static_cast<uint32_t>(digit);
        }
        return true;
    }

    static void append_utf8(std::string& s, uint32_t cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xc0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xe0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            s += static_cast<char>(0xf0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            s += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    bool escape(std::string& out) {
        if (pos_ == text_.size()) return fail("unexpected end");
        char c = text_[pos_++];
        switch (c) {
            case '"':
            case '\\':
            case '/':
                out += c;
                return true;
            case 'b':
                out += '\b';
                return true;
            case 'f':
                out += '\f';
                return true;
            case 'n':
                out += '\n';
                return true;
            case 'r':
                out += '\r';
                return true;
            case 't':
                out += '\t';
                return true;
            case 'u': {
                uint32_t cp = 0;
                if (!hex4(cp)) return false;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t low = 0;
                    if (text_.substr(pos_, 2) != "\\u") return fail("lone surrogate");
                    pos_ += 2;
                    if (!hex4(low) || low < 0xdc00 || low > 0xdfff) return fail("lone surrogate");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return fail("lone surrogate");
                }
                append_utf8(out, cp);
                return true;
            }
            default:
                return fail("bad escape");
        }
    }

    bool string(std::string& out) {
        ++pos_;  // the opening quote
        while (pos_ < text_.size()) {
            char c = text_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
            if (c != '\\')
                out += c;
            else if (!escape(out))
                return false;
        }
        return fail("unterminated string");
    }

    bool number(Json& out) {
        size_t start = pos_;
        auto digits = [&] {
            size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
                ++pos_;
            return pos_ > from;
        };
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        if (!digits()) return fail("expected a value");
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digits()) return fail("bad number");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digits()) return fail("bad number");
        }
        std::string slice(text_.substr(start, pos_ - start));
        out.kind_ = Json::Kind::number;
        out.number_ = std::strtod(slice.c_str(), nullptr);
        if (!std::isfinite(out.number_)) return fail("number out of range");
        return true;
    }

    std::string_view text_;
    size_t pos_ = 0;
    std::string error_;
};

const Json* Json::find(std::string_view key) const {
    for (const auto& [name, value] : members_)
        if (name == key) return &value;
    return nullptr;
}

std::optional<Json> Json::parse(std::string_view text, std::string& error, size_t max_bytes) {
    if (text.size() > max_bytes) {
        error = "a document of " + std::to_string(text.size()) + " bytes (at most " +
                std::to_string(max_bytes) + ")";
        return std::nullopt;
    }
    return JsonParser(text).document(error);
}

}  // namespace clb::upgrade
