// leastconn: the backend with the fewest in-flight connections per unit of weight.
// `active` is shared by all workers; relaxed loads are enough, as a slightly stale count
// only makes one pick slightly less than ideal.
//
// Ties (an idle service, equal loads) are broken round robin: the scan starts just after
// the previous winner and only a strictly lighter backend displaces the first seen, so
// equal loads spread evenly instead of piling onto index 0. Weights matter under
// concurrency, where a backend of weight 2 settles at twice the connections of weight 1.
//
// Complexity: O(n) relaxed loads per pick in the worst case (every backend busy): the
// counters are written by every worker and there is no hook on connection release to
// keep an ordered index. The scan stops at the first idle backend, which is the answer
// the full scan would give, so a service with idle backends pays for a few loads only.
#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

class LeastConnPicker final : public Picker {
  public:
    // Workers start their scans at different backends, so idle ties spread across workers.
    LeastConnPicker(std::span<const Candidate> cands, uint64_t seed)
        : cands_(cands), start_(seed % cands.size()) {}

    int pick(uint64_t, std::span<const uint32_t> exclude) override {
        const size_t n = cands_.size();
        int best = -1;
        int64_t best_load = 0;
        uint32_t best_weight = 1;
        size_t i = start_;
        for (size_t k = 0; k < n; ++k, i = i + 1 == n ? 0 : i + 1) {
            if (excluded(static_cast<uint32_t>(i), exclude)) continue;
            int64_t load = load_of(cands_[i]);
            uint32_t weight = weight_of(cands_[i]);
            if (best < 0 || lighter(load, weight, best_load, best_weight)) {
                best = static_cast<int>(i);
                best_load = load;
                best_weight = weight;
                if (load == 0) break;  // nothing after it can be strictly lighter
            }
        }
        if (best >= 0) start_ = static_cast<size_t>(best) + 1 == n ? 0 : best + 1;
        return best;
    }

  private:
    std::span<const Candidate> cands_;
    size_t start_;
};

}  // namespace

std::unique_ptr<Picker> leastconn_picker(std::span<const Candidate> cands, uint64_t seed) {
    return std::make_unique<LeastConnPicker>(cands, seed);
}

}  // namespace clb::balance::detail
