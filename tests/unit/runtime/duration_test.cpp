// The request-duration histogram (issue 14, item 5): a negative duration, which only a
// wall clock stepping back could produce, must not wrap the unsigned sum.
#include <gtest/gtest.h>

#include "contrail_lb/runtime/state.hpp"

namespace clb::runtime {
namespace {

TEST(Duration, ObservedIntoTheFirstBucketThatHoldsIt) {
    Service service("api");
    service.observe_duration(0.004);
    EXPECT_EQ(service.duration_buckets[2].get(), 1u);  // le 0.005
    EXPECT_EQ(service.duration_count.get(), 1u);
    EXPECT_EQ(service.duration_sum_us.get(), 4000u);
}

TEST(Duration, NegativeCountsAsZero) {
    Service service("api");
    service.observe_duration(-3600.);
    EXPECT_EQ(service.duration_buckets[0].get(), 1u);
    EXPECT_EQ(service.duration_sum_us.get(), 0u);
}

}  // namespace
}  // namespace clb::runtime
