#include "contrail_lb/http/head.hpp"

#include <array>

namespace clb::http {

namespace {

constexpr std::array<bool, 256> make_token_table() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr auto kTokenChar = make_token_table();

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!kTokenChar[c]) return false;
    return true;
}

// Field values: visible characters, SP, HTAB and obs-text; no other control characters.
bool is_field_value(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

bool is_hop_by_hop(std::string_view name) {
    for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                               "upgrade", "proxy-authenticate"})
        if (iequals(name, h)) return true;
    return false;
}

const Header* Head::find(std::string_view name) const {
    for (const auto& h : headers_)
        if (iequals(h.name, name)) return &h;
    return nullptr;
}

bool Head::parse(std::string_view raw) {
    headers_.clear();
    error_ = {};
    // Every line must end in CRLF; a CR or LF anywhere else is refused.
    bool first_line = true;
    size_t pos = 0;
    while (pos < raw.size()) {
        size_t lf = raw.find('\n', pos);
        if (lf == std::string_view::npos || lf == pos || raw[lf - 1] != '\r') {
            error_ = "line not terminated by CRLF";
            return false;
        }
        std::string_view line = raw.substr(pos, lf - 1 - pos);
        pos = lf + 1;
        if (line.find('\r') != std::string_view::npos) {
            error_ = "bare CR";
            return false;
        }
        if (line.empty()) return pos == raw.size() && !first_line;
        if (first_line ? !parse_start_line(line) : !parse_field(line)) return false;
        first_line = false;
    }
    error_ = "head without final empty line";
    return false;
}

bool Head::parse_start_line(std::string_view line) {
    start_line_ = line;
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        error_ = "malformed start line";
        return false;
    }
    first_ = line.substr(0, sp1);
    second_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
    third_ = line.substr(sp2 + 1);
    bool is_response = first_.starts_with("HTTP/");
    std::string_view version = is_response ? first_ : third_;
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        error_ = "unsupported HTTP version";
        return false;
    }
    if (!is_response && (!is_token(first_) || second_.empty() || !is_field_value(second_) ||
                         second_.find(' ') != std::string_view::npos)) {
        error_ = "malformed request line";
        return false;
    }
    return true;
}

bool Head::parse_field(std::string_view line) {
    if (line.front() == ' ' || line.front() == '\t') {
        error_ = "obsolete line folding";
        return false;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
        error_ = "malformed header field name";  // includes whitespace before the colon
        return false;
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (!is_field_value(value)) {
        error_ = "control character in header field value";
        return false;
    }
    headers_.push_back({line.substr(0, colon), value});
    return true;
}

}  // namespace clb::http
