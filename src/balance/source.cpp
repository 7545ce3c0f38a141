// source: the client address picks the backend, in proportion to the weights, so a
// client keeps its backend as long as the set of eligible backends stays the same.
// Like HAProxy's map-based `balance source`, a change of the set moves most clients;
// `maglev` moves only the clients of the backend that came or went.
//
// Complexity: O(1) with equal weights, O(log n) otherwise.
#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

// On a retry, rehash this many times before scanning for an untried backend.
constexpr uint64_t kMaxRehashes = 8;

class SourcePicker final : public Picker {
  public:
    SourcePicker(std::span<const Candidate> cands, std::shared_ptr<const WeightedPrepared> prepared)
        : cands_(cands), prepared_(std::move(prepared)) {}

    int pick(uint64_t client_hash, std::span<const uint32_t> exclude) override {
        uint32_t natural = prepared_->index.find(client_hash);
        if (!excluded(natural, exclude)) return static_cast<int>(natural);
        if (all_excluded(cands_.size(), exclude)) return -1;
        // The same client retries along the same sequence of backends: deterministic,
        // and still weighted.
        for (uint64_t k = 1; k <= kMaxRehashes; ++k) {
            uint32_t index = prepared_->index.find(mix64(client_hash + k * kGolden));
            if (!excluded(index, exclude)) return static_cast<int>(index);
        }
        return next_allowed(natural, cands_.size(), exclude);
    }

  private:
    std::span<const Candidate> cands_;
    std::shared_ptr<const WeightedPrepared> prepared_;
};

}  // namespace

std::unique_ptr<Picker> source_picker(std::span<const Candidate> cands,
                                      std::shared_ptr<const Prepared> prepared) {
    auto own = std::dynamic_pointer_cast<const WeightedPrepared>(prepared);
    if (!own || own->index.size() != cands.size())
        own = std::static_pointer_cast<const WeightedPrepared>(prepare_weighted(cands));
    return std::make_unique<SourcePicker>(cands, std::move(own));
}

}  // namespace clb::balance::detail
