// Pieces shared by the balancing algorithms: hash mixing, a small PRNG, weighted lookup
// and the handling of `exclude` (backends already tried for this request).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "contrail_lb/balance/balancer.hpp"

namespace clb::balance::detail {

// MurmurHash3's 64-bit finaliser: every input bit flips about half the output bits.
constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

inline constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

// Maps a uniform 64-bit value onto [0, n) without a division (Lemire's multiply-high).
inline uint64_t scale(uint64_t r, uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

// SplitMix64: one add and one mix per number; plenty for picking backends.
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(mix64(seed ^ kGolden)) {}
    uint64_t next() { return mix64(state_ += kGolden); }

  private:
    uint64_t state_;
};

// Where a worker's picker starts its rotation. Workers' seeds may differ only in their
// high bits (worker id << 32), so they are mixed; seed 0 still starts at 0.
inline uint64_t start_position(uint64_t seed, size_t n) {
    return mix64(seed) % n;
}

inline uint32_t weight_of(const Candidate& c) {
    return std::max<uint32_t>(c.weight, 1);
}

inline int64_t load_of(const Candidate& c) {
    return c.active ? std::max(0, c.active->load(std::memory_order_relaxed)) : 0;
}

// True when a carries less load per unit of weight than b: a.load/a.w < b.load/b.w,
// cross-multiplied to stay exact in integers.
inline bool lighter(int64_t load_a, uint32_t weight_a, int64_t load_b, uint32_t weight_b) {
    return load_a * static_cast<int64_t>(weight_b) < load_b * static_cast<int64_t>(weight_a);
}

// `exclude` is a handful of indexes at most (retries), so a linear scan wins.
inline bool excluded(uint32_t index, std::span<const uint32_t> exclude) {
    return std::find(exclude.begin(), exclude.end(), index) != exclude.end();
}

inline bool all_excluded(size_t n, std::span<const uint32_t> exclude) {
    if (exclude.size() < n) return false;  // pigeonhole: some index is left
    for (uint32_t i = 0; i < n; ++i)
        if (!excluded(i, exclude)) return false;
    return true;
}

// The first index at or after `start` (cyclically) that is not excluded, or -1.
inline int next_allowed(uint32_t start, size_t n, std::span<const uint32_t> exclude) {
    for (size_t k = 0; k < n; ++k) {
        uint32_t i = static_cast<uint32_t>((start + k) % n);
        if (!excluded(i, exclude)) return static_cast<int>(i);
    }
    return -1;
}

// Weighted choice of a candidate from a uniform 64-bit value in O(1) (Vose's alias
// method, in integers so the shares are exact): the value picks a column, its remaining
// bits decide between the column's own candidate and its alias.
class WeightedIndex {
  public:
    explicit WeightedIndex(std::span<const Candidate> cands);
    uint32_t find(uint64_t r) const {
        auto product = static_cast<unsigned __int128>(r) * columns_.size();
        const Column& column = columns_[static_cast<size_t>(product >> 64)];
        uint64_t point = scale(static_cast<uint64_t>(product), total_);  // the bits left
        return point < column.threshold ? column.own : column.alias;
    }
    size_t size() const { return columns_.size(); }

  private:
    struct Column {
        uint64_t threshold;  // of total_: below it the column's own candidate
        uint32_t own;
        uint32_t alias;
    };
    uint64_t total_ = 0;  // sum of the weights
    std::vector<Column> columns_;
};

// The immutable part of random2 and source: the weighted index over the candidates.
struct WeightedPrepared final : Prepared {
    explicit WeightedPrepared(std::span<const Candidate> cands) : index(cands) {}
    WeightedIndex index;
};

// Per-algorithm constructors behind prepare() and make_picker().
std::shared_ptr<const Prepared> prepare_roundrobin(std::span<const Candidate> cands);
std::shared_ptr<const Prepared> prepare_weighted(std::span<const Candidate> cands);
std::shared_ptr<const Prepared> prepare_maglev(std::span<const Candidate> cands);

std::unique_ptr<Picker> roundrobin_picker(std::span<const Candidate> cands,
                                          std::shared_ptr<const Prepared> prepared, uint64_t seed);
std::unique_ptr<Picker> leastconn_picker(std::span<const Candidate> cands, uint64_t seed);
std::unique_ptr<Picker> random2_picker(std::span<const Candidate> cands,
                                       std::shared_ptr<const Prepared> prepared, uint64_t seed);
std::unique_ptr<Picker> source_picker(std::span<const Candidate> cands,
                                      std::shared_ptr<const Prepared> prepared);
std::unique_ptr<Picker> maglev_picker(std::span<const Candidate> cands,
                                      std::shared_ptr<const Prepared> prepared);

}  // namespace clb::balance::detail
