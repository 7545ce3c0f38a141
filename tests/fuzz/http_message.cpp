// libFuzzer target for the HTTP framing the proxy relies on: a request head (strict
// validation + llhttp), then whatever follows as the body, in two pieces to exercise
// streaming the way the proxy does it (bytes the parser holds back stay at the front of
// the buffer). Must never crash, hang or read out of bounds, and never release more bytes
// than it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t end = input.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        (void)clb::http::trailer_section_error(input);
        return 0;
    }
    std::string_view head = input.substr(0, end + 4);
    std::string_view body = input.substr(end + 4);

    for (auto kind : {clb::http::Kind::request, clb::http::Kind::response}) {
        clb::http::Head parsed;
        bool strict_ok = parsed.parse(head) && parsed.semantic_error().empty();
        clb::http::MessageParser parser(kind);
        if (!parser.parse_head(head.data(), head.size()) || !strict_ok) continue;
        for (const auto& h : parsed.headers()) {
            (void)clb::http::is_hop_by_hop(h.name);
            (void)parsed.named_by_connection(h.name);
        }
        std::string pending;
        size_t half = body.size() / 2;
        for (std::string_view piece : {body.substr(0, half), body.substr(half)}) {
            pending.append(piece);
            auto step = parser.parse_body(pending.data(), pending.size());
            if (step.error) break;
            if (step.ready > pending.size()) __builtin_trap();
            pending.erase(0, step.ready);
            if (step.complete) break;
        }
        (void)parser.finish();
    }
    return 0;
}
