#include <gtest/gtest.h>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

TEST(Random2, OfTwoAlwaysTakesTheLessLoaded) {
    Pool pool = Pool::uniform(2);
    pool.active(0) = 100;
    auto picker = pool.picker(config::Algorithm::random2, 3);
    for (int i = 0; i < 1000; ++i)
        EXPECT_EQ(picker->pick(0, {}), 1);
}

TEST(Random2, AvoidsAnOverloadedBackend) {
    Pool pool = Pool::uniform(10);
    pool.active(4) = 50;  // a slow backend piles up connections
    auto picker = pool.picker(config::Algorithm::random2, 3);
    std::vector<int> counts(10, 0);
    for (int i = 0; i < 100000; ++i)
        counts[picker->pick(0, {})]++;
    // It loses every comparison; only a run of failed distinct draws could pick it.
    EXPECT_LT(counts[4], 100);
    for (int i = 0; i < 10; ++i) {
        if (i == 4) continue;
        EXPECT_NEAR(counts[i], 100000 / 9, 1000);
    }
}

TEST(Random2, FavoursTheLessLoadedInProportion) {
    Pool pool = Pool::uniform(4);
    pool.active(0) = 1;
    pool.active(1) = 2;
    pool.active(2) = 3;
    pool.active(3) = 4;
    auto picker = pool.picker(config::Algorithm::random2, 3);
    std::vector<int> counts(4, 0);
    for (int i = 0; i < 100000; ++i)
        counts[picker->pick(0, {})]++;
    // Backend i wins against every heavier one it is drawn with: shares 3/6, 2/6, 1/6, 0.
    EXPECT_NEAR(counts[0], 50000, 1500);
    EXPECT_NEAR(counts[1], 33333, 1500);
    EXPECT_NEAR(counts[2], 16667, 1500);
    EXPECT_EQ(counts[3], 0);
}

TEST(Random2, SeedsGiveIndependentSequences) {
    Pool pool = Pool::uniform(32);
    auto a = pool.picker(config::Algorithm::random2, 1);
    auto b = pool.picker(config::Algorithm::random2, 2);
    int same = 0;
    for (int i = 0; i < 1000; ++i)
        same += a->pick(0, {}) == b->pick(0, {});
    EXPECT_LT(same, 150);  // about 1000/32 by chance, plus the load ties
}

}  // namespace
}  // namespace clb::balance::testing
