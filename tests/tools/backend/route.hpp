// The endpoints of clb-test-backend, decoded from a request target.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace clb_test {

enum class Endpoint {
    Hello,         // "/" and anything unknown
    Health,        // /health: 200, or 500 while failing
    AdminFail,     // /admin/fail
    AdminRecover,  // /admin/recover: health and answers normal again
    AdminGarbage,  // /admin/garbage: later answers are not HTTP
    AdminSurplus,  // /admin/surplus: later answers carry bytes beyond their length
    Status,        // /status/NNN
    Delay,         // /delay/MS
    Stall,         // /stall: never answers
    Bytes,         // /bytes/N with Content-Length
    Chunked,       // /chunked/N with Transfer-Encoding: chunked
    Sink,          // /sink: {"bytes": N, "sum": S}
    Echo,          // /echo: the request body back
    Headers,       // /headers: the raw request head back
    Close,         // /close: answer, then close
    RejectExpect,  // /reject-expect: 417 to Expect: 100-continue
    Stats,         // /stats
};

struct Route {
    Endpoint endpoint = Endpoint::Hello;
    uint64_t argument = 0;  // NNN, MS or N
};

inline Route parse_route(std::string_view target) {
    if (const auto query = target.find('?'); query != std::string_view::npos)
        target = target.substr(0, query);

    struct Exact {
        std::string_view path;
        Endpoint endpoint;
    };
    static constexpr Exact kExact[] = {
        {"/health", Endpoint::Health},
        {"/admin/fail", Endpoint::AdminFail},
        {"/admin/recover", Endpoint::AdminRecover},
        {"/admin/garbage", Endpoint::AdminGarbage},
        {"/admin/surplus", Endpoint::AdminSurplus},
        {"/stall", Endpoint::Stall},
        {"/sink", Endpoint::Sink},
        {"/echo", Endpoint::Echo},
        {"/headers", Endpoint::Headers},
        {"/close", Endpoint::Close},
        {"/reject-expect", Endpoint::RejectExpect},
        {"/stats", Endpoint::Stats},
    };
    for (const auto& exact : kExact)
        if (target == exact.path) return {exact.endpoint, 0};

    struct WithNumber {
        std::string_view prefix;
        Endpoint endpoint;
    };
    static constexpr WithNumber kWithNumber[] = {
        {"/status/", Endpoint::Status},
        {"/delay/", Endpoint::Delay},
        {"/bytes/", Endpoint::Bytes},
        {"/chunked/", Endpoint::Chunked},
    };
    for (const auto& with_number : kWithNumber) {
        if (!target.starts_with(with_number.prefix)) continue;
        const auto digits = target.substr(with_number.prefix.size());
        uint64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.begin(), digits.end(), value);
        if (ec == std::errc() && end == digits.end()) return {with_number.endpoint, value};
    }
    return {Endpoint::Hello, 0};
}

inline std::string_view reason_phrase(unsigned status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 417:
            return "Expectation Failed";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return "Status";
    }
}

}  // namespace clb_test
