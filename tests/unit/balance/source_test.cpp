#include <gtest/gtest.h>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

TEST(Source, ClientKeepsItsBackend) {
    Pool pool({1, 2, 1, 3});
    auto worker1 = pool.picker(config::Algorithm::source, 1);
    auto worker2 = pool.picker(config::Algorithm::source, 2);
    for (uint32_t c = 0; c < 1000; ++c) {
        int first = worker1->pick(client(c), {});
        for (int again = 0; again < 3; ++again)
            EXPECT_EQ(worker1->pick(client(c), {}), first);
        EXPECT_EQ(worker2->pick(client(c), {}), first);  // whichever worker accepts it
    }
}

TEST(Source, ClientsOfOneSubnetSpread) {
    Pool pool = Pool::uniform(4);
    auto picker = pool.picker(config::Algorithm::source);
    std::vector<int> counts(4, 0);
    for (uint32_t c = 0; c < 1000; ++c)
        counts[picker->pick(client(c), {})]++;
    for (int n : counts)
        EXPECT_NEAR(n, 250, 60);
}

TEST(Source, RetryIsDeterministicPerClient) {
    Pool pool = Pool::uniform(6);
    auto picker = pool.picker(config::Algorithm::source);
    for (uint32_t c = 0; c < 200; ++c) {
        const uint32_t tried[] = {static_cast<uint32_t>(picker->pick(client(c), {}))};
        int retry = picker->pick(client(c), tried);
        EXPECT_NE(retry, static_cast<int>(tried[0]));
        EXPECT_EQ(picker->pick(client(c), tried), retry);
    }
}

}  // namespace
}  // namespace clb::balance::testing
