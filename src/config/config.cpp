// The small non-loading parts of the config API: durations, names, lookups.
#include "contrail_lb/config/config.hpp"

#include <crypt.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace clb::config {

namespace {

struct Unit {
    std::string_view suffix;
    int64_t ms;
};

// Longest suffix first so that "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {{"ms", 1}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    if (text == "0") return Duration::zero();
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    if (digits == 0) return std::nullopt;
    std::string_view suffix = text.substr(digits);
    for (const auto& unit : kUnits) {
        if (suffix != unit.suffix) continue;
        int64_t count = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
        if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
        if (count > std::numeric_limits<int64_t>::max() / unit.ms) return std::nullopt;
        return Duration(count * unit.ms);
    }
    return std::nullopt;
}

std::string format_duration(Duration d) {
    int64_t ms = d.count();
    if (ms == 0) return "0";
    for (const auto& unit : {Unit{"h", 3'600'000}, Unit{"m", 60'000}, Unit{"s", 1'000}}) {
        if (ms % unit.ms == 0) return std::to_string(ms / unit.ms) + std::string(unit.suffix);
    }
    return std::to_string(ms) + "ms";
}

std::string to_string(Algorithm a) {
    switch (a) {
        case Algorithm::roundrobin:
            return "roundrobin";
        case Algorithm::leastconn:
            return "leastconn";
        case Algorithm::random2:
            return "random2";
        case Algorithm::source:
            return "source";
        case Algorithm::maglev:
            return "maglev";
    }
    return "unknown";
}

std::string to_string(Mode m) {
    switch (m) {
        case Mode::http:
            return "http";
        case Mode::tcp:
            return "tcp";
    }
    return "unknown";
}

std::string to_string(CheckType t) {
    switch (t) {
        case CheckType::http:
            return "http";
        case CheckType::tcp:
            return "tcp";
        case CheckType::none:
            return "none";
    }
    return "unknown";
}

std::string to_string(LogLevel l) {
    switch (l) {
        case LogLevel::trace:
            return "trace";
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "unknown";
}

bool supported_password_hash(std::string_view hash) {
    constexpr std::string_view kSchemes[] = {"$y$", "$6$", "$5$", "$2b$", "$2y$"};
    bool known = std::any_of(std::begin(kSchemes), std::end(kSchemes),
                             [&](std::string_view scheme) { return hash.starts_with(scheme); });
    if (!known || hash.size() >= CRYPT_OUTPUT_SIZE) return false;
    // crypt(3)'s alphabet (plus '$' and the '=' / ',' of "rounds=N"): no spaces, no
    // control characters, nothing that needs quoting in a log.
    bool alphabet = std::all_of(hash.begin(), hash.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/' || c == '$' ||
               c == '=' || c == ',';
    });
    if (!alphabet) return false;
    // A setting alone ("$6$salt") passes crypt_checksalt but matches no password: the hashed
    // part after the last '$' must be there (22 characters is the shortest, bcrypt's salt).
    size_t last = hash.rfind('$');
    if (hash.size() - last - 1 < 22) return false;
    // Debian's libxcrypt calls SHA-256 crypt "legacy"; the list above is the policy.
    std::string copy(hash);
    int verdict = crypt_checksalt(copy.c_str());
    return verdict == CRYPT_SALT_OK || verdict == CRYPT_SALT_METHOD_LEGACY;
}

net::SocketAddress check_address(const HealthCheck& check, const net::SocketAddress& backend) {
    if (check.port == 0) return backend;
    return net::SocketAddress(backend.ip(), check.port);
}

const Service* Config::find_service(std::string_view name) const {
    for (const auto& service : services) {
        if (service.name == name) return &service;
    }
    return nullptr;
}

std::string Error::to_string() const {
    if (line <= 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace clb::config
