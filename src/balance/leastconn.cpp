// leastconn: the backend with the fewest in-flight connections per unit of weight.
// `active` is shared by all workers; relaxed loads are enough, as a slightly stale count
// only makes one pick slightly less than ideal.
//
// Ties (an idle service, equal loads) are broken round robin: the scan starts just after
// the previous winner and only a strictly lighter backend displaces the first seen, so
// equal loads spread evenly instead of piling onto index 0. Weights matter under
// concurrency, where a backend of weight 2 settles at twice the connections of weight 1.
//
// Complexity: O(n) relaxed loads per pick in the worst case (every backend busy), as in
// nginx: the counters are written by every worker and there is no hook on connection
// release to keep an ordered index. The scan stops at the first idle backend, which is
// the answer the full scan would give, so a service with idle backends pays for a few
// loads only. Each backend's counter sits in its own cache line, so the scan prefetches.
#include <numeric>

#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

// A counter that is never written, for candidates without one (tests, tools).
const std::atomic<int32_t> kNoConnections{0};
constexpr size_t kPrefetchDistance = 16;
// load / weight is compared as load * (lcm / weight), exact with one multiplication, while
// the product stays below 2^63 (loads are below 2^31); beyond, loads are cross-multiplied.
constexpr uint64_t kMaxLcm = uint64_t{1} << 31;

class LeastConnPicker final : public Picker {
  public:
    // Workers start their scans at different backends, so idle ties spread across workers.
    LeastConnPicker(std::span<const Candidate> cands, uint64_t seed)
        : start_(start_position(seed, cands.size())) {
        uint64_t lcm = 1;
        for (const auto& c : cands)
            if (lcm <= kMaxLcm) lcm = std::lcm(lcm, uint64_t{weight_of(c)});
        scaled_ = lcm <= kMaxLcm;
        for (const auto& c : cands) {
            int64_t scale = scaled_ ? static_cast<int64_t>(lcm / weight_of(c)) : 0;
            backends_.push_back({c.active ? c.active : &kNoConnections, weight_of(c), scale});
        }
    }

    int pick(uint64_t, std::span<const uint32_t> exclude) override {
        Best best;
        // From just after the previous winner to the end, then from the start.
        if (!scan(start_, backends_.size(), exclude, best)) scan(0, start_, exclude, best);
        if (best.index >= 0)
            start_ = static_cast<size_t>(best.index) + 1 == backends_.size() ? 0 : best.index + 1;
        return best.index;
    }

  private:
    struct Backend {
        const std::atomic<int32_t>* active;
        uint32_t weight;
        int64_t scale;  // lcm / weight
    };
    struct Best {
        int index = -1;
        int64_t load = 0;
        uint32_t weight = 1;
        int64_t scaled_load = 0;
    };

    bool scan(size_t from, size_t to, std::span<const uint32_t> exclude, Best& best) const {
        // The common case (a first attempt, small weights) compiles to a tight loop.
        if (exclude.empty())
            return scaled_ ? scan<false, true>(from, to, exclude, best)
                           : scan<false, false>(from, to, exclude, best);
        return scaled_ ? scan<true, true>(from, to, exclude, best)
                       : scan<true, false>(from, to, exclude, best);
    }

    // Scans [from, to); true when it found an idle backend (nothing can beat it).
    template <bool kCheckExclude, bool kScaled>
    bool scan(size_t from, size_t to, std::span<const uint32_t> exclude, Best& best) const {
        for (size_t i = from; i < to; ++i) {
            if (i + kPrefetchDistance < to)
                __builtin_prefetch(backends_[i + kPrefetchDistance].active);
            if (kCheckExclude && excluded(static_cast<uint32_t>(i), exclude)) continue;
            const Backend& b = backends_[i];
            int64_t load = b.active->load(std::memory_order_relaxed);
            bool better = kScaled ? load * b.scale < best.scaled_load
                                  : lighter(load, b.weight, best.load, best.weight);
            if (best.index < 0 || better) {
                best = {static_cast<int>(i), load, b.weight, load * b.scale};
                if (load <= 0) return true;
            }
        }
        return false;
    }

    std::vector<Backend> backends_;
    bool scaled_ = false;
    size_t start_;
};

}  // namespace

std::unique_ptr<Picker> leastconn_picker(std::span<const Candidate> cands, uint64_t seed) {
    return std::make_unique<LeastConnPicker>(cands, seed);
}

}  // namespace clb::balance::detail
