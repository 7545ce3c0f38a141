// random2: the power of two choices. Draw two distinct backends at random, in proportion
// to their weights, and take the one with fewer in-flight connections per unit of weight
// (the first drawn on a tie). With idle backends this is plain weighted random; under load
// it steers away from a slow backend without the herd effect of leastconn, where every
// worker's stale view points at the same "least loaded" backend.
//
// Complexity: two weighted draws, O(1) with equal weights, O(log n) otherwise.
#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

// Draws per choice before falling back to a scan: retries exclude a few backends at most,
// so a draw rarely misses twice, but a bound keeps a pick's cost fixed.
constexpr int kMaxDraws = 8;

class Random2Picker final : public Picker {
  public:
    Random2Picker(std::span<const Candidate> cands,
                  std::shared_ptr<const WeightedPrepared> prepared, uint64_t seed)
        : cands_(cands), prepared_(std::move(prepared)), rng_(seed) {}

    int pick(uint64_t, std::span<const uint32_t> exclude) override {
        int first = draw(exclude, -1);
        if (first < 0) {
            if (all_excluded(cands_.size(), exclude)) return -1;
            return next_allowed(static_cast<uint32_t>(rng_.next() % cands_.size()), cands_.size(),
                                exclude);
        }
        int second = draw(exclude, first);
        if (second < 0) second = neighbour(first, exclude);
        if (second < 0) return first;
        const Candidate& a = cands_[first];
        const Candidate& b = cands_[second];
        return lighter(load_of(b), weight_of(b), load_of(a), weight_of(a)) ? second : first;
    }

  private:
    // A weighted random backend that is neither excluded nor `other`, or -1.
    int draw(std::span<const uint32_t> exclude, int other) {
        for (int attempt = 0; attempt < kMaxDraws; ++attempt) {
            uint32_t index = prepared_->index.find(rng_.next());
            if (static_cast<int>(index) != other && !excluded(index, exclude))
                return static_cast<int>(index);
        }
        return -1;
    }

    // When the draws keep hitting `first` (two backends, or one much heavier than the
    // rest), the next untried backend after it still gives a comparison.
    int neighbour(int first, std::span<const uint32_t> exclude) const {
        for (size_t k = 1; k < cands_.size(); ++k) {
            auto index = static_cast<uint32_t>((first + k) % cands_.size());
            if (!excluded(index, exclude)) return static_cast<int>(index);
        }
        return -1;
    }

    std::span<const Candidate> cands_;
    std::shared_ptr<const WeightedPrepared> prepared_;
    Rng rng_;
};

}  // namespace

std::unique_ptr<Picker> random2_picker(std::span<const Candidate> cands,
                                       std::shared_ptr<const Prepared> prepared, uint64_t seed) {
    auto own = std::dynamic_pointer_cast<const WeightedPrepared>(prepared);
    if (!own || own->index.size() != cands.size())
        own = std::static_pointer_cast<const WeightedPrepared>(prepare_weighted(cands));
    return std::make_unique<Random2Picker>(cands, std::move(own), seed);
}

}  // namespace clb::balance::detail
