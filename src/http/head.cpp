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

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

constexpr size_t kMaxConnectionOptions = 16;

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name, IPv4 or [IP-literal] characters.
// Whitespace, '/', '?', '#', '@', quotes or controls would let two parsers route it apart.
bool is_host(std::string_view value) {
    for (unsigned char c : value) {
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) !=
                      std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

// Splits off the next line, which must end in CRLF; a CR or LF anywhere else is refused.
bool next_line(std::string_view raw, size_t& pos, std::string_view& line, std::string_view& error) {
    size_t lf = raw.find('\n', pos);
    if (lf == std::string_view::npos) {
        error = pos == raw.size() ? "no final empty line" : "line not terminated by CRLF";
        return false;
    }
    if (lf == pos || raw[lf - 1] != '\r') {
        error = "line not terminated by CRLF";
        return false;
    }
    line = raw.substr(pos, lf - 1 - pos);
    pos = lf + 1;
    if (line.find('\r') != std::string_view::npos) {
        error = "bare CR";
        return false;
    }
    return true;
}

std::string_view field_error(std::string_view line, Header& field) {
    if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
        return "malformed header field name";  // includes whitespace before the colon
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) return "control character in header field value";
    field = {line.substr(0, colon), value};
    return {};
}

}  // namespace

bool is_framing_field(std::string_view name) {
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
           iequals(name, "host");
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        if (iequals(trim_ows(value.substr(0, comma)), token)) return true;
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
    connection_options_.clear();
    error_ = {};
    size_t pos = 0;
    std::string_view line;
    if (!next_line(raw, pos, line, error_)) return false;
    if (!parse_start_line(line)) return false;
    for (;;) {
        if (!next_line(raw, pos, line, error_)) return false;
        if (line.empty()) break;
        if (!parse_field(line)) return false;
    }
    if (pos != raw.size()) {
        error_ = "bytes after the end of the head";
        return false;
    }
    return true;
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
    is_request_ = !first_.starts_with("HTTP/");
    std::string_view version = is_request_ ? third_ : first_;
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        error_ = "unsupported HTTP version";
        return false;
    }
    if (is_request_ && (!is_token(first_) || second_.empty() || !is_field_value(second_) ||
                        second_.find(' ') != std::string_view::npos)) {
        error_ = "malformed request line";
        return false;
    }
    return true;
}

bool Head::parse_field(std::string_view line) {
    Header field;
    error_ = field_error(line, field);
    if (!error_.empty()) return false;
    headers_.push_back(field);
    return !iequals(field.name, "connection") || note_connection_options(field.value);
}

bool Head::note_connection_options(std::string_view value) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view option = trim_ows(value.substr(0, comma));
        if (!option.empty()) {
            // Each option costs a comparison per forwarded field: bound the work a head
            // can ask for.
            if (connection_options_.size() == kMaxConnectionOptions) {
                error_ = "too many Connection options";
                return false;
            }
            connection_options_.push_back(option);
        }
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return true;
}

std::string_view Head::semantic_error() const {
    std::string_view version = is_request_ ? third_ : first_;
    if (version == "HTTP/1.0" && find("transfer-encoding"))
        return "Transfer-Encoding in an HTTP/1.0 message";
    if (!is_request_) return {};
    const Header* host = nullptr;
    for (const auto& h : headers_) {
        if (!iequals(h.name, "host")) continue;
        if (host) return "more than one Host field";
        host = &h;
    }
    if (!host) return version == "HTTP/1.1" ? "HTTP/1.1 request without Host" : "";
    return is_host(host->value) ? "" : "invalid Host field";
}

bool Head::named_by_connection(std::string_view name) const {
    if (is_framing_field(name)) return false;
    for (std::string_view option : connection_options_)
        if (iequals(option, name)) return true;
    return false;
}

bool has_bare_lf(std::string_view partial) {
    for (size_t lf = partial.find('\n'); lf != std::string_view::npos;
         lf = partial.find('\n', lf + 1))
        if (lf == 0 || partial[lf - 1] != '\r') return true;
    return false;
}

std::string_view trailer_section_error(std::string_view section) {
    size_t pos = 0;
    std::string_view line, error;
    for (;;) {
        if (!next_line(section, pos, line, error)) return error;
        if (line.empty()) break;
        Header field;
        error = field_error(line, field);
        if (!error.empty()) return error;
        if (is_framing_field(field.name)) return "framing field in the trailer section";
    }
    return pos == section.size() ? "" : "bytes after the trailer section";
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace clb::http
