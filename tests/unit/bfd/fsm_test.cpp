#include <gtest/gtest.h>

#include "contrail_lb/bfd/fsm.hpp"

namespace clb::bfd {
namespace {

constexpr Timers kFast{100'000, 100'000, 3};

// Hands each side's packet to the other, as a lossless link would.
void exchange(Fsm& a, Fsm& b) {
    b.receive(a.packet());
    a.receive(b.packet());
}

TEST(BfdFsm, StartsDownAndSlow) {
    Fsm f(7, kFast);
    EXPECT_EQ(f.state(), State::down);
    const ControlPacket p = f.packet();
    EXPECT_EQ(p.my_discriminator, 7u);
    EXPECT_EQ(p.your_discriminator, 0u);
    EXPECT_EQ(p.desired_min_tx_us, kSlowTxUs);  // RFC 5880 §6.8.3
    EXPECT_EQ(p.required_min_rx_us, 100'000u);
    EXPECT_EQ(p.detect_mult, 3);
    EXPECT_EQ(f.tx_interval_us(), kSlowTxUs);
    EXPECT_EQ(f.detection_time_us(), 0u);
}

TEST(BfdFsm, ThreeWayHandshake) {
    Fsm a(1, kFast), b(2, kFast);
    // a's Down reaches b: b goes Init.
    auto r = b.receive(a.packet());
    EXPECT_TRUE(r.state_changed);
    EXPECT_EQ(b.state(), State::init);
    // b's Init reaches a: a goes Up.
    r = a.receive(b.packet());
    EXPECT_TRUE(r.state_changed);
    EXPECT_EQ(a.state(), State::up);
    // a's Up reaches b: b goes Up.
    b.receive(a.packet());
    EXPECT_EQ(b.state(), State::up);
    EXPECT_EQ(a.remote_discriminator(), 2u);
    EXPECT_EQ(b.remote_discriminator(), 1u);
}

TEST(BfdFsm, UpStartsAPollAnnouncingTheFastRate) {
    Fsm a(1, kFast), b(2, kFast);
    exchange(a, b);
    exchange(a, b);
    ASSERT_EQ(a.state(), State::up);
    ASSERT_EQ(b.state(), State::up);
    const ControlPacket p = a.packet();
    EXPECT_TRUE(p.poll);
    EXPECT_EQ(p.desired_min_tx_us, 100'000u);
    // The peer answers a Poll with a Final, and the Poll sequence ends.
    auto r = b.receive(p);
    EXPECT_TRUE(r.send_final);
    const ControlPacket f = b.packet(true);
    EXPECT_TRUE(f.final);
    EXPECT_FALSE(f.poll);
    r = a.receive(f);
    EXPECT_TRUE(r.poll_finished);
    EXPECT_FALSE(a.polling());
    EXPECT_FALSE(a.packet().poll);
}

TEST(BfdFsm, NegotiatesIntervalsAndDetectionTime) {
    Fsm a(1, Timers{50'000, 300'000, 5}), b(2, Timers{200'000, 100'000, 3});
    for (int i = 0; i < 4; ++i)
        exchange(a, b);
    ASSERT_EQ(a.state(), State::up);
    // a sends at max(its 50 ms, b's required 100 ms); b at max(200 ms, a's required 300 ms).
    EXPECT_EQ(a.tx_interval_us(), 100'000u);
    EXPECT_EQ(b.tx_interval_us(), 300'000u);
    // Detection: the remote multiplier times the agreed receive interval.
    EXPECT_EQ(a.detection_time_us(), 3u * 300'000u);
    EXPECT_EQ(b.detection_time_us(), 5u * 100'000u);
}

TEST(BfdFsm, DetectionTimeoutTakesTheSessionDown) {
    Fsm a(1, kFast), b(2, kFast);
    exchange(a, b);
    exchange(a, b);
    ASSERT_EQ(a.state(), State::up);
    EXPECT_TRUE(a.detection_expired());
    EXPECT_EQ(a.state(), State::down);
    EXPECT_EQ(a.diag(), Diag::control_detection_expired);
    EXPECT_EQ(a.remote_discriminator(), 0u);  // forgotten
    EXPECT_EQ(a.packet().desired_min_tx_us, kSlowTxUs);
    EXPECT_FALSE(a.detection_expired());  // already Down: nothing changes
}

TEST(BfdFsm, PeerSignalingDownTakesTheSessionDown) {
    Fsm a(1, kFast), b(2, kFast);
    exchange(a, b);
    exchange(a, b);
    ControlPacket down = b.packet();
    down.state = State::down;
    const auto r = a.receive(down);
    EXPECT_TRUE(r.state_changed);
    EXPECT_EQ(a.state(), State::down);
    EXPECT_EQ(a.diag(), Diag::neighbor_signaled_down);
}

TEST(BfdFsm, AdminDownFromThePeer) {
    Fsm a(1, kFast), b(2, kFast);
    exchange(a, b);
    exchange(a, b);
    b.set_admin_down();
    EXPECT_EQ(b.packet().state, State::admin_down);
    EXPECT_EQ(b.packet().diag, Diag::admin_down);
    a.receive(b.packet());
    EXPECT_EQ(a.state(), State::down);
    EXPECT_EQ(a.remote_state(), State::admin_down);
    // An AdminDown session ignores what it receives.
    EXPECT_FALSE(b.receive(a.packet()).state_changed);
    EXPECT_EQ(b.state(), State::admin_down);
}

TEST(BfdFsm, InitIgnoresDownAndUpIgnoresInit) {
    Fsm a(1, kFast), b(2, kFast);
    b.receive(a.packet());
    ASSERT_EQ(b.state(), State::init);
    ControlPacket p = a.packet();
    p.your_discriminator = 2;
    EXPECT_FALSE(b.receive(p).state_changed);  // Down in Init: stay
    p.state = State::up;
    b.receive(p);
    ASSERT_EQ(b.state(), State::up);
    p.state = State::init;
    EXPECT_FALSE(b.receive(p).state_changed);  // Init in Up: stay
}

TEST(BfdFsm, SlowerTimersWaitForTheFinal) {
    Fsm a(1, kFast), b(2, kFast);
    for (int i = 0; i < 3; ++i) {
        exchange(a, b);
        if (a.polling()) a.receive(b.packet(true));
    }
    ASSERT_FALSE(a.polling());
    ASSERT_EQ(a.tx_interval_us(), 100'000u);
    // Slower TX and a shorter RX tolerance: announced at once, used only after the Final.
    a.set_timers(Timers{500'000, 50'000, 3});
    ControlPacket p = a.packet();
    EXPECT_TRUE(p.poll);
    EXPECT_EQ(p.desired_min_tx_us, 500'000u);
    EXPECT_EQ(p.required_min_rx_us, 50'000u);
    EXPECT_EQ(a.tx_interval_us(), 100'000u);
    EXPECT_EQ(a.detection_time_us(), 3u * 100'000u);
    b.receive(p);
    a.receive(b.packet(true));
    EXPECT_FALSE(a.polling());
    EXPECT_EQ(a.tx_interval_us(), 500'000u);
    EXPECT_EQ(a.detection_time_us(), 3u * 100'000u);  // max(50 ms, b's 100 ms) x 3
}

TEST(BfdFsm, FasterTimersApplyAtOnce) {
    Fsm a(1, Timers{300'000, 300'000, 3}), b(2, Timers{10'000, 10'000, 3});
    for (int i = 0; i < 3; ++i) {
        exchange(a, b);
        if (a.polling()) a.receive(b.packet(true));
    }
    ASSERT_EQ(a.tx_interval_us(), 300'000u);
    a.set_timers(Timers{100'000, 600'000, 3});
    EXPECT_TRUE(a.polling());
    EXPECT_EQ(a.tx_interval_us(), 100'000u);          // faster TX: at once
    EXPECT_EQ(a.detection_time_us(), 3u * 600'000u);  // longer tolerance: at once
}

TEST(BfdFsm, RequiredMinRxZeroStopsPeriodicSending) {
    Fsm a(1, kFast), b(2, kFast);
    ControlPacket p = b.packet();
    p.required_min_rx_us = 0;
    a.receive(p);
    EXPECT_EQ(a.tx_interval_us(), 0u);
}

}  // namespace
}  // namespace clb::bfd
