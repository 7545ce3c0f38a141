// Access control of the admin API (SPEC "Admin endpoints"; docs/admin.md "Access control").
//
// The admin port is reachable from a browser on the operator's desk, so three browser
// attacks are refused outright, token or not: a page from another site posting to it
// (Origin, Sec-Fetch-Site), and DNS rebinding, where a foreign name resolves to the
// admin address (Host is then that foreign name). A token, when configured, is needed
// for every state change.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "admin/http.hpp"

namespace clb::admin {

namespace {

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// "Host" without its port: "127.0.0.1", "::1" (from "[::1]:9090"), "localhost".
std::string host_name(std::string_view host) {
    if (host.starts_with('[')) {
        size_t end = host.find(']');
        return end == std::string_view::npos ? std::string() : lowercase(host.substr(1, end - 1));
    }
    return lowercase(host.substr(0, host.find(':')));
}

// The admin address (the one this connection reached) or a loopback name. Any other
// name may be a DNS rebinding; an IP literal cannot be.
bool trusted_host(const Request& request) {
    std::string name = host_name(request.host);
    if (name == "localhost") return true;
    auto ip = net::IpAddress::parse(name);
    if (!ip) return false;
    if (*ip == request.local.ip()) return true;
    return ip->is_v4() ? (ip->v4_host_order() >> 24) == 127 : *ip == *net::IpAddress::parse("::1");
}

bool is_state_change(const Request& request) {
    return request.method != "GET" && request.method != "HEAD";
}

// "Bearer TOKEN": the scheme is case-insensitive (RFC 9110 §11.1).
std::string_view bearer_token(std::string_view authorization) {
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() < kScheme.size() ||
        lowercase(authorization.substr(0, kScheme.size())) != kScheme)
        return {};
    authorization.remove_prefix(kScheme.size());
    while (authorization.starts_with(' '))
        authorization.remove_prefix(1);
    return authorization;
}

// JSON under /api/, plain text elsewhere.
Response error_answer(const Request& request, int status, std::string_view why) {
    bool api = target_path(request.target).starts_with("/api/");
    return api ? json_error(status, why) : text_response(status, std::string(why) + "\n");
}

Response refusal(const Request& request, int status, std::string_view why) {
    Response r = error_answer(request, status, why);
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"contrail-lb\"");
    return r;
}

// 401 with a Basic challenge: a browser shows its login dialog. For a state change with a
// token configured, the Bearer challenge too: either credential is accepted.
Response basic_challenge(const Request& request, std::string_view token, std::string_view why) {
    Response r = error_answer(request, 401, why);
    r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="contrail-lb", charset="UTF-8")");
    if (!token.empty() && is_state_change(request))
        r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="contrail-lb")");
    return r;
}

Response too_many_failures(const Request& request, const BasicAuth::Result& result) {
    auto seconds = static_cast<long>(std::ceil(std::max(1.0, result.retry_after)));
    std::string client = request.peer.ip().to_string();
    // One warning per window and client: a brute force must not flood the log either.
    if (result.first_limited)
        spdlog::warn("admin: too many failed logins from {}: refusing its credentials for {} s",
                     client, seconds);
    Response r = error_answer(
        request, 429,
        fmt::format("too many failed logins from this address; retry in {} s", seconds));
    r.headers.emplace_back("Retry-After", std::to_string(seconds));
    return r;
}

void log_failure(const Request& request, std::string_view what, const BasicAuth& users,
                 const BasicAuth::Result& result) {
    spdlog::warn("admin: {} from {} for {} {} ({} of {} failures allowed in {} s)", what,
                 request.peer.ip().to_string(), request.method, target_path(request.target),
                 result.failures, users.limits().max_failures, users.limits().window);
}

}  // namespace

std::optional<Response> refuse_unauthenticated(const Request& request, std::string_view token,
                                               BasicAuth& users, double now) {
    const net::IpAddress client = request.peer.ip();
    std::string_view bearer = bearer_token(request.authorization);
    if (!token.empty() && !bearer.empty() && is_state_change(request)) {
        if (auto refused = users.limited(client, now)) return too_many_failures(request, *refused);
        if (constant_time_equal(bearer, token)) return std::nullopt;
        log_failure(request, "wrong bearer token", users, users.count_failure(client, now));
        return basic_challenge(request, token, "wrong bearer token");
    }
    BasicAuth::Result result = users.check(request.authorization, client, now);
    switch (result.verdict) {
        case BasicAuth::Verdict::ok:
            return std::nullopt;
        case BasicAuth::Verdict::missing:
            // A browser's first request: normal, not worth a warning.
            spdlog::debug("admin: {} {} from {}: credentials required", request.method,
                          target_path(request.target), client.to_string());
            return basic_challenge(request, token, "authentication required (admin.users_file)");
        case BasicAuth::Verdict::wrong:
            log_failure(
                request,
                fmt::format("wrong password or unknown user \"{}\"", loggable_user(result.user)),
                users, result);
            return basic_challenge(request, token, "wrong user name or password");
        case BasicAuth::Verdict::limited:
            return too_many_failures(request, result);
    }
    return basic_challenge(request, token, "authentication required");
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Every byte of the longer one is looked at, whatever the contents.
    size_t n = std::max(a.size(), b.size());
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < n; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

std::optional<Response> refuse_access(const Request& request, std::string_view token) {
    // A request without Host is HTTP/1.0 (the server refuses HTTP/1.1 without it), which
    // no browser sends: nothing to rebind.
    if (!request.host.empty() && !trusted_host(request))
        return refusal(
            request, 403,
            fmt::format("forbidden: Host \"{}\" is not this admin address", request.host));
    if (lowercase(request.sec_fetch_site) == "cross-site")
        return refusal(request, 403, "forbidden: cross-site request");
    if (!request.origin.empty() && lowercase(request.origin) != "http://" + lowercase(request.host))
        return refusal(request, 403,
                       fmt::format("forbidden: cross-origin request from \"{}\"", request.origin));
    if (!token.empty() && is_state_change(request)) {
        if (request.authorization.empty())
            return refusal(request, 401, "a bearer token is required (admin.token_file)");
        if (!constant_time_equal(bearer_token(request.authorization), token))
            return refusal(request, 401, "wrong bearer token");
    }
    return std::nullopt;
}

}  // namespace clb::admin
