// Two engines on loopback, each the other's peer (different ports, since both listen on
// one address): real sockets, real threads, the client side on a loop of the test's own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "contrail_lb/bfd/engine.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"

namespace clb::bfd {
namespace {

const net::IpAddress kLoopback = *net::IpAddress::parse("127.0.0.1");
constexpr Timers kFast{20'000, 20'000, 3};

uint16_t random_port() {
    std::random_device rd;
    return static_cast<uint16_t>(std::uniform_int_distribution<int>(20000, 29000)(rd));
}

class EngineTest : public ::testing::Test {
  protected:
    // Runs the client loop until `done` holds or `seconds` pass; true when it held.
    bool run_until(const std::function<bool()>& done, double seconds = 10) {
        net::Timer poll(loop_.raw(), [&] {
            if (done()) loop_.stop();
        });
        net::Timer deadline(loop_.raw(), [&] { loop_.stop(); });
        poll.start(0.005, 0.005);
        deadline.start(seconds);
        loop_.run();
        return done();
    }

    static const SessionStatus* session(const Engine& e) {
        static SessionStatus copy;
        auto snap = e.snapshot();
        if (snap->sessions.empty()) return nullptr;
        copy = snap->sessions[0];
        return &copy;
    }

    static bool up(const Engine& e) {
        const SessionStatus* s = session(e);
        return s && s->state == State::up;
    }

    net::Loop loop_;
    uint16_t port_a_ = random_port();
    uint16_t port_b_ = static_cast<uint16_t>(port_a_ + 1);
    std::vector<Event> events_a_;
};

TEST_F(EngineTest, HandshakeNegotiatesAndAdminDownSparesTheClient) {
    Engine a(
        loop_.raw(), [&](const Event& e) { events_a_.push_back(e); }, Options{port_a_, port_b_});
    auto b = std::make_unique<Engine>(
        loop_.raw(), [](const Event&) {}, Options{port_b_, port_a_});
    a.set_sessions({{kLoopback, kFast}});
    b->set_sessions({{kLoopback, Timers{40'000, 30'000, 5}}});
    ASSERT_TRUE(run_until([&] { return up(a) && up(*b); })) << a.snapshot()->socket_error;
    ASSERT_FALSE(events_a_.empty());
    EXPECT_EQ(events_a_.back().to, State::up);
    // The Poll sequence after Up brings both to their fast rates.
    ASSERT_TRUE(run_until([&] { return session(a)->tx_interval_us == 30'000; }));
    const SessionStatus s = *session(a);
    EXPECT_EQ(s.detection_time_us, 5u * 40'000u);  // b's multiplier x max(our rx, b's tx)
    EXPECT_GE(s.source_port, 49152);
    EXPECT_EQ(s.remote_multiplier, 5);

    // b goes away politely: AdminDown, which a's client must not take as a path failure.
    events_a_.clear();
    b.reset();
    ASSERT_TRUE(run_until([&] { return !events_a_.empty(); }));
    EXPECT_EQ(events_a_[0].from, State::up);
    EXPECT_EQ(events_a_[0].to, State::down);
    EXPECT_TRUE(events_a_[0].remote_admin_down);
    EXPECT_EQ(events_a_[0].diag, Diag::neighbor_signaled_down);
}

// A peer driven by hand: the same state machine over a plain socket, so the test decides
// when it falls silent.
class HandPeer {
  public:
    HandPeer(uint16_t listen_port, uint16_t engine_port) : engine_port_(engine_port) {
        fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
        const int ttl = 255;
        ::setsockopt(fd_.get(), IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
        const net::SocketAddress at(kLoopback, listen_port);
        bound_ = ::bind(fd_.get(), at.sa(), at.len()) == 0;
    }
    bool bound() const { return bound_; }
    // Reads what the engine sent, answers with one packet.
    void pump() {
        uint8_t buf[64];
        ssize_t n;
        while ((n = ::recv(fd_.get(), buf, sizeof buf, 0)) > 0) {
            const Decoded d = decode(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
            if (d.packet) fsm_.receive(*d.packet);
        }
        const auto bytes = encode(fsm_.packet());
        const net::SocketAddress to(kLoopback, engine_port_);
        ::sendto(fd_.get(), bytes.data(), bytes.size(), 0, to.sa(), to.len());
    }

  private:
    net::Fd fd_;
    bool bound_ = false;
    uint16_t engine_port_;
    Fsm fsm_{4242, kFast};
};

TEST_F(EngineTest, SilenceExpiresTheDetectionTime) {
    Engine a(
        loop_.raw(), [&](const Event& e) { events_a_.push_back(e); }, Options{port_a_, port_b_});
    HandPeer peer(port_b_, port_a_);
    ASSERT_TRUE(peer.bound());
    a.set_sessions({{kLoopback, kFast}});
    ASSERT_TRUE(run_until([&] {
        peer.pump();
        return up(a);
    }));
    EXPECT_EQ(session(a)->remote_discriminator, 4242u);
    events_a_.clear();
    // The peer falls silent (a frozen process): Down after the detection time, on its own.
    ASSERT_TRUE(run_until([&] { return !events_a_.empty(); }));
    EXPECT_EQ(events_a_[0].from, State::up);
    EXPECT_EQ(events_a_[0].to, State::down);
    EXPECT_EQ(events_a_[0].diag, Diag::control_detection_expired);
    EXPECT_FALSE(events_a_[0].remote_admin_down);
    EXPECT_EQ(session(a)->flaps, 1u);
}

TEST_F(EngineTest, DropsPacketsThatDidNotComeWithTtl255) {
    Engine a(
        loop_.raw(), [](const Event&) {}, Options{port_a_, port_b_});
    a.set_sessions({{kLoopback, kFast}});
    ASSERT_TRUE(run_until([&] { return session(a) != nullptr; }));
    net::Fd fd(::socket(AF_INET, SOCK_DGRAM, 0));
    const int ttl = 64;
    ASSERT_EQ(::setsockopt(fd.get(), IPPROTO_IP, IP_TTL, &ttl, sizeof ttl), 0);
    const auto packet = encode(ControlPacket{});
    const net::SocketAddress to(kLoopback, port_a_);
    ASSERT_GT(::sendto(fd.get(), packet.data(), packet.size(), 0, to.sa(), to.len()), 0);
    auto dropped = [&](Drop d) { return a.snapshot()->dropped[static_cast<size_t>(d)]; };
    ASSERT_TRUE(run_until([&] { return dropped(Drop::bad_ttl) == 1; }));
    EXPECT_EQ(session(a)->packets_in, 0u);
}

}  // namespace
}  // namespace clb::bfd
