#include "balance/common.hpp"

namespace clb::balance::detail {

// Every column holds total_ points (n columns for n * total_ points in all); candidate i
// owns weight_i * n of them. Each underfull column is topped up from an overfull one,
// which becomes its alias.
WeightedIndex::WeightedIndex(std::span<const Candidate> cands) {
    const uint64_t n = cands.size();
    std::vector<uint64_t> points;
    for (const auto& c : cands) {
        points.push_back(uint64_t{weight_of(c)} * n);
        total_ += weight_of(c);
    }
    std::vector<uint32_t> under, over;
    for (uint32_t i = 0; i < n; ++i)
        (points[i] < total_ ? under : over).push_back(i);
    columns_.resize(n);
    while (!under.empty() && !over.empty()) {
        uint32_t small = under.back();
        uint32_t large = over.back();
        under.pop_back();
        columns_[small] = {points[small], small, large};
        points[large] -= total_ - points[small];
        if (points[large] < total_) {
            over.pop_back();
            under.push_back(large);
        }
    }
    // Whatever is left holds exactly total_ points (integer arithmetic: no rounding).
    for (uint32_t i : under)
        columns_[i] = {total_, i, i};
    for (uint32_t i : over)
        columns_[i] = {total_, i, i};
}

std::shared_ptr<const Prepared> prepare_weighted(std::span<const Candidate> cands) {
    return std::make_shared<WeightedPrepared>(cands);
}

}  // namespace clb::balance::detail
