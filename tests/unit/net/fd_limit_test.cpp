// The fd budget: connections first, splice pipes from what is left (issue 14, item 4).
#include "contrail_lb/net/fd_limit.hpp"

#include <gtest/gtest.h>

namespace clb::net {
namespace {

TEST(FdLimit, ConnectionsNeedTwoFdsEachAndSlack) {
    EXPECT_EQ(fds_needed(1000), 2256u);
}

TEST(FdLimit, WantsRoomForAPipePerFourConnections) {
    EXPECT_EQ(fds_wanted(1000), 2256u + 2 * 250);
    EXPECT_EQ(pipes_allowed(fds_wanted(1000), 1000), 250u);
}

TEST(FdLimit, PipesTakeWhatConnectionsLeave) {
    EXPECT_EQ(pipes_allowed(2256 + 400, 1000), 200u);  // two fds a pipe
    EXPECT_EQ(pipes_allowed(1u << 20, 1000), 250u);    // never more than max_connections / 4
}

TEST(FdLimit, AnEighthOfTheLimitGoesToPipesWhenConnectionsLeaveLess) {
    EXPECT_EQ(pipes_allowed(2256 + 44, 1000), 2300u / 8 / 2);
    EXPECT_EQ(pipes_allowed(2256, 1000), 2256u / 8 / 2);
}

TEST(FdLimit, AShortLimitStillLendsAnEighthToPipes) {
    // 50000 connections need 100256 fds; with 20000 the operator was warned, and large
    // bodies still splice through up to 1250 pipes (2500 fds).
    EXPECT_EQ(pipes_allowed(20000, 50000), 1250u);
}

}  // namespace
}  // namespace clb::net
