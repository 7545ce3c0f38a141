#include "balance/common.hpp"

namespace clb::balance::detail {

WeightedIndex::WeightedIndex(std::span<const Candidate> cands) : count_(cands.size()) {
    running_sum_.reserve(cands.size());
    for (const auto& c : cands) {
        uint32_t weight = weight_of(c);
        if (weight != weight_of(cands.front())) uniform_ = false;
        total_ += weight;
        running_sum_.push_back(total_);
    }
}

uint32_t WeightedIndex::find(uint64_t r) const {
    if (uniform_) return static_cast<uint32_t>(scale(r, count_));
    // The first backend whose running sum passes the point: backend i owns weight_i points.
    uint64_t point = scale(r, total_);
    auto it = std::upper_bound(running_sum_.begin(), running_sum_.end(), point);
    return static_cast<uint32_t>(it - running_sum_.begin());
}

std::shared_ptr<const Prepared> prepare_weighted(std::span<const Candidate> cands) {
    return std::make_shared<WeightedPrepared>(cands);
}

}  // namespace clb::balance::detail
