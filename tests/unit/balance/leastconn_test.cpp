#include <gtest/gtest.h>

#include <set>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

TEST(LeastConn, PrefersTheLeastLoaded) {
    Pool pool = Pool::uniform(3);
    pool.active(0) = 5;
    pool.active(1) = 2;
    pool.active(2) = 7;
    auto picker = pool.picker(config::Algorithm::leastconn);
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(picker->pick(0, {}), 1);
}

TEST(LeastConn, LoadIsMeasuredPerUnitOfWeight) {
    Pool pool({1, 2});
    pool.active(0) = 4;
    pool.active(1) = 6;  // 6/2 = 3 < 4/1
    auto picker = pool.picker(config::Algorithm::leastconn);
    EXPECT_EQ(picker->pick(0, {}), 1);
    pool.active(1) = 10;  // 10/2 = 5 > 4/1
    EXPECT_EQ(picker->pick(0, {}), 0);
}

TEST(LeastConn, EqualLoadsAreSpreadRoundRobin) {
    Pool pool = Pool::uniform(5);
    auto picker = pool.picker(config::Algorithm::leastconn);
    std::vector<int> seq;
    for (int i = 0; i < 10; ++i)
        seq.push_back(picker->pick(0, {}));
    EXPECT_EQ(seq, (std::vector<int>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}));
}

TEST(LeastConn, TiesAmongTheLightestRotate) {
    Pool pool = Pool::uniform(4);
    pool.active(1) = 9;
    auto picker = pool.picker(config::Algorithm::leastconn);
    std::vector<int> seq;
    for (int i = 0; i < 6; ++i)
        seq.push_back(picker->pick(0, {}));
    EXPECT_EQ(seq, (std::vector<int>{0, 2, 3, 0, 2, 3}));
}

TEST(LeastConn, WorkersStartAtDifferentBackends) {
    Pool pool = Pool::uniform(8);
    std::set<int> first_picks;
    for (uint64_t worker = 0; worker < 8; ++worker) {
        auto picker = pool.picker(config::Algorithm::leastconn, (worker << 32) ^ 5);
        first_picks.insert(picker->pick(0, {}));
    }
    EXPECT_GE(first_picks.size(), 4u);
}

TEST(LeastConn, FillsUpIdleBackendFirst) {
    // A backend that just came back UP with no connections gets the new ones until it
    // catches up, then the load evens out.
    Pool pool = Pool::uniform(3);
    pool.active(0) = 10;
    pool.active(1) = 10;
    auto picker = pool.picker(config::Algorithm::leastconn);
    for (int i = 0; i < 10; ++i) {
        int chosen = picker->pick(0, {});
        EXPECT_EQ(chosen, 2);
        pool.active(chosen)++;
    }
}

TEST(LeastConn, CandidatesWithoutCountersCountAsIdle) {
    std::vector<Candidate> cands(3);
    auto picker = make_picker(config::Algorithm::leastconn, cands, nullptr, 0);
    EXPECT_EQ(picker->pick(0, {}), 0);
    EXPECT_EQ(picker->pick(0, {}), 1);
}

}  // namespace
}  // namespace clb::balance::testing

namespace clb::balance::testing {
namespace {

TEST(LeastConn, HugeWeightsCompareExactly) {
    // Coprime weights near 2^31: their lcm is too large to scale by, so loads are
    // cross-multiplied instead.
    Pool pool({2147483647u, 2147483629u, 1u});
    pool.active(0) = 1000;
    pool.active(1) = 1000;
    pool.active(2) = 1;
    auto picker = pool.picker(config::Algorithm::leastconn);
    EXPECT_EQ(picker->pick(0, {}), 0);  // 1000 / 2147483647 is the lightest
    pool.active(0) = 1001;
    EXPECT_EQ(picker->pick(0, {}), 1);  // 1001 / 2147483647 > 1000 / 2147483629
}

TEST(LeastConn, ScansPastTheFirstBackendsOfALargeService) {
    Pool pool = Pool::uniform(1024);
    for (size_t i = 0; i < pool.size(); ++i)
        pool.active(i) = 5;
    pool.active(777) = 4;
    auto picker = pool.picker(config::Algorithm::leastconn, 900);
    EXPECT_EQ(picker->pick(0, {}), 777);
    const uint32_t tried[] = {777};
    EXPECT_EQ(picker->pick(0, tried), 778);  // ties: the next after the previous winner
}

}  // namespace
}  // namespace clb::balance::testing
