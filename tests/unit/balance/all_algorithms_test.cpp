// Properties every algorithm shares: empty sets, exclusion of tried backends, weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

class EveryAlgorithm : public ::testing::TestWithParam<config::Algorithm> {};

TEST_P(EveryAlgorithm, EmptyCandidatesPickNothing) {
    Pool empty;
    EXPECT_EQ(prepare(GetParam(), empty.cands()), nullptr);
    auto picker = empty.picker(GetParam());
    EXPECT_EQ(picker->pick(client(1), {}), -1);
    const uint32_t tried[] = {0};
    EXPECT_EQ(picker->pick(client(1), tried), -1);
}

TEST_P(EveryAlgorithm, WorksWithoutPreparedState) {
    Pool pool({1, 2, 3});
    auto picker = make_picker(GetParam(), pool.cands(), nullptr, 7);
    for (uint32_t i = 0; i < 100; ++i) {
        int chosen = picker->pick(client(i), {});
        EXPECT_GE(chosen, 0);
        EXPECT_LT(chosen, 3);
    }
}

TEST_P(EveryAlgorithm, SingleBackendTakesEverything) {
    Pool pool({5});
    auto picker = pool.picker(GetParam());
    for (uint32_t i = 0; i < 100; ++i)
        EXPECT_EQ(picker->pick(client(i), {}), 0);
}

TEST_P(EveryAlgorithm, RetryAvoidsTheBackendAlreadyTried) {
    Pool pool({1, 1, 2, 1, 3});
    auto picker = pool.picker(GetParam());
    for (uint32_t i = 0; i < 2000; ++i) {
        const uint32_t first = static_cast<uint32_t>(picker->pick(client(i), {}));
        const uint32_t tried[] = {first};
        int second = picker->pick(client(i), tried);
        ASSERT_GE(second, 0);
        EXPECT_NE(static_cast<uint32_t>(second), first);
    }
}

TEST_P(EveryAlgorithm, NeverPicksAnExcludedBackend) {
    Pool pool({3, 1, 1, 2, 1, 1, 4, 1});
    auto picker = pool.picker(GetParam());
    std::mt19937 rng(42);
    for (uint32_t i = 0; i < 5000; ++i) {
        std::vector<uint32_t> tried;
        for (uint32_t b = 0; b < pool.size(); ++b)
            if (rng() % 3 == 0) tried.push_back(b);
        int chosen = picker->pick(client(i), tried);
        if (tried.size() == pool.size()) {
            EXPECT_EQ(chosen, -1);
            continue;
        }
        ASSERT_GE(chosen, 0);
        EXPECT_EQ(std::count(tried.begin(), tried.end(), static_cast<uint32_t>(chosen)), 0);
    }
}

TEST_P(EveryAlgorithm, OnlyUntriedBackendIsChosen) {
    Pool pool({10, 1, 10, 10});
    auto picker = pool.picker(GetParam());
    const uint32_t tried[] = {3, 0, 2};
    for (uint32_t i = 0; i < 200; ++i)
        EXPECT_EQ(picker->pick(client(i), tried), 1);
}

TEST_P(EveryAlgorithm, AllExcludedPicksNothing) {
    Pool pool({1, 2, 3});
    auto picker = pool.picker(GetParam());
    const uint32_t tried[] = {2, 0, 1};
    const uint32_t tried_twice[] = {2, 2, 0, 0, 1};
    for (uint32_t i = 0; i < 50; ++i) {
        EXPECT_EQ(picker->pick(client(i), tried), -1);
        EXPECT_EQ(picker->pick(client(i), tried_twice), -1);
    }
}

// One pick of an algorithm where the load does not depend on earlier picks, except
// leastconn, which only sees weights through load: there each pick holds a connection
// for the next `concurrency` picks, as real requests overlap.
std::vector<int> count_picks(Pool& pool, config::Algorithm algo, int picks) {
    auto picker = pool.picker(algo, 1);
    std::vector<int> counts(pool.size(), 0);
    std::deque<int> open;
    const size_t concurrency = algo == config::Algorithm::leastconn ? 600 : 0;
    for (int i = 0; i < picks; ++i) {
        int chosen = picker->pick(client(static_cast<uint32_t>(i)), {});
        counts.at(chosen)++;
        if (concurrency == 0) continue;
        pool.active(chosen)++;
        open.push_back(chosen);
        if (open.size() > concurrency) {
            pool.active(open.front())--;
            open.pop_front();
        }
    }
    return counts;
}

TEST_P(EveryAlgorithm, TrafficFollowsWeights) {
    const std::vector<uint32_t> weights{1, 2, 3, 4, 2};
    Pool pool(weights);
    auto got = shares(count_picks(pool, GetParam(), 100000));
    auto want = weight_shares(weights);
    for (size_t i = 0; i < weights.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 0.1 * want[i]) << "backend " << i;
}

TEST_P(EveryAlgorithm, EqualWeightsShareEvenlyAcrossManyBackends) {
    Pool pool = Pool::uniform(64);
    auto got = shares(count_picks(pool, GetParam(), 200000));
    for (size_t i = 0; i < pool.size(); ++i)
        EXPECT_NEAR(got[i], 1.0 / 64, 0.2 / 64) << "backend " << i;
}

INSTANTIATE_TEST_SUITE_P(Balance, EveryAlgorithm, ::testing::ValuesIn(kAllAlgorithms),
                         [](const auto& info) { return name_of(info.param); });

}  // namespace
}  // namespace clb::balance::testing
