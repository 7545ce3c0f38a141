#include "contrail_lb/tls/tickets.hpp"

#include <gtest/gtest.h>

namespace clb::tls {
namespace {

using namespace std::chrono_literals;
using Clock = TicketKeys::Clock;

TEST(TicketKeys, OneKeyIssuesForAPeriodThenTheNextTakesOver) {
    TicketKeys keys(1h);
    auto t0 = Clock::now();
    auto first = keys.issuing(t0);
    EXPECT_EQ(keys.issuing(t0 + 59min).name, first.name);
    auto second = keys.issuing(t0 + 61min);
    EXPECT_NE(second.name, first.name);
    EXPECT_NE(second.aes, first.aes);
    EXPECT_NE(second.hmac, first.hmac);
}

TEST(TicketKeys, TheRetiredKeyIsAcceptedOnePeriodMoreAndAsksForARenewal) {
    TicketKeys keys(1h);
    auto t0 = Clock::now();
    auto first = keys.issuing(t0);
    bool renew = true;
    ASSERT_TRUE(keys.accepting(first.name.data(), t0 + 1min, renew));
    EXPECT_FALSE(renew);

    auto second = keys.issuing(t0 + 61min);
    auto old = keys.accepting(first.name.data(), t0 + 62min, renew);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->aes, first.aes);
    EXPECT_TRUE(renew);
    EXPECT_TRUE(keys.accepting(second.name.data(), t0 + 62min, renew));
    EXPECT_FALSE(renew);
    // Two periods after it was made, nothing opens with the first key any more.
    EXPECT_FALSE(keys.accepting(first.name.data(), t0 + 121min, renew));
}

TEST(TicketKeys, AnUnknownNameIsRefused) {
    TicketKeys keys(1h);
    unsigned char name[16] = {};
    bool renew = false;
    EXPECT_FALSE(keys.accepting(name, Clock::now(), renew));
}

TEST(TicketKeys, ExpireRotatesAnIdleServiceAndForgetsStaleKeys) {
    TicketKeys keys(1h);
    auto t0 = Clock::now();
    auto first = keys.issuing(t0);
    keys.expire(t0 + 30min);  // nothing due
    EXPECT_EQ(keys.issuing(t0 + 30min).name, first.name);
    keys.expire(t0 + 61min);  // rotated without a handshake
    bool renew = false;
    EXPECT_TRUE(keys.accepting(first.name.data(), t0 + 61min, renew));
    // Past the first key's time the second still issues, and the first is wiped: even a
    // clock that said otherwise would find it no more.
    keys.expire(t0 + 120min + 1s);
    EXPECT_FALSE(keys.accepting(first.name.data(), t0 + 62min, renew));
}

TEST(TicketKeys, ALongIdleServiceKeepsNoKeyPastItsTime) {
    TicketKeys keys(1h);
    auto t0 = Clock::now();
    auto first = keys.issuing(t0);
    // No handshake and no expire() for five hours: the first key issued its last ticket
    // four hours ago, so the rotation does not keep it as the previous key.
    auto later = keys.issuing(t0 + 5h);
    EXPECT_NE(later.name, first.name);
    bool renew = false;
    EXPECT_FALSE(keys.accepting(first.name.data(), t0 + 5h, renew));
}

}  // namespace
}  // namespace clb::tls
