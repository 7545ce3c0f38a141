// roundrobin: smooth weighted round robin, as nginx does it. Each pick adds every
// backend's weight to its `current`, takes the largest (the lowest index on a tie) and
// subtracts the total weight from the winner, so a 5:1:1 set goes a a b a c a a rather
// than a a a a a b c, and over one period (the sum of the weights) each backend is
// picked exactly `weight` times.
//
// Complexity. Backends of equal weight are interchangeable in that loop: their `current`
// values rise together and differ only by whole totals, so they are picked in index
// order, one member per turn of their weight. The loop therefore runs over the K
// distinct weights, not the n backends: O(K) per pick, O(1) when all weights are equal.
// When several weights mix and one period is short enough, prepare() tabulates the
// period once per snapshot and a pick is O(1) whatever K.
#include <map>
#include <numeric>

#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

// Tabulate a period only up to this many entries (4 bytes each) and this build cost.
constexpr uint64_t kMaxPeriod = uint64_t{1} << 16;
constexpr uint64_t kMaxScheduleWork = uint64_t{1} << 22;
// On a retry, how far to follow the sequence for an untried backend before scanning.
constexpr size_t kMaxSkips = 64;

struct WeightClass {
    int64_t weight;                 // divided by the gcd of all weights
    std::vector<uint32_t> members;  // candidate indexes, ascending
};

struct RoundRobinPrepared final : Prepared {
    size_t backends = 0;
    int64_t total = 0;  // sum of the reduced weights: the period
    std::vector<WeightClass> classes;
    std::vector<uint32_t> schedule;  // one period, or empty: computed pick by pick
};

// nginx's loop over weight classes. Each class keeps the `current` of its next member
// (`cursor`); members already picked in this turn of the class sit one total lower.
class SmoothSequence {
  public:
    SmoothSequence(const RoundRobinPrepared& rr, uint64_t seed) : rr_(rr) {
        for (const auto& c : rr.classes)
            state_.push_back({0, static_cast<uint32_t>(start_position(seed, c.members.size())), 0});
    }

    uint32_t next() {
        size_t best = 0;
        for (size_t k = 0; k < state_.size(); ++k) {
            state_[k].current += rr_.classes[k].weight;
            if (k > 0 && beats(k, best)) best = k;
        }
        ClassState& s = state_[best];
        const auto& members = rr_.classes[best].members;
        uint32_t chosen = members[s.cursor];
        if (++s.cursor == members.size()) s.cursor = 0;
        if (++s.picked == members.size()) {  // every member had its turn
            s.picked = 0;
            s.current -= rr_.total;
        }
        return chosen;
    }

  private:
    struct ClassState {
        int64_t current;
        uint32_t cursor;
        uint32_t picked;  // members picked in this turn
    };

    bool beats(size_t a, size_t b) const {
        if (state_[a].current != state_[b].current) return state_[a].current > state_[b].current;
        return member(a) < member(b);
    }
    uint32_t member(size_t k) const { return rr_.classes[k].members[state_[k].cursor]; }

    const RoundRobinPrepared& rr_;
    std::vector<ClassState> state_;
};

class RoundRobinPicker final : public Picker {
  public:
    // Workers start at different points (`seed`) so that a new snapshot does not send
    // every worker's first request to the same backend.
    RoundRobinPicker(std::span<const Candidate> cands,
                     std::shared_ptr<const RoundRobinPrepared> prepared, uint64_t seed)
        : cands_(cands), prepared_(std::move(prepared)), sequence_(*prepared_, seed) {
        if (!prepared_->schedule.empty()) pos_ = start_position(seed, prepared_->schedule.size());
    }

    int pick(uint64_t, std::span<const uint32_t> exclude) override {
        uint32_t natural = next();
        if (!excluded(natural, exclude)) return static_cast<int>(natural);
        if (all_excluded(cands_.size(), exclude)) return -1;
        // Backends already tried sit their turn out, as in nginx.
        for (size_t skips = 0; skips < kMaxSkips; ++skips) {
            uint32_t index = next();
            if (!excluded(index, exclude)) return static_cast<int>(index);
        }
        return next_allowed(natural, cands_.size(), exclude);
    }

  private:
    uint32_t next() {
        const auto& schedule = prepared_->schedule;
        if (schedule.empty()) return sequence_.next();
        uint32_t index = schedule[pos_];
        if (++pos_ == schedule.size()) pos_ = 0;
        return index;
    }

    std::span<const Candidate> cands_;
    std::shared_ptr<const RoundRobinPrepared> prepared_;
    SmoothSequence sequence_;  // unused when tabulated
    size_t pos_ = 0;
};

}  // namespace

std::shared_ptr<const Prepared> prepare_roundrobin(std::span<const Candidate> cands) {
    auto rr = std::make_shared<RoundRobinPrepared>();
    rr->backends = cands.size();
    uint64_t gcd = 0;
    for (const auto& c : cands)
        gcd = std::gcd(gcd, uint64_t{weight_of(c)});
    std::map<int64_t, std::vector<uint32_t>> by_weight;
    for (uint32_t i = 0; i < cands.size(); ++i) {
        auto weight = static_cast<int64_t>(weight_of(cands[i]) / gcd);
        by_weight[weight].push_back(i);
        rr->total += weight;
    }
    for (auto& [weight, members] : by_weight)
        rr->classes.push_back({weight, std::move(members)});

    const auto period = static_cast<uint64_t>(rr->total);
    if (rr->classes.size() > 1 && period <= kMaxPeriod &&
        period * rr->classes.size() <= kMaxScheduleWork) {
        SmoothSequence sequence(*rr, 0);
        rr->schedule.reserve(period);
        for (uint64_t i = 0; i < period; ++i)
            rr->schedule.push_back(sequence.next());
    }
    return rr;
}

std::unique_ptr<Picker> roundrobin_picker(std::span<const Candidate> cands,
                                          std::shared_ptr<const Prepared> prepared, uint64_t seed) {
    auto own = std::dynamic_pointer_cast<const RoundRobinPrepared>(prepared);
    if (!own || own->backends != cands.size())
        own = std::static_pointer_cast<const RoundRobinPrepared>(prepare_roundrobin(cands));
    return std::make_unique<RoundRobinPicker>(cands, std::move(own), seed);
}

}  // namespace clb::balance::detail
