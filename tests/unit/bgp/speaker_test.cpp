// The speaker against a scripted peer in the test: FSM, negotiation, announcement policy,
// error answers and shutdown, over real TCP on 127.0.0.1.
#include "contrail_lb/bgp/speaker.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace clb::bgp {
namespace {

using namespace test;
using namespace std::chrono_literals;

const ServiceHealthMap kHealthy{{"api", {2, true}}};
const ServiceHealthMap kDown{{"api", {0, true}}};

// Receives until a message matching `pred` arrives; collects everything seen on the way.
template <typename T>
std::optional<T> expect_message(net::Loop& loop, ScriptedPeer& peer,
                                const std::function<bool(const T&)>& pred = nullptr,
                                std::chrono::milliseconds timeout = 5s,
                                const wire::SessionOptions& o = {}) {
    std::optional<T> found;
    run_until(
        loop,
        [&] {
            while (auto m = peer.try_receive(o)) {
                if (auto* t = std::get_if<T>(&*m); t && (!pred || pred(*t))) {
                    found = *t;
                    return true;
                }
            }
            return false;
        },
        timeout);
    return found;
}

bool is_announcement(const wire::Update& u) {
    return !u.nlri.empty() || u.attributes.mp_reach;
}

const PeerStatus& peer_status(const SpeakerStatus& s) {
    return s.peers.at(0);
}

TEST(BgpSpeaker, PolicyReasons) {
    net::Loop loop;
    auto vip = make_vip("10.0.0.100/32", {"api", "analytics"});
    vip.require.min_healthy_backends = 0;  // only "listening" matters then
    Speaker speaker(loop.raw(), make_config(64512, {}, {vip}));
    auto reason = [&] { return speaker.status().vips.at(0).reason; };
    EXPECT_EQ(reason(), "api is not listening");  // no health report yet
    speaker.set_service_health({{"api", {0, true}}, {"analytics", {0, false}}});
    EXPECT_EQ(reason(), "analytics is not listening");
    speaker.set_service_health({{"api", {0, true}}, {"analytics", {0, true}}});
    EXPECT_TRUE(speaker.status().vips[0].announced);
    speaker.set_node_healthy(false, "worker 3 stalled for 2.1s");
    EXPECT_FALSE(speaker.status().vips[0].announced);
    EXPECT_EQ(reason(), "node unhealthy: worker 3 stalled for 2.1s");
    speaker.set_node_healthy(true, "");
    EXPECT_TRUE(speaker.status().vips[0].announced);
    EXPECT_GT(speaker.status().vips[0].changed_at, 0);
    bool done = false;
    speaker.shutdown([&] { done = true; });
    EXPECT_TRUE(run_until(
        loop, [&] { return done; }, 1s));
    EXPECT_EQ(reason(), "shutting down");
}

TEST(BgpSpeaker, EstablishesAnnouncesWithdrawsAndShutsDown) {
    net::Loop loop;
    ScriptedPeer peer;
    auto vip = make_vip("10.0.0.100/32");
    vip.med = 50;
    vip.communities = {(64512u << 16) | 100};
    Speaker speaker(loop.raw(),
                    make_config(4200000001u, {make_peer("127.0.0.1", peer.port(), 65001)}, {vip}));
    auto open = peer.establish(loop, 65001);
    ASSERT_TRUE(open);
    EXPECT_EQ(open->my_as, wire::kAsTrans);
    EXPECT_EQ(open->capabilities.four_octet_as, 4200000001u);
    EXPECT_EQ(open->hold_time, 9);
    EXPECT_TRUE(open->capabilities.route_refresh);
    EXPECT_EQ(open->capabilities.multiprotocol,
              std::vector<wire::AddressFamily>{wire::kIpv4Unicast});
    ASSERT_TRUE(expect_message<wire::Keepalive>(loop, peer));
    ASSERT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
    // End-of-RIB: nothing healthy yet.
    auto eor = expect_message<wire::Update>(loop, peer);
    ASSERT_TRUE(eor);
    EXPECT_TRUE(eor->nlri.empty() && eor->withdrawn.empty());
    EXPECT_FALSE(speaker.status().vips[0].announced);
    EXPECT_EQ(speaker.status().vips[0].reason, "api has 0 healthy backends (needs 1)");

    speaker.set_service_health(kHealthy);
    auto ann = expect_message<wire::Update>(loop, peer, is_announcement);
    ASSERT_TRUE(ann);
    EXPECT_EQ(ann->nlri, std::vector<net::IpPrefix>{vip.prefix});
    EXPECT_EQ(ann->attributes.next_hop, net::IpAddress::parse("127.0.0.1"));
    EXPECT_EQ(ann->attributes.med, 50u);
    EXPECT_EQ(ann->attributes.communities, vip.communities);
    EXPECT_EQ(ann->attributes.origin, wire::Origin::igp);
    ASSERT_TRUE(ann->attributes.as_path);
    EXPECT_EQ((*ann->attributes.as_path)[0].asns, std::vector<uint32_t>{4200000001u});
    EXPECT_FALSE(ann->attributes.local_pref);  // eBGP
    EXPECT_TRUE(speaker.status().vips[0].announced);

    // Unchanged state is never re-sent.
    const auto out_before = peer_status(speaker.status()).updates_out;
    speaker.set_service_health(kHealthy);
    speaker.set_service_health(ServiceHealthMap{{"api", {3, true}}});
    EXPECT_EQ(peer_status(speaker.status()).updates_out, out_before);

    // The withdraw is written within the call itself (same loop iteration).
    speaker.set_service_health(kDown);
    EXPECT_EQ(peer_status(speaker.status()).updates_out, out_before + 1);
    auto wd = expect_message<wire::Update>(loop, peer, nullptr, 1s);
    ASSERT_TRUE(wd);
    EXPECT_EQ(wd->withdrawn, std::vector<net::IpPrefix>{vip.prefix});
    EXPECT_EQ(speaker.status().vips[0].reason, "api has 0 healthy backends (needs 1)");

    speaker.set_service_health(kHealthy);
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));

    // Route refresh re-sends the announcement.
    peer.send(wire::RouteRefresh{wire::kIpv4Unicast});
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));

    bool done = false;
    speaker.shutdown([&] { done = true; });
    auto last = expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return !u.withdrawn.empty(); });
    ASSERT_TRUE(last);
    auto cease = expect_message<wire::Notification>(loop, peer);
    ASSERT_TRUE(cease);
    EXPECT_EQ(cease->code, wire::err::kCease);
    EXPECT_EQ(cease->subcode, wire::err::kAdministrativeShutdown);
    peer.close();
    EXPECT_TRUE(run_until(
        loop, [&] { return done; }, 3s));
}

TEST(BgpSpeaker, IbgpCarriesLocalPrefAndNoPrependOrOwnAs) {
    net::Loop loop;
    ScriptedPeer peer;
    auto vip = make_vip("10.0.0.100/32", {});
    vip.as_path_prepend = 2;
    vip.next_hop = net::IpAddress::parse("192.0.2.7");
    Speaker speaker(loop.raw(),
                    make_config(64512, {make_peer("127.0.0.1", peer.port(), 64512)}, {vip}));
    ASSERT_TRUE(peer.establish(loop, 64512));
    auto ann = expect_message<wire::Update>(loop, peer, is_announcement, 5s, {true, true});
    ASSERT_TRUE(ann);
    EXPECT_EQ(ann->attributes.local_pref, 100u);
    EXPECT_TRUE(ann->attributes.as_path->empty());
    EXPECT_EQ(ann->attributes.next_hop, net::IpAddress::parse("192.0.2.7"));
}

TEST(BgpSpeaker, EbgpPrependAndIpv6OverIpv4UsesMappedNextHop) {
    net::Loop loop;
    ScriptedPeer peer;
    auto v4 = make_vip("10.0.0.100/32", {});
    v4.as_path_prepend = 2;
    auto v6 = make_vip("2001:db8:100::1/128", {});
    Speaker speaker(loop.raw(),
                    make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)}, {v4, v6}));
    auto open = peer.establish(loop, 65001);
    ASSERT_TRUE(open);
    EXPECT_EQ(open->capabilities.multiprotocol,
              (std::vector<wire::AddressFamily>{wire::kIpv4Unicast, wire::kIpv6Unicast}));
    auto a4 = expect_message<wire::Update>(loop, peer,
                                           [](const wire::Update& u) { return !u.nlri.empty(); });
    ASSERT_TRUE(a4);
    EXPECT_EQ((*a4->attributes.as_path)[0].asns, (std::vector<uint32_t>{64512, 64512, 64512}));
    auto a6 = expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return u.attributes.mp_reach.has_value(); });
    ASSERT_TRUE(a6);
    EXPECT_EQ(a6->attributes.mp_reach->next_hops,
              std::vector<net::IpAddress>{*net::IpAddress::parse("::ffff:127.0.0.1")});
    EXPECT_EQ(a6->attributes.mp_reach->nlri, std::vector<net::IpPrefix>{v6.prefix});
    // The watchdog withdraws both at once.
    speaker.set_node_healthy(false, "worker 1 stalled");
    auto w4 = expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return !u.withdrawn.empty(); });
    ASSERT_TRUE(w4);
    EXPECT_EQ(speaker.status().vips[1].reason, "node unhealthy: worker 1 stalled");
}

TEST(BgpSpeaker, MalformedUpdateGetsNotificationAndSessionRestarts) {
    net::Loop loop;
    ScriptedPeer peer;
    Speaker speaker(loop.raw(), make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                                            {make_vip("10.0.0.100/32")}));
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
    // An UPDATE carrying an unknown attribute flagged well-known (type 99).
    const std::vector<uint8_t> bad = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0,    27,
                                      2,    0,    0,    0,    4,    0x40, 99,   1,    0};
    peer.send_raw(bad);
    auto n = expect_message<wire::Notification>(loop, peer);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->code, wire::err::kUpdate);
    EXPECT_EQ(n->subcode, wire::err::kUnrecognizedWellKnownAttribute);
    peer.close();
    auto s = peer_status(speaker.status());
    EXPECT_FALSE(s.established);
    EXPECT_EQ(s.flaps, 1u);
    EXPECT_NE(s.last_error.find("Unrecognized Well-known Attribute"), std::string::npos)
        << s.last_error;
    // It dials again (backoff starts at about a second) and establishes.
    ASSERT_TRUE(peer.establish(loop, 65001));
    EXPECT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
}

// The peer sends a malformed UPDATE and resets the connection at once, so the NOTIFICATION
// that answers it cannot be written. That is still one failure: one flap, one backoff step
// (the failed write must not fail the session a second time).
TEST(BgpSpeaker, UnsendableNotificationCountsOneFlapAndOneBackoffStep) {
    net::Loop loop;
    ScriptedPeer peer;
    Speaker speaker(loop.raw(), make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                                            {make_vip("10.0.0.100/32", {})}));
    auto established = [&] { return speaker.status().peers[0].established; };
    // A first, plain flap: the next failure waits 2 s x jitter.
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(run_until(loop, established));
    peer.close();
    ASSERT_TRUE(run_until(loop, [&] { return !established(); }));
    ASSERT_EQ(peer_status(speaker.status()).flaps, 1u);
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(run_until(loop, established));
    // An UPDATE with an unknown well-known attribute, then RST: both are queued before the
    // speaker's loop runs again, so it reads the UPDATE and its answer hits the reset socket.
    const std::vector<uint8_t> bad = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0,    27,
                                      2,    0,    0,    0,    4,    0x40, 99,   1,    0};
    peer.send_raw(bad);
    peer.reset();
    ASSERT_TRUE(run_until(loop, [&] { return !established(); }));
    const auto dropped = Clock::now();
    auto s = peer_status(speaker.status());
    EXPECT_EQ(s.flaps, 2u);
    EXPECT_NE(s.last_error.find("Unrecognized Well-known Attribute"), std::string::npos)
        << s.last_error;
    // One step: 2 s x [0.75, 1.25]. Counted twice it was about 1 s (the second count saw
    // no Established time and restarted the backoff) or, doubled twice, at least 3 s.
    ASSERT_TRUE(peer.establish(loop, 65001));
    const auto waited = Clock::now() - dropped;
    EXPECT_GT(waited, 1400ms);
    EXPECT_LT(waited, 3s);
    EXPECT_EQ(peer_status(speaker.status()).flaps, 2u);
}

TEST(BgpSpeaker, EveryKindOfGarbageFromAnEstablishedPeerGetsItsNotification) {
    auto msg = [](uint8_t type, std::vector<uint8_t> body) {
        std::vector<uint8_t> m(16, 0xFF);
        const size_t len = 19 + body.size();
        m.push_back(static_cast<uint8_t>(len >> 8));
        m.push_back(static_cast<uint8_t>(len));
        m.push_back(type);
        m.insert(m.end(), body.begin(), body.end());
        return m;
    };
    struct Case {
        const char* name;
        std::vector<uint8_t> bytes;
        uint8_t code, subcode;
    };
    auto bad_marker = msg(4, {});
    bad_marker[0] = 0;
    const std::vector<Case> cases = {
        {"bad marker", bad_marker, wire::err::kHeader, wire::err::kConnectionNotSynchronized},
        {"keepalive with a body", msg(4, {1}), wire::err::kHeader, wire::err::kBadMessageLength},
        {"message type 9", msg(9, {}), wire::err::kHeader, wire::err::kBadMessageType},
        {"attribute length past the message", msg(2, {0, 0, 0, 200, 0x40, 1, 1, 0}),
         wire::err::kUpdate, wire::err::kMalformedAttributeList},
        {"MP_REACH with a 5-byte next hop",
         msg(2, {0, 0, 0, 13, 0x80, 14, 10, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0}), wire::err::kUpdate,
         wire::err::kOptionalAttributeError},
        {"OPEN while Established", wire::encode(wire::Open{4, 65001, 9, 0x0A0000FE, {}}),
         wire::err::kFsm, wire::err::kUnexpectedInEstablished},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        net::Loop loop;
        ScriptedPeer peer;
        Speaker speaker(loop.raw(), make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                                                {make_vip("10.0.0.100/32", {})}));
        ASSERT_TRUE(peer.establish(loop, 65001));
        ASSERT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
        peer.send_raw(c.bytes);
        auto n = expect_message<wire::Notification>(loop, peer);
        ASSERT_TRUE(n);
        EXPECT_EQ(n->code, c.code) << wire::describe(*n);
        EXPECT_EQ(n->subcode, c.subcode) << wire::describe(*n);
        // Still running: the session went back to dialling.
        EXPECT_TRUE(run_until(
            loop, [&] { return !speaker.status().peers[0].established; }, 1s));
    }
}

TEST(BgpSpeaker, OpenErrorsAreAnswered) {
    struct Case {
        uint32_t as;
        uint16_t hold;
        uint8_t subcode;
    };
    for (auto c : {Case{65002, 9, wire::err::kBadPeerAs},
                   Case{65001, 2, wire::err::kUnacceptableHoldTime}}) {
        net::Loop loop;
        ScriptedPeer peer;
        Speaker speaker(loop.raw(),
                        make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)}, {}));
        ASSERT_TRUE(peer.establish(loop, c.as, c.hold));
        auto n = expect_message<wire::Notification>(loop, peer);
        ASSERT_TRUE(n);
        EXPECT_EQ(n->code, wire::err::kOpen);
        EXPECT_EQ(n->subcode, c.subcode);
    }
}

TEST(BgpSpeaker, HoldTimeIsNegotiatedAndExpiryIsNotified) {
    net::Loop loop;
    ScriptedPeer peer;
    Speaker speaker(loop.raw(),
                    make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)}, {}));
    ASSERT_TRUE(peer.establish(loop, 65001, 3));
    ASSERT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
    // Keepalives arrive every second (3 s / 3); the peer stays silent, so after 3 s we expire.
    const auto start = Clock::now();
    int keepalives = 0;
    auto n = expect_message<wire::Notification>(loop, peer, nullptr, 6s);
    (void)keepalives;
    ASSERT_TRUE(n);
    EXPECT_EQ(n->code, wire::err::kHoldTimerExpired);
    const auto waited = Clock::now() - start;
    EXPECT_GE(waited, 2500ms);
    EXPECT_EQ(speaker.status().peers[0].last_error.find("hold timer expired"), 0u);
}

TEST(BgpSpeaker, PassiveAcceptOnlyFromConfiguredPeers) {
    net::Loop loop;
    // The configured peer's port is closed: only the passive side can establish.
    auto cfg =
        make_config(64512, {make_peer("127.0.0.1", 1, 65001)}, {make_vip("10.0.0.100/32", {})});
    cfg.listen = true;
    cfg.listen_port = 17979;
    Speaker speaker(loop.raw(), cfg);
    run_until(
        loop, [] { return false; }, 100ms);
    // A stranger (127.0.0.2 is not configured) is refused.
    {
        net::Fd s(::socket(AF_INET, SOCK_STREAM, 0));
        sockaddr_in local{};
        local.sin_family = AF_INET;
        ::inet_pton(AF_INET, "127.0.0.2", &local.sin_addr);
        ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(17979);
        ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        ASSERT_EQ(::connect(s.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
        ::fcntl(s.get(), F_SETFL, O_NONBLOCK);
        bool closed = run_until(
            loop,
            [&] {
                char b;
                return ::read(s.get(), &b, 1) == 0;
            },
            2s);
        EXPECT_TRUE(closed);
    }
    // The configured address is accepted and gets the VIP.
    net::Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(17979);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    ::connect(s.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
    std::vector<uint8_t> in;
    std::optional<wire::Open> open;
    ASSERT_TRUE(run_until(loop, [&] {
        uint8_t b[4096];
        ssize_t n = ::read(s.get(), b, sizeof b);
        if (n > 0) in.insert(in.end(), b, b + n);
        auto f = wire::check_header(in);
        if (f.status != wire::Frame::Status::complete) return false;
        auto d = wire::decode({in.data(), f.length});
        in.erase(in.begin(), in.begin() + static_cast<ptrdiff_t>(f.length));
        if (d.message && std::holds_alternative<wire::Open>(*d.message))
            open = std::get<wire::Open>(*d.message);
        return open.has_value();
    }));
    EXPECT_EQ(open->my_as, 64512);
}

// Both sides dial at once: the connection initiated by the higher BGP Identifier survives,
// the other gets Cease/Connection Collision Resolution (RFC 4271 §6.8).
TEST(BgpSpeaker, ConnectionCollisionIsResolvedByBgpIdentifier) {
    struct Case {
        uint32_t peer_id;
        bool keep_ours;  // our router id is 10.255.0.1
    };
    for (auto c : {Case{0x0A0000FE, true}, Case{0x0AFF0009, false}}) {
        SCOPED_TRACE(c.peer_id);
        net::Loop loop;
        ScriptedPeer peer;
        auto cfg = make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)}, {});
        cfg.listen = true;
        cfg.listen_port = 17978;
        Speaker speaker(loop.raw(), cfg);
        // Connection A: the speaker dialled us; read its OPEN but do not answer yet.
        ASSERT_TRUE(run_until(loop, [&] { return peer.try_accept(); }));
        ASSERT_TRUE(expect_message<wire::Open>(loop, peer));
        // Connection B: we dial the speaker's passive port.
        net::Fd a = peer.dial_and_swap(17978);
        ASSERT_TRUE(expect_message<wire::Open>(loop, peer));
        wire::Open open{4, 65001, 9, c.peer_id, {}};
        open.capabilities.four_octet_as = 65001;
        peer.send(open);  // on B
        peer.swap_connection(a);
        peer.send(open);  // on A
        // `a` now holds B. Look at the loser (B when we keep ours, else A), then the winner.
        if (c.keep_ours) peer.swap_connection(a);
        auto n = expect_message<wire::Notification>(loop, peer);
        ASSERT_TRUE(n);
        EXPECT_EQ(n->code, wire::err::kCease);
        EXPECT_EQ(n->subcode, wire::err::kConnectionCollisionResolution);
        peer.swap_connection(a);  // the winner
        peer.send(wire::Keepalive{});
        EXPECT_TRUE(run_until(
            loop, [&] { return speaker.status().peers[0].established; }, 3s));
    }
}

TEST(BgpSpeaker, ReconfigureKeepsUnchangedSessionsAndAppliesVipsAtOnce) {
    net::Loop loop;
    ScriptedPeer peer;
    auto cfg = make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                           {make_vip("10.0.0.100/32", {})});
    Speaker speaker(loop.raw(), cfg);
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));
    // New MED on the VIP, plus a second VIP: re-announced, same session.
    cfg.vips[0].med = 7;
    cfg.vips.push_back(make_vip("10.0.0.101/32", {}));
    speaker.reconfigure(cfg);
    auto a = expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return u.attributes.med == 7u; });
    ASSERT_TRUE(a);
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, [](const wire::Update& u) {
        return !u.nlri.empty() && u.nlri[0].to_string() == "10.0.0.101/32";
    }));
    EXPECT_TRUE(speaker.status().peers[0].established);
    EXPECT_EQ(speaker.status().peers[0].flaps, 0u);
    // Dropping the VIP withdraws it.
    cfg.vips.pop_back();
    speaker.reconfigure(cfg);
    ASSERT_TRUE(expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return !u.withdrawn.empty(); }));
    // A changed remote AS restarts the session with Cease/Other Configuration Change.
    cfg.peers[0].remote_as = 65009;
    speaker.reconfigure(cfg);
    auto n = expect_message<wire::Notification>(loop, peer);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->code, wire::err::kCease);
    EXPECT_EQ(n->subcode, wire::err::kOtherConfigurationChange);
}

TEST(BgpSpeaker, GracefulShutdownAnnouncesCommunityThenWithdraws) {
    net::Loop loop;
    ScriptedPeer peer;
    auto cfg = make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                           {make_vip("10.0.0.100/32", {})});
    cfg.graceful_shutdown = 300ms;
    Speaker speaker(loop.raw(), cfg);
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));
    bool done = false;
    speaker.shutdown([&] { done = true; });
    auto g = expect_message<wire::Update>(loop, peer, is_announcement);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->attributes.communities, std::vector<uint32_t>{wire::kCommunityGracefulShutdown});
    const auto t0 = Clock::now();
    ASSERT_TRUE(expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return !u.withdrawn.empty(); }));
    EXPECT_GE(Clock::now() - t0, 250ms);
    ASSERT_TRUE(expect_message<wire::Notification>(loop, peer));
    // The peer never closes: the 1 s bound ends the shutdown anyway.
    EXPECT_TRUE(run_until(
        loop, [&] { return done; }, 3s));
}

// A peer that closes right after Established is redialled with a growing backoff; its
// Cease/Administrative Shutdown (a router restarting) starts over from about a second.
TEST(BgpSpeaker, AdministrativeShutdownFromThePeerResetsTheBackoff) {
    net::Loop loop;
    ScriptedPeer peer;
    Speaker speaker(loop.raw(), make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                                            {make_vip("10.0.0.100/32", {})}));
    auto established = [&] { return speaker.status().peers[0].established; };
    Clock::time_point dropped;
    for (int flap = 0; flap < 2; ++flap) {
        ASSERT_TRUE(peer.establish(loop, 65001));
        ASSERT_TRUE(run_until(loop, established));
        peer.close();
        ASSERT_TRUE(run_until(loop, [&] { return !established(); }));
        dropped = Clock::now();
    }
    ASSERT_TRUE(peer.establish(loop, 65001));
    EXPECT_GT(Clock::now() - dropped, 1400ms);  // 2 s x jitter 0.75..1.25 after two flaps
    ASSERT_TRUE(run_until(loop, established));
    peer.send(wire::Notification{wire::err::kCease, wire::err::kAdministrativeShutdown, {}});
    ASSERT_TRUE(run_until(loop, [&] { return !established(); }));
    dropped = Clock::now();
    peer.close();
    ASSERT_TRUE(peer.establish(loop, 65001));
    EXPECT_LT(Clock::now() - dropped, 1400ms);  // about a second again, not 4 s
}

// withdraw_wait: the withdraw goes out at once, the session stays Established (keepalives
// flow) for that long, then the Cease.
TEST(BgpSpeaker, WithdrawWaitKeepsTheSessionUpBetweenWithdrawAndCease) {
    net::Loop loop;
    ScriptedPeer peer;
    auto cfg = make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                           {make_vip("10.0.0.100/32", {})});
    cfg.withdraw_wait = 400ms;
    Speaker speaker(loop.raw(), cfg);
    ASSERT_TRUE(peer.establish(loop, 65001));
    ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));
    bool done = false;
    speaker.shutdown([&] { done = true; });
    const auto t0 = Clock::now();
    ASSERT_TRUE(expect_message<wire::Update>(
        loop, peer, [](const wire::Update& u) { return !u.withdrawn.empty(); }, 1s));
    EXPECT_LT(Clock::now() - t0, 200ms);
    EXPECT_FALSE(expect_message<wire::Notification>(loop, peer, nullptr, 250ms));
    EXPECT_TRUE(speaker.status().peers[0].established);
    EXPECT_FALSE(done);
    auto cease = expect_message<wire::Notification>(loop, peer, nullptr, 2s);
    ASSERT_TRUE(cease);
    EXPECT_EQ(cease->subcode, wire::err::kAdministrativeShutdown);
    EXPECT_GE(Clock::now() - t0, 350ms);
    peer.close();
    EXPECT_TRUE(run_until(
        loop, [&] { return done; }, 3s));
}

// Nothing announced (or withdraw_wait 0): no router has anything to move, Cease at once.
TEST(BgpSpeaker, NoWithdrawWaitWhenNothingWasAnnounced) {
    for (bool announced : {false, true}) {
        SCOPED_TRACE(announced ? "withdraw_wait: 0" : "nothing announced");
        net::Loop loop;
        ScriptedPeer peer;
        auto cfg = make_config(64512, {make_peer("127.0.0.1", peer.port(), 65001)},
                               {make_vip("10.0.0.100/32")});
        cfg.withdraw_wait = announced ? 0s : 5s;
        Speaker speaker(loop.raw(), cfg);
        ASSERT_TRUE(peer.establish(loop, 65001));
        if (announced) {
            speaker.set_service_health(kHealthy);
            ASSERT_TRUE(expect_message<wire::Update>(loop, peer, is_announcement));
        } else {
            speaker.set_service_health(kDown);
            ASSERT_TRUE(run_until(loop, [&] { return speaker.status().peers[0].established; }));
        }
        speaker.shutdown([] {});
        const auto t0 = Clock::now();
        ASSERT_TRUE(expect_message<wire::Notification>(loop, peer, nullptr, 2s));
        EXPECT_LT(Clock::now() - t0, 300ms);
    }
}

}  // namespace
}  // namespace clb::bgp
