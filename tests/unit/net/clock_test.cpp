// The proxy's durations and deadlines come from net::monotonic_seconds(): it must be
// CLOCK_MONOTONIC, which a step of the system clock does not move (issue 14, item 5).
#include "contrail_lb/net/clock.hpp"

#include <gtest/gtest.h>
#include <time.h>

namespace clb::net {
namespace {

double read(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(Clock, IsTheMonotonicClockNotTheWallClock) {
    double before = read(CLOCK_MONOTONIC);
    double ours = monotonic_seconds();
    double after = read(CLOCK_MONOTONIC);
    EXPECT_LE(before, ours);
    EXPECT_LE(ours, after);
    // The wall clock counts from 1970, the monotonic one from boot: decades apart.
    EXPECT_GT(read(CLOCK_REALTIME) - ours, 365. * 24 * 3600);
}

TEST(Clock, NeverGoesBack) {
    double last = monotonic_seconds();
    for (int i = 0; i < 100000; ++i) {
        double now = monotonic_seconds();
        ASSERT_GE(now, last);
        last = now;
    }
}

}  // namespace
}  // namespace clb::net
