#include <gtest/gtest.h>

#include <random>
#include <set>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

std::vector<int> sequence(Pool& pool, size_t length, uint64_t seed = 0) {
    auto picker = pool.picker(config::Algorithm::roundrobin, seed);
    std::vector<int> out;
    for (size_t i = 0; i < length; ++i)
        out.push_back(picker->pick(0, {}));
    return out;
}

TEST(RoundRobin, EqualWeightsRotate) {
    Pool pool = Pool::uniform(3);
    EXPECT_EQ(sequence(pool, 7), (std::vector<int>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RoundRobin, SeedOnlyShiftsTheStart) {
    Pool pool = Pool::uniform(3);
    for (uint64_t seed = 1; seed < 20; ++seed) {
        auto seq = sequence(pool, 6, seed);
        for (size_t k = 1; k < seq.size(); ++k)
            EXPECT_EQ(seq[k], (seq[0] + k) % 3);
    }
}

TEST(RoundRobin, WorkersStartAtDifferentPoints) {
    // The proxy seeds each worker's picker with (worker id << 32) ^ generation: with a
    // power-of-two number of backends the low bits alone would all be equal.
    Pool pool = Pool::uniform(4);
    std::set<int> first_picks;
    for (uint64_t worker = 0; worker < 8; ++worker)
        first_picks.insert(sequence(pool, 1, (worker << 32) ^ 5)[0]);
    EXPECT_GE(first_picks.size(), 3u);
}

TEST(RoundRobin, SmoothInterleavingThreeToOne) {
    Pool pool({3, 1});
    EXPECT_EQ(sequence(pool, 8), (std::vector<int>{0, 0, 1, 0, 0, 0, 1, 0}));
}

TEST(RoundRobin, SmoothInterleavingLikeNginx) {
    // nginx's documented example: weights 5, 1, 1 give a a b a c a a.
    Pool pool({5, 1, 1});
    EXPECT_EQ(sequence(pool, 7), (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(RoundRobin, CommonFactorOfWeightsDoesNotMatter) {
    Pool small({3, 1});
    Pool large({300, 100});
    EXPECT_EQ(sequence(small, 40), sequence(large, 40));
}

// Over one period (the sum of the weights) smooth round robin is exact.
void expect_exact_period(const std::vector<uint32_t>& weights) {
    Pool pool(weights);
    uint64_t period = 0;
    for (uint32_t w : weights)
        period += w;
    std::vector<uint64_t> counts(weights.size(), 0);
    for (int chosen : sequence(pool, period, 12345))
        counts.at(chosen)++;
    for (size_t i = 0; i < weights.size(); ++i)
        EXPECT_EQ(counts[i], weights[i]) << "backend " << i;
}

TEST(RoundRobin, ExactSharesOverOnePeriod) {
    expect_exact_period({4, 1, 7, 2, 2, 9});
}

// Weights 1..9 over 1024 backends: a period of 5116 picks, tabulated in prepare().
std::vector<uint32_t> many_tabulated() {
    std::vector<uint32_t> weights;
    for (uint32_t i = 0; i < 1024; ++i)
        weights.push_back(1 + i % 9);
    return weights;
}

// Weights 1..200 over 1024 backends: too long a period to tabulate, so each pick runs
// the loop over the 200 weight classes.
std::vector<uint32_t> many_live() {
    std::vector<uint32_t> weights;
    for (uint32_t i = 0; i < 1024; ++i)
        weights.push_back(1 + (i * 7) % 200);
    return weights;
}

TEST(RoundRobin, ExactSharesOverOnePeriodWhenTabulated) {
    expect_exact_period(many_tabulated());
}

TEST(RoundRobin, ExactSharesOverOnePeriodWhenComputedLive) {
    expect_exact_period(many_live());
}

// nginx's loop, written plainly, as the reference for both implementations.
std::vector<int> reference_sequence(const std::vector<uint32_t>& weights, size_t length) {
    std::vector<int64_t> current(weights.size(), 0);
    int64_t total = 0;
    for (uint32_t w : weights)
        total += w;
    std::vector<int> out;
    for (size_t step = 0; step < length; ++step) {
        size_t best = 0;
        for (size_t i = 0; i < weights.size(); ++i) {
            current[i] += weights[i];
            if (current[i] > current[best]) best = i;
        }
        current[best] -= total;
        out.push_back(static_cast<int>(best));
    }
    return out;
}

TEST(RoundRobin, TabulatedSequenceIsNginxSequence) {
    const std::vector<uint32_t> weights{4, 1, 7, 2, 2, 9, 3};
    Pool pool(weights);
    EXPECT_EQ(sequence(pool, 200), reference_sequence(weights, 200));
    Pool many(many_tabulated());
    EXPECT_EQ(sequence(many, 6000), reference_sequence(many_tabulated(), 6000));
}

TEST(RoundRobin, LiveSequenceIsNginxSequence) {
    Pool pool(many_live());
    EXPECT_EQ(sequence(pool, 3000), reference_sequence(many_live(), 3000));
}

TEST(RoundRobin, RandomWeightSetsFollowNginxSequence) {
    // Equal weights in any arrangement, ties between classes included.
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
        std::vector<uint32_t> weights(1 + rng() % 12);
        for (auto& w : weights)
            w = 1 + rng() % 5;
        Pool pool(weights);
        EXPECT_EQ(sequence(pool, 300), reference_sequence(weights, 300)) << "round " << round;
    }
}

TEST(RoundRobin, RetryMovesOnWithoutLosingTheRotation) {
    Pool pool = Pool::uniform(4);
    auto picker = pool.picker(config::Algorithm::roundrobin);
    EXPECT_EQ(picker->pick(0, {}), 0);
    const uint32_t tried[] = {1};
    EXPECT_EQ(picker->pick(0, tried), 2);
    EXPECT_EQ(picker->pick(0, {}), 3);
    EXPECT_EQ(picker->pick(0, {}), 0);
}

}  // namespace
}  // namespace clb::balance::testing
