// haproxy.cfg tokenizer: HAProxy's own rules (cfgparse.c's parse_line): words split on
// spaces and tabs, '#' starts a comment outside quotes, "..." and '...' quote, and a
// backslash escapes the next character.
#include "contrail_lb/import/haproxy.hpp"

#include <array>

namespace clb::import {

namespace {

constexpr size_t kMaxWords = 64;         // HAProxy's MAX_LINE_ARGS
constexpr size_t kMaxLineBytes = 65536;  // far above HAProxy's 2 KiB default

constexpr std::array<std::string_view, 14> kSectionKinds = {
    "global",    "defaults", "frontend", "backend", "listen",      "userlist", "peers",
    "resolvers", "mailers",  "program",  "cache",   "http-errors", "ring",     "log-forward"};

bool is_section_kind(const std::string& word) {
    for (auto kind : kSectionKinds)
        if (word == kind) return true;
    return false;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

struct Tokenized {
    std::vector<std::string> words;
    std::string text;  // trimmed, without the comment
    std::string error;
};

// One backslash escape at line[i] (the backslash); appends to word, returns the index of
// the last character consumed.
size_t unescape(std::string_view line, size_t i, std::string& word) {
    if (i + 1 >= line.size()) return i;  // a trailing backslash is kept out
    char next = line[i + 1];
    switch (next) {
        case 'r':
            word += '\r';
            return i + 1;
        case 'n':
            word += '\n';
            return i + 1;
        case 't':
            word += '\t';
            return i + 1;
        case 'x':
            if (i + 3 < line.size() && hex_value(line[i + 2]) >= 0 && hex_value(line[i + 3]) >= 0) {
                word += static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                return i + 3;
            }
            word += "\\x";
            return i + 1;
        default:
            word += next;
            return i + 1;
    }
}

Tokenized tokenize(std::string_view line) {
    Tokenized out;
    std::string word;
    bool in_word = false;
    char quote = 0;
    size_t end = line.size();
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (c == '\0') return {{}, {}, "NUL byte in the line"};
        if (quote) {
            if (c == quote)
                quote = 0;
            else if (c == '\\' && quote == '"')
                i = unescape(line, i, word);
            else
                word += c;
            continue;
        }
        if (c == '#') {
            end = i;
            break;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            if (in_word) out.words.push_back(std::move(word));
            word.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        if (c == '"' || c == '\'')
            quote = c;
        else if (c == '\\')
            i = unescape(line, i, word);
        else
            word += c;
    }
    if (quote) return {{}, {}, std::string("unterminated ") + quote + " quote"};
    if (in_word) out.words.push_back(std::move(word));
    if (out.words.size() > kMaxWords) return {{}, {}, "more than 64 words on one line"};
    std::string_view text = line.substr(0, end);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    out.text = std::string(text);
    return out;
}

}  // namespace

std::string SourceError::to_string() const {
    return line > 0 ? file + ":" + std::to_string(line) + ": " + message : file + ": " + message;
}

std::string Untranslated::to_string() const {
    return origin.where() + ": " + directive + ": " + why;
}

HaproxyParse parse_haproxy(std::string_view text, const std::string& file) {
    auto fail = [&](int line, std::string message) {
        return HaproxyParse{std::nullopt, SourceError{file, line, std::move(message)}};
    };
    if (text.size() > kMaxSourceBytes) return fail(0, "larger than 4 MiB: not an haproxy.cfg");
    HaproxyConfig config{file, {}};
    int number = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++number;
        if (line.size() > kMaxLineBytes) return fail(number, "line longer than 64 KiB");
        Tokenized t = tokenize(line);
        if (!t.error.empty()) return fail(number, t.error);
        if (t.words.empty()) continue;
        if (is_section_kind(t.words[0])) {
            HaproxySection section{t.words[0], "", {}, number, {}};
            if (t.words.size() > 1) section.name = t.words[1];
            bool named = section.kind != "global" && section.kind != "defaults";
            if (named && section.name.empty())
                return fail(number, "\"" + section.kind + "\" needs a name");
            section.header_args.assign(t.words.begin() + std::min<size_t>(2, t.words.size()),
                                       t.words.end());
            config.sections.push_back(std::move(section));
            continue;
        }
        if (config.sections.empty())
            return fail(number, "\"" + t.words[0] +
                                    "\" outside any section (global, defaults, "
                                    "frontend, backend, listen)");
        config.sections.back().directives.push_back(
            {number, std::move(t.words), std::move(t.text)});
    }
    if (config.sections.empty()) return fail(0, "no section: not an haproxy.cfg");
    return HaproxyParse{std::move(config), std::nullopt};
}

std::optional<long long> parse_haproxy_time_ms(std::string_view text) {
    size_t digits = 0;
    long long value = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        if (value > 100'000'000'000LL) return std::nullopt;
        value = value * 10 + (text[digits] - '0');
        ++digits;
    }
    if (digits == 0) return std::nullopt;
    std::string_view unit = text.substr(digits);
    long long ms = 0;
    if (unit == "us")
        ms = (value + 999) / 1000;
    else if (unit.empty() || unit == "ms")
        ms = value;
    else if (unit == "s")
        ms = value * 1000;
    else if (unit == "m")
        ms = value * 60'000;
    else if (unit == "h")
        ms = value * 3'600'000;
    else if (unit == "d")
        ms = value * 86'400'000;
    else
        return std::nullopt;
    if (ms > 86'400'000LL) return std::nullopt;
    return ms;
}

}  // namespace clb::import
