#include "contrail_lb/http/responses.hpp"

#include <string>
#include <vector>

namespace clb::http {

namespace {

struct Canned {
    int status;
    std::string text;
};

std::string render(int status, std::string_view reason, std::string_view body) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                      "\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
                      "Connection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

const std::vector<Canned>& canned() {
    static const std::vector<Canned> responses = [] {
        struct Row {
            int status;
            std::string_view reason, body;
        };
        const Row rows[] = {
            {400, "Bad Request", "400 malformed request\n"},
            {408, "Request Timeout", "408 request head timeout\n"},
            {413, "Content Too Large", "413 content too large\n"},
            {414, "URI Too Long", "414 URI too long\n"},
            {431, "Request Header Fields Too Large", "431 request head too large\n"},
            {500, "Internal Server Error", "500 internal error\n"},
            {501, "Not Implemented", "501 not implemented\n"},
            {502, "Bad Gateway", "502 the backend failed\n"},
            {503, "Service Unavailable", "503 no backend is available\n"},
            {504, "Gateway Timeout", "504 the backend timed out\n"},
            {505, "HTTP Version Not Supported", "505 HTTP version not supported\n"},
        };
        std::vector<Canned> out;
        for (const auto& r : rows)
            out.push_back({r.status, render(r.status, r.reason, r.body)});
        return out;
    }();
    return responses;
}

}  // namespace

std::string_view error_response(int status) {
    for (const auto& r : canned())
        if (r.status == status) return r.text;
    return error_response(500);
}

}  // namespace clb::http
