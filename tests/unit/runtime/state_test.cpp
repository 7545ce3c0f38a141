// runtime::Histogram, Backend slots and cookie ids. The request-duration histogram
// (issue 14, item 5): a negative duration, which only a
// wall clock stepping back could produce, must not wrap the unsigned sum.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "contrail_lb/runtime/state.hpp"

namespace clb::runtime {
namespace {

TEST(Duration, ObservedIntoTheFirstBucketThatHoldsIt) {
    Service service("api");
    service.duration.observe(0.004);
    EXPECT_EQ(service.duration.buckets[2].get(), 1u);  // le 0.005
    EXPECT_EQ(service.duration.count(), 1u);
    EXPECT_EQ(service.duration.sum_us.get(), 4000u);
}

TEST(Duration, NegativeCountsAsZero) {
    Service service("api");
    service.duration.observe(-3600.);
    EXPECT_EQ(service.duration.buckets[0].get(), 1u);
    EXPECT_EQ(service.duration.sum_us.get(), 0u);
}

TEST(Duration, QuantilesInterpolateInsideTheirBucket) {
    Histogram h;
    EXPECT_EQ(h.quantile(0.5), 0.);
    for (int i = 0; i < 98; ++i)
        h.observe(0.004);  // (0.0025, 0.005]
    h.observe(0.3);        // (0.25, 0.5]
    h.observe(0.4);
    EXPECT_NEAR(h.quantile(0.5), 0.0025 + 0.0025 * (50. / 98), 1e-9);
    EXPECT_NEAR(h.quantile(0.99), 0.25 + 0.25 * 0.5, 1e-9);  // rank 99: first of the two
    h.observe(60);                                           // past the last bound
    EXPECT_EQ(h.quantile(0.999), 10.);
}

}  // namespace
}  // namespace clb::runtime

namespace clb::runtime {
namespace {

// The sticky cookie's value: stable across processes and nodes (a fixed hash of service
// and name), different per backend, never the address.
TEST(Backend, CookieIdIsAStableOpaqueNameOfTheBackend) {
    auto address = *net::SocketAddress::parse("10.0.0.11:8143");
    Backend ui1("webui", "ctrl1", address);
    EXPECT_EQ(ui1.cookie_id.size(), 16u);
    EXPECT_EQ(ui1.cookie_id, Backend("webui", "ctrl1", address).cookie_id);
    EXPECT_EQ(ui1.cookie_id,
              Backend("webui", "ctrl1", *net::SocketAddress::parse("10.0.0.99:1")).cookie_id);
    EXPECT_NE(ui1.cookie_id, Backend("webui", "ctrl2", address).cookie_id);
    EXPECT_NE(ui1.cookie_id, Backend("api", "ctrl1", address).cookie_id);
    EXPECT_EQ(ui1.cookie_id.find("10.0.0"), std::string::npos);
}

}  // namespace
}  // namespace clb::runtime

namespace clb::runtime {
namespace {

// max_connections across workers: the check and the count are one step, so threads racing
// for slots never hold more than the limit at once.
TEST(Backend, SlotsNeverExceedTheLimitUnderRacingWorkers) {
    Backend backend("api", "ctrl1", *net::SocketAddress::parse("10.0.0.11:8082"));
    constexpr uint32_t kLimit = 4;
    std::atomic<int> held{0}, most{0};
    auto worker = [&] {
        for (int i = 0; i < 20000; ++i) {
            if (!backend.take_slot(kLimit)) continue;
            int now = held.fetch_add(1) + 1;
            for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
            }
            held.fetch_sub(1);
            backend.give_slot();
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back(worker);
    for (auto& t : threads)
        t.join();
    EXPECT_LE(most.load(), static_cast<int>(kLimit));
    EXPECT_EQ(backend.active_connections.load(), 0);
    EXPECT_TRUE(backend.take_slot(0));  // 0: no limit
    EXPECT_TRUE(backend.take_slot(1) == false);
}

}  // namespace
}  // namespace clb::runtime
