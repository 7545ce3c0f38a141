// libFuzzer target: the BFD Control packet decoder (RFC 5880 §4.1, §6.8.6). Every input
// either decodes to a packet that re-encodes to the same first 24 bytes, or names a cause.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "contrail_lb/bfd/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace clb::bfd;
    const Decoded d = decode(std::span<const uint8_t>(data, size));
    if (!d.packet) {
        if (static_cast<size_t>(d.drop) >= kDropCauses) std::abort();
        return 0;
    }
    const auto again = encode(*d.packet);
    // The Length field is rewritten to 24 (we never send authentication); all else matches.
    if (std::memcmp(again.data(), data, 3) != 0 || std::memcmp(again.data() + 4, data + 4, 20) != 0)
        std::abort();
    return 0;
}
