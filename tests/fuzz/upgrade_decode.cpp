// libFuzzer target for the hand-over decoder: whatever the other process sends, decode
// either refuses it with a reason or returns a message whose state re-encodes to a
// document that decodes again to the same shape.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "contrail_lb/upgrade/messages.hpp"

using namespace clb::upgrade;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto message = decode(text, error);
    if (!message) {
        if (error.empty()) __builtin_trap();  // a refusal always says why
        return 0;
    }
    if (message->type == MessageType::state) {
        std::string again_error;
        auto again = decode(encode_state(message->state), again_error);
        if (!again || again->state.fd_count() != message->state.fd_count() ||
            again->state.backends.size() != message->state.backends.size())
            __builtin_trap();
    }
    return 0;
}
