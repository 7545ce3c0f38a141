// State shared by all worker threads of one clb-test-backend process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace clb_test {

// POST /admin/garbage and /admin/surplus make every later answer (but /health and
// /admin/*) misbehave, until POST /admin/recover: the soak's faulty backend.
enum class Misbehaviour { None, Garbage, Surplus };

struct SharedState {
    std::string name;
    std::string hello;                              // "hello from NAME\n"
    std::atomic<uint64_t> connections_accepted{0};  // also the source of X-Conn-Id
    std::atomic<uint64_t> connections_open{0};
    std::atomic<uint64_t> requests{0};
    // /delay requests waiting on their timer, and the most there ever were at once: what
    // a per-backend connection limit in front of this backend lets through.
    std::atomic<uint64_t> delays_now{0};
    std::atomic<uint64_t> delays_max{0};
    void delay_started() {
        uint64_t now = delays_now.fetch_add(1, std::memory_order_relaxed) + 1;
        uint64_t max = delays_max.load(std::memory_order_relaxed);
        while (now > max && !delays_max.compare_exchange_weak(max, now)) {
        }
    }
    std::atomic<bool> health_failing{false};  // POST /admin/fail and /admin/recover
    std::atomic<Misbehaviour> misbehaviour{Misbehaviour::None};
};

// Generated bodies (/bytes, /chunked) are byte i = 'a' + i % 26. The pattern repeats
// every 26 bytes, so any slice of a body is a pointer into this one read-only buffer:
// streaming a gigabyte needs no copying and no memory beyond it.
inline constexpr size_t kBodySliceMax = 256 * 1024;

inline const char* body_pattern_at(uint64_t offset) {
    static const std::vector<char> pattern = [] {
        std::vector<char> bytes(kBodySliceMax + 26);
        for (size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = static_cast<char>('a' + i % 26);
        return bytes;
    }();
    return pattern.data() + offset % 26;
}

}  // namespace clb_test
