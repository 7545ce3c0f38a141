// libFuzzer target for the BGP decoder: frames a byte stream as a session would, decodes each
// message under every session option, and re-encodes what decoded.
#include <cstddef>
#include <cstdint>
#include <span>

#include "contrail_lb/bgp/wire.hpp"

using namespace clb::bgp::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> stream(data, size);
    while (!stream.empty()) {
        const Frame frame = check_header(stream);
        if (frame.status != Frame::Status::complete) break;
        const auto message = stream.first(frame.length);
        for (bool four_octet : {true, false}) {
            for (bool ibgp : {true, false}) {
                const SessionOptions options{four_octet, ibgp};
                Decoded d = decode(message, options);
                if (d.error) {
                    (void)describe(*d.error);
                    (void)encode(*d.error);
                } else if (d.message && !std::holds_alternative<Update>(*d.message)) {
                    // Non-UPDATE messages re-encode to something that decodes again.
                    const auto again = encode(*d.message, options);
                    if (again.size() <= kMaxMessageSize && decode(again, options).error)
                        __builtin_trap();
                }
            }
        }
        stream = stream.subspan(frame.length);
    }
    return 0;
}
