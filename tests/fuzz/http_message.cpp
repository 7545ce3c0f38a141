// libFuzzer target for the HTTP framing the proxy relies on: a request head (strict
// validation + llhttp), then whatever follows as the body, in two pieces to exercise
// streaming. Must never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t end = input.find("\r\n\r\n");
    if (end == std::string_view::npos) return 0;
    std::string_view head = input.substr(0, end + 4);
    std::string_view body = input.substr(end + 4);

    for (auto kind : {clb::http::Kind::request, clb::http::Kind::response}) {
        clb::http::Head parsed;
        bool strict_ok = parsed.parse(head);
        clb::http::MessageParser parser(kind);
        if (!parser.parse_head(head.data(), head.size()) || !strict_ok) continue;
        for (const auto& h : parsed.headers()) (void)clb::http::is_hop_by_hop(h.name);
        size_t half = body.size() / 2;
        for (std::string_view piece : {body.substr(0, half), body.substr(half)}) {
            while (!piece.empty() && !parser.message_complete()) {
                auto step = parser.parse_body(piece.data(), piece.size());
                if (step.error || step.consumed == 0) break;
                piece.remove_prefix(step.consumed);
            }
        }
        (void)parser.finish();
    }
    return 0;
}
