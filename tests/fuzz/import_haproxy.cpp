// libFuzzer target for --import-haproxy: any bytes, read as an haproxy.cfg and as a
// bird.conf, come back as a translation or a FILE:LINE error, never as a crash, a hang
// or an escaping exception. (No -o: nothing is hashed or written.)
#include <cstddef>
#include <cstdint>
#include <string>

#include "contrail_lb/import/bird.hpp"
#include "contrail_lb/import/haproxy.hpp"
#include "contrail_lb/import/translate.hpp"

using namespace clb::import;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);

    auto haproxy = parse_haproxy(text, "fuzz.cfg");
    if (bool(haproxy.config) == bool(haproxy.error)) __builtin_trap();
    if (haproxy.error && (haproxy.error->line < 0 || haproxy.error->message.empty()))
        __builtin_trap();
    auto bird = parse_bird(text, "fuzz.conf");
    if (bool(bird.config) == bool(bird.error)) __builtin_trap();

    // The translation of a parsed file, with the same bytes as its bird.conf.
    ImportInput input{"fuzz.cfg", text, std::string("fuzz.conf"), text, ""};
    ImportResult result = translate(input);
    if (haproxy.config && !bird.error && result.error) __builtin_trap();
    if (!result.error && result.yaml.empty()) __builtin_trap();
    for (const auto& u : result.untranslated)
        (void)u.to_string();
    return 0;
}
