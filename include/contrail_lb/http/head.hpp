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

  private:
    bool parse_start_line(std::string_view line);
    bool parse_field(std::string_view line);

    std::string_view start_line_, first_, second_, third_;
    std::vector<Header> headers_;  // capacity reused from message to message
    std::string_view error_;
};

bool iequals(std::string_view a, std::string_view b);
// True when the comma-separated list `value` holds `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token);
// Hop-by-hop fields a proxy consumes rather than forwards (RFC 9110 §7.6.1).
bool is_hop_by_hop(std::string_view name);

}  // namespace clb::http
