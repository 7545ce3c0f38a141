// libFuzzer target for the configuration loader: any bytes must come back as a config or as
// positioned errors, never as a crash, a hang or an escaping exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "contrail_lb/config/config.hpp"

using namespace clb::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);

    LoadResult result = load_string(text, "fuzz.yaml");
    if (result.ok() != (result.config != nullptr)) __builtin_trap();
    for (const Error& e : result.errors) {
        if (e.line < 0 || e.column < 0 || e.message.empty()) __builtin_trap();
        (void)e.to_string();
    }
    if (result.config && result.config->services.empty()) __builtin_trap();

    // Durations print back to what they parse from.
    if (size < 64) {
        if (auto d = parse_duration(text)) {
            if (parse_duration(format_duration(*d)) != d) __builtin_trap();
        }
    }
    return 0;
}
