// A complete message head, split into its start line and header fields, validated the way
// a proxy in front of other parsers must be: anything two parsers could read differently
// (bare CR or LF, obs-fold, whitespace before the colon, control characters, an unknown
// HTTP version) is refused rather than repaired.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clb::http {

struct Header {
    std::string_view name;
    std::string_view value;  // without surrounding whitespace
};

class Head {
  public:
    // `raw` is the head including its final CRLFCRLF. The views point into it.
    bool parse(std::string_view raw);

    std::string_view start_line() const { return start_line_; }
    // Request: method, target, version; response: version, status code, reason.
    std::string_view first() const { return first_; }
    std::string_view second() const { return second_; }
    std::string_view third() const { return third_; }
    const std::vector<Header>& headers() const { return headers_; }
    const Header* find(std::string_view name) const;
    std::string_view error() const { return error_; }

    // RFC 9112 rules on a well-formed head that decide how it is framed and routed:
    // a request needs exactly one valid Host (HTTP/1.1; at most one in 1.0), and an
    // HTTP/1.0 message must not use Transfer-Encoding (§6.1). Empty when it is fine.
    std::string_view semantic_error() const;
    // True for a field this hop consumes because the `Connection` header names it
    // (RFC 9110 §7.6.1). The fields that frame or route the message (Content-Length,
    // Transfer-Encoding, Host) are never dropped this way: the next hop must frame the
    // message exactly as we did.
    bool named_by_connection(std::string_view name) const;

  private:
    bool parse_start_line(std::string_view line);
    bool parse_field(std::string_view line);
    bool note_connection_options(std::string_view value);

    std::string_view start_line_, first_, second_, third_;
    bool is_request_ = false;
    std::vector<Header> headers_;  // capacity reused from message to message
    std::vector<std::string_view> connection_options_;
    std::string_view error_;
};

// True when `partial`, a head still without its final CRLFCRLF, has a line ended by a bare
// LF: it can never complete, so it is refused at once rather than after a timeout.
bool has_bare_lf(std::string_view partial);

// Checks a chunked body's trailer section (RFC 9112 §7.1.2): field lines as strict as a
// head's, each ended by CRLF, then an empty line ending the input exactly, and no field
// that frames or routes the message. Empty when it is fine, else why not.
std::string_view trailer_section_error(std::string_view section);

bool iequals(std::string_view a, std::string_view b);
// `s` without the optional whitespace (SP, HTAB) around it (RFC 9110 §5.6.3 OWS).
std::string_view trim_ows(std::string_view s);
// True when the comma-separated list `value` holds `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token);
// Hop-by-hop fields a proxy consumes rather than forwards (RFC 9110 §7.6.1).
bool is_hop_by_hop(std::string_view name);
// Content-Length, Transfer-Encoding and Host: the fields that frame or route a message.
bool is_framing_field(std::string_view name);

}  // namespace clb::http
