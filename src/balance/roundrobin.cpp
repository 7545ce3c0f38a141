// roundrobin: smooth weighted round robin, as nginx does it. Each pick adds every
// backend's weight to its `current`, takes the largest and subtracts the total weight
// from the winner, so a 5:1:1 set goes a a b a c a a rather than a a a a a b c.
//
// Complexity. The sequence is periodic (period = sum of weights / their gcd), so
// prepare() computes one period per snapshot and a pick is O(1): read schedule[pos] and
// advance. Equal weights need no table at all (the sequence is 0, 1, 2, ...). When one
// period would cost too much to compute (many backends with uneven weights: period * n
// above kMaxScheduleWork), each picker runs nginx's O(n) loop instead.
#include <numeric>

#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

constexpr uint64_t kMaxScheduleWork = uint64_t{1} << 22;
// On a retry, how far to follow the schedule for an untried backend before scanning.
constexpr size_t kMaxScheduleSkips = 64;

struct RoundRobinPrepared final : Prepared {
    enum class Mode { rotation, schedule, live };
    size_t backends = 0;
    Mode mode = Mode::rotation;
    std::vector<uint32_t> schedule;  // one period, Mode::schedule only
};

// One period of the smooth sequence over weights already divided by their gcd.
std::vector<uint32_t> smooth_schedule(const std::vector<uint64_t>& weights, uint64_t period) {
    std::vector<int64_t> current(weights.size(), 0);
    std::vector<uint32_t> schedule;
    schedule.reserve(period);
    for (uint64_t step = 0; step < period; ++step) {
        size_t best = 0;
        for (size_t i = 0; i < weights.size(); ++i) {
            current[i] += static_cast<int64_t>(weights[i]);
            if (current[i] > current[best]) best = i;
        }
        current[best] -= static_cast<int64_t>(period);
        schedule.push_back(static_cast<uint32_t>(best));
    }
    return schedule;
}

class RoundRobinPicker final : public Picker {
  public:
    RoundRobinPicker(std::span<const Candidate> cands,
                     std::shared_ptr<const RoundRobinPrepared> prepared, uint64_t seed)
        : cands_(cands), prepared_(std::move(prepared)) {
        // Workers start at different points so that a new snapshot does not send every
        // worker's first request to the same backend.
        if (prepared_->mode == RoundRobinPrepared::Mode::rotation) pos_ = seed % cands_.size();
        if (prepared_->mode == RoundRobinPrepared::Mode::schedule)
            pos_ = seed % prepared_->schedule.size();
        if (prepared_->mode == RoundRobinPrepared::Mode::live) current_.assign(cands_.size(), 0);
    }

    int pick(uint64_t, std::span<const uint32_t> exclude) override {
        switch (prepared_->mode) {
            case RoundRobinPrepared::Mode::rotation:
                return pick_rotation(exclude);
            case RoundRobinPrepared::Mode::schedule:
                return pick_schedule(exclude);
            case RoundRobinPrepared::Mode::live:
                return pick_live(exclude);
        }
        return -1;
    }

  private:
    int pick_rotation(std::span<const uint32_t> exclude) {
        int chosen = static_cast<int>(pos_);
        if (excluded(pos_, exclude)) chosen = next_allowed(pos_, cands_.size(), exclude);
        if (chosen < 0) return -1;
        pos_ = static_cast<size_t>(chosen) + 1 == cands_.size() ? 0 : chosen + 1;
        return chosen;
    }

    int pick_schedule(std::span<const uint32_t> exclude) {
        const auto& schedule = prepared_->schedule;
        uint32_t natural = schedule[pos_];
        for (size_t skips = 0; skips < kMaxScheduleSkips; ++skips) {
            uint32_t index = schedule[pos_];
            if (++pos_ == schedule.size()) pos_ = 0;
            if (!excluded(index, exclude)) return static_cast<int>(index);
            if (skips == 0 && all_excluded(cands_.size(), exclude)) return -1;
        }
        return next_allowed(natural, cands_.size(), exclude);
    }

    // nginx's loop; backends already tried sit the round out, as in nginx.
    int pick_live(std::span<const uint32_t> exclude) {
        int best = -1;
        int64_t total = 0;
        for (uint32_t i = 0; i < cands_.size(); ++i) {
            if (excluded(i, exclude)) continue;
            int64_t weight = weight_of(cands_[i]);
            current_[i] += weight;
            total += weight;
            if (best < 0 || current_[i] > current_[best]) best = static_cast<int>(i);
        }
        if (best >= 0) current_[best] -= total;
        return best;
    }

    std::span<const Candidate> cands_;
    std::shared_ptr<const RoundRobinPrepared> prepared_;
    size_t pos_ = 0;
    std::vector<int64_t> current_;  // Mode::live only
};

}  // namespace

std::shared_ptr<const Prepared> prepare_roundrobin(std::span<const Candidate> cands) {
    auto prepared = std::make_shared<RoundRobinPrepared>();
    prepared->backends = cands.size();
    uint64_t gcd = 0;
    for (const auto& c : cands)
        gcd = std::gcd(gcd, uint64_t{weight_of(c)});
    std::vector<uint64_t> weights;
    uint64_t period = 0;
    for (const auto& c : cands) {
        weights.push_back(weight_of(c) / gcd);
        period += weights.back();
    }
    if (period == cands.size()) {
        prepared->mode = RoundRobinPrepared::Mode::rotation;
    } else if (period <= kMaxScheduleWork / cands.size()) {
        prepared->mode = RoundRobinPrepared::Mode::schedule;
        prepared->schedule = smooth_schedule(weights, period);
    } else {
        prepared->mode = RoundRobinPrepared::Mode::live;
    }
    return prepared;
}

std::unique_ptr<Picker> roundrobin_picker(std::span<const Candidate> cands,
                                          std::shared_ptr<const Prepared> prepared, uint64_t seed) {
    auto own = std::dynamic_pointer_cast<const RoundRobinPrepared>(prepared);
    if (!own || own->backends != cands.size())
        own = std::static_pointer_cast<const RoundRobinPrepared>(prepare_roundrobin(cands));
    return std::make_unique<RoundRobinPicker>(cands, std::move(own), seed);
}

}  // namespace clb::balance::detail
