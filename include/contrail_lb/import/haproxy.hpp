// haproxy.cfg as HAProxy reads it: sections of directives, each a list of words
// (quotes and backslash escapes resolved, comments dropped).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/import/source.hpp"

namespace clb::import {

struct HaproxyDirective {
    int line = 0;
    std::vector<std::string> words;  // never empty
    std::string text;                // the line as written, trimmed, comment removed
};

struct HaproxySection {
    std::string kind;  // global, defaults, frontend, backend, listen, userlist, peers, ...
    std::string name;  // empty for global and an unnamed defaults
    // Words after the name: "frontend NAME ADDR:PORT" (HAProxy 1.x's bind on the header).
    std::vector<std::string> header_args;
    int line = 0;
    std::vector<HaproxyDirective> directives;
};

struct HaproxyConfig {
    std::string file;
    std::vector<HaproxySection> sections;
};

struct HaproxyParse {
    std::optional<HaproxyConfig> config;
    std::optional<SourceError> error;  // set exactly when config is not
};

// Never throws for any input; a line HAProxy itself would refuse to tokenize (an
// unterminated quote, a NUL byte, more than 64 words) is an error at its line.
HaproxyParse parse_haproxy(std::string_view text, const std::string& file);

// HAProxy's time syntax: a number with an optional unit (us, ms, s, m, h, d; none = ms).
// Milliseconds, rounded up from microseconds; nullopt when malformed or above 24h.
std::optional<long long> parse_haproxy_time_ms(std::string_view text);

}  // namespace clb::import
