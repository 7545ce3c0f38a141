// The BGP wire codec: round trips of every message and attribute, and a table of malformed
// inputs each mapped to the NOTIFICATION (or RFC 7606 treat-as-withdraw) it must produce.
#include "contrail_lb/bgp/wire.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

namespace clb::bgp::wire {
namespace {

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}
net::IpPrefix prefix(const char* text) {
    return *net::IpPrefix::parse(text);
}

Message round_trip(const Message& m, const SessionOptions& options = {}) {
    const auto bytes = encode(m, options);
    const Frame frame = check_header(bytes);
    EXPECT_EQ(frame.status, Frame::Status::complete);
    EXPECT_EQ(frame.length, bytes.size());
    Decoded d = decode(bytes, options);
    EXPECT_FALSE(d.error) << describe(*d.error);
    EXPECT_TRUE(d.message);
    return d.message ? *d.message : Message{Keepalive{}};
}

TEST(BgpWire, OpenRoundTripWithEveryCapability) {
    Open open;
    open.my_as = kAsTrans;
    open.hold_time = 9;
    open.bgp_identifier = 0x0A000015;
    open.capabilities.multiprotocol = {kIpv4Unicast, kIpv6Unicast};
    open.capabilities.route_refresh = true;
    open.capabilities.four_octet_as = 4200000001u;
    EXPECT_EQ(round_trip(open), Message{open});
}

TEST(BgpWire, OpenWithoutCapabilities) {
    Open open;
    open.my_as = 64512;
    open.hold_time = 0;
    open.bgp_identifier = 1;
    const auto bytes = encode(open);
    EXPECT_EQ(bytes.size(), 29u);
    EXPECT_EQ(round_trip(open), Message{open});
}

TEST(BgpWire, KeepaliveNotificationRouteRefresh) {
    EXPECT_EQ(encode(Keepalive{}).size(), 19u);
    EXPECT_EQ(round_trip(Keepalive{}), Message{Keepalive{}});
    Notification n{err::kCease, err::kAdministrativeShutdown, {0x05, 'b', 'y', 'e', '!', '!'}};
    EXPECT_EQ(round_trip(n), Message{n});
    RouteRefresh rr{kIpv6Unicast};
    EXPECT_EQ(encode(rr).size(), 23u);
    EXPECT_EQ(round_trip(rr), Message{rr});
}

Update ipv4_announcement() {
    Update u;
    u.attributes.origin = Origin::igp;
    u.attributes.as_path = AsPath{{kAsSequence, {64512, 64512, 4200000001u}}, {kAsSet, {1, 2}}};
    u.attributes.next_hop = ip("10.0.0.21");
    u.attributes.med = 100;
    u.attributes.communities = {(64512u << 16) | 100, kCommunityGracefulShutdown};
    u.nlri = {prefix("10.0.0.100/32"), prefix("192.168.0.0/16")};
    return u;
}

TEST(BgpWire, UpdateRoundTripEveryAttribute) {
    Update u = ipv4_announcement();
    u.withdrawn = {prefix("10.0.0.101/32"), prefix("0.0.0.0/0")};
    u.attributes.local_pref = 100;
    EXPECT_EQ(round_trip(u, {.four_octet_as = true, .ibgp = true}), Message{u});
}

TEST(BgpWire, LongAsPathIsSplitIntoSegmentsOf255) {
    Update u = ipv4_announcement();
    u.attributes.as_path = AsPath{{kAsSequence, std::vector<uint32_t>(300, 65001)}};
    auto decoded = std::get<Update>(round_trip(u));
    ASSERT_TRUE(decoded.attributes.as_path);
    ASSERT_EQ(decoded.attributes.as_path->size(), 2u);
    EXPECT_EQ((*decoded.attributes.as_path)[0].asns.size(), 255u);
    EXPECT_EQ((*decoded.attributes.as_path)[1].asns.size(), 45u);
}

TEST(BgpWire, LocalPrefIsDiscardedFromEbgp) {
    Update u = ipv4_announcement();
    u.attributes.local_pref = 100;
    auto decoded = std::get<Update>(round_trip(u, {.four_octet_as = true, .ibgp = false}));
    EXPECT_FALSE(decoded.attributes.local_pref);
    EXPECT_FALSE(decoded.treat_as_withdraw);
}

TEST(BgpWire, TwoOctetSessionUsesAsTransAndAs4Path) {
    Update u = ipv4_announcement();
    const auto bytes = encode(u, {.four_octet_as = false});
    // AS4_PATH (type 17) present, flagged optional transitive.
    bool found = false;
    for (size_t i = 0; i + 1 < bytes.size(); ++i)
        if (bytes[i] == (attr::kFlagOptional | attr::kFlagTransitive) &&
            bytes[i + 1] == attr::kAs4Path)
            found = true;
    EXPECT_TRUE(found);
    auto decoded = std::get<Update>(round_trip(u, {.four_octet_as = false}));
    ASSERT_TRUE(decoded.attributes.as_path);
    EXPECT_EQ((*decoded.attributes.as_path)[0].asns,
              (std::vector<uint32_t>{64512, 64512, kAsTrans}));
}

TEST(BgpWire, Ipv6MpReachAndUnreachRoundTrip) {
    Update u;
    u.attributes.origin = Origin::igp;
    u.attributes.as_path = AsPath{{kAsSequence, {4200000001u}}};
    u.attributes.mp_reach = MpReach{kIpv6Unicast,
                                    {ip("2001:db8::21"), ip("fe80::1")},
                                    {prefix("2001:db8:100::1/128"), prefix("2001:db8::/32")}};
    EXPECT_EQ(round_trip(u), Message{u});

    Update w;
    w.attributes.mp_unreach = MpUnreach{kIpv6Unicast, {prefix("2001:db8:100::1/128")}};
    EXPECT_EQ(round_trip(w), Message{w});
}

TEST(BgpWire, Ipv4MappedNextHopForIpv6OverIpv4) {
    Update u;
    u.attributes.origin = Origin::igp;
    u.attributes.as_path = AsPath{};
    u.attributes.mp_reach =
        MpReach{kIpv6Unicast, {ip("::ffff:127.0.0.1")}, {prefix("2001:db8:100::1/128")}};
    EXPECT_EQ(round_trip(u), Message{u});
}

TEST(BgpWire, EndOfRibIsAnEmptyUpdate) {
    Update eor;
    EXPECT_EQ(encode(eor).size(), 23u);
    EXPECT_EQ(round_trip(eor), Message{eor});
}

TEST(BgpWire, UnknownOptionalAttributeIsIgnored) {
    Update u = ipv4_announcement();
    auto bytes = encode(u);
    // Append an optional transitive attribute 99 of 2 bytes before the NLRI: rebuild by hand.
    std::vector<uint8_t> body = {0, 0};                          // no withdrawn
    std::vector<uint8_t> attrs = {0x40, 1,  1, 0,                // ORIGIN IGP
                                  0x40, 2,  0,                   // empty AS_PATH
                                  0x40, 3,  4, 10,   0,   0, 1,  // NEXT_HOP
                                  0xC0, 99, 2, 0xAB, 0xCD};      // unknown optional
    body.push_back(0);
    body.push_back(static_cast<uint8_t>(attrs.size()));
    body.insert(body.end(), attrs.begin(), attrs.end());
    body.insert(body.end(), {32, 10, 0, 0, 100});
    std::vector<uint8_t> msg(16, 0xFF);
    msg.push_back(0);
    msg.push_back(static_cast<uint8_t>(19 + body.size()));
    msg.push_back(2);
    msg.insert(msg.end(), body.begin(), body.end());
    Decoded d = decode(msg);
    ASSERT_TRUE(d.message);
    EXPECT_FALSE(std::get<Update>(*d.message).treat_as_withdraw);
    EXPECT_EQ(std::get<Update>(*d.message).nlri.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Malformed inputs.

std::vector<uint8_t> message(uint8_t type, std::initializer_list<uint8_t> body) {
    std::vector<uint8_t> m(16, 0xFF);
    const size_t len = 19 + body.size();
    m.push_back(static_cast<uint8_t>(len >> 8));
    m.push_back(static_cast<uint8_t>(len));
    m.push_back(type);
    m.insert(m.end(), body);
    return m;
}

// An UPDATE with no withdrawn routes, the given attributes and one NLRI 10.0.0.100/32.
std::vector<uint8_t> update_with(std::initializer_list<uint8_t> attrs, bool with_nlri = true) {
    std::vector<uint8_t> body = {0, 0, 0, static_cast<uint8_t>(attrs.size())};
    body.insert(body.end(), attrs);
    if (with_nlri) body.insert(body.end(), {32, 10, 0, 0, 100});
    std::vector<uint8_t> m(16, 0xFF);
    const size_t len = 19 + body.size();
    m.push_back(static_cast<uint8_t>(len >> 8));
    m.push_back(static_cast<uint8_t>(len));
    m.push_back(2);
    m.insert(m.end(), body.begin(), body.end());
    return m;
}

#define ORIGIN_IGP 0x40, 1, 1, 0
#define EMPTY_AS_PATH 0x40, 2, 0
#define NEXT_HOP_10_0_0_1 0x40, 3, 4, 10, 0, 0, 1

struct MalformedCase {
    const char* name;
    std::vector<uint8_t> bytes;
    uint8_t code = 0;  // 0: decodes, but as treat-as-withdraw
    uint8_t subcode = 0;
    SessionOptions options{};
};

std::vector<MalformedCase> malformed_cases() {
    std::vector<MalformedCase> cases;
    auto bad_marker = encode(Keepalive{});
    bad_marker[3] = 0;
    cases.push_back({"bad marker", bad_marker, err::kHeader, err::kConnectionNotSynchronized});
    cases.push_back({"length below header",
                     [] {
                         auto m = encode(Keepalive{});
                         m[17] = 18;
                         return m;
                     }(),
                     err::kHeader, err::kBadMessageLength});
    cases.push_back({"length above 4096",
                     [] {
                         auto m = encode(Keepalive{});
                         m[16] = 0x10;
                         m[17] = 0x01;
                         return m;
                     }(),
                     err::kHeader, err::kBadMessageLength});
    cases.push_back({"keepalive with body", message(4, {0}), err::kHeader, err::kBadMessageLength});
    cases.push_back({"short open", message(1, {4, 0, 1}), err::kHeader, err::kBadMessageLength});
    cases.push_back({"short notification", message(3, {6}), err::kHeader, err::kBadMessageLength});
    cases.push_back({"route refresh wrong length", message(5, {0, 1, 0}), err::kHeader,
                     err::kBadMessageLength});
    cases.push_back({"bad type 0", message(0, {}), err::kHeader, err::kBadMessageType});
    cases.push_back({"bad type 6", message(6, {}), err::kHeader, err::kBadMessageType});
    // OPEN
    cases.push_back({"open version 3", message(1, {3, 0xFC, 0, 0, 9, 1, 2, 3, 4, 0}), err::kOpen,
                     err::kUnsupportedVersion});
    cases.push_back({"open hold time 1", message(1, {4, 0xFC, 0, 0, 1, 1, 2, 3, 4, 0}), err::kOpen,
                     err::kUnacceptableHoldTime});
    cases.push_back({"open hold time 2", message(1, {4, 0xFC, 0, 0, 2, 1, 2, 3, 4, 0}), err::kOpen,
                     err::kUnacceptableHoldTime});
    cases.push_back({"open bgp identifier 0", message(1, {4, 0xFC, 0, 0, 9, 0, 0, 0, 0, 0}),
                     err::kOpen, err::kBadBgpIdentifier});
    cases.push_back({"open optional parameter length overrun",
                     message(1, {4, 0xFC, 0, 0, 9, 1, 2, 3, 4, 9, 2, 2}), err::kOpen, 0});
    cases.push_back({"open unsupported optional parameter (auth, type 1)",
                     message(1, {4, 0xFC, 0, 0, 9, 1, 2, 3, 4, 3, 1, 1, 0}), err::kOpen,
                     err::kUnsupportedOptionalParameter});
    cases.push_back({"open capability runs past parameter",
                     message(1, {4, 0xFC, 0, 0, 9, 1, 2, 3, 4, 4, 2, 2, 65, 4}), err::kOpen, 0});
    cases.push_back({"open 4-octet AS capability wrong length",
                     message(1, {4, 0xFC, 0, 0, 9, 1, 2, 3, 4, 6, 2, 4, 65, 2, 0, 1}), err::kOpen,
                     0});
    // UPDATE: framing of the two length fields -> session reset
    cases.push_back({"update withdrawn length overrun", message(2, {0, 9, 0, 0}), err::kUpdate,
                     err::kMalformedAttributeList});
    cases.push_back({"update attribute length overrun", message(2, {0, 0, 0, 9, 0x40}),
                     err::kUpdate, err::kMalformedAttributeList});
    cases.push_back({"update NLRI prefix length 33", message(2, {0, 0, 0, 0, 33, 1, 2, 3, 4, 5}),
                     err::kUpdate, err::kInvalidNetworkField});
    cases.push_back({"update truncated NLRI", message(2, {0, 0, 0, 0, 24, 10, 0}), err::kUpdate,
                     err::kInvalidNetworkField});
    cases.push_back({"update truncated withdrawn prefix", message(2, {0, 2, 32, 10, 0, 0}),
                     err::kUpdate, err::kInvalidNetworkField});
    // Attributes
    cases.push_back({"unknown well-known attribute",
                     update_with({ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1, 0x40, 99, 1, 0}),
                     err::kUpdate, err::kUnrecognizedWellKnownAttribute});
    cases.push_back({"truncated attribute header", update_with({ORIGIN_IGP, 0x40}), 0, 0});
    cases.push_back({"attribute value overruns the field",
                     update_with({ORIGIN_IGP, EMPTY_AS_PATH, 0x40, 3, 9, 10, 0, 0, 1}), 0, 0});
    cases.push_back(
        {"bad ORIGIN value", update_with({0x40, 1, 1, 3, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"bad ORIGIN length",
                     update_with({0x40, 1, 2, 0, 0, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"ORIGIN flagged optional",
                     update_with({0xC0, 1, 1, 0, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"missing ORIGIN", update_with({EMPTY_AS_PATH, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"missing AS_PATH", update_with({ORIGIN_IGP, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"missing NEXT_HOP", update_with({ORIGIN_IGP, EMPTY_AS_PATH}), 0, 0});
    cases.push_back({"missing LOCAL_PREF on iBGP",
                     update_with({ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1}),
                     0,
                     0,
                     {.four_octet_as = true, .ibgp = true}});
    cases.push_back({"AS_PATH segment count overruns",
                     update_with({ORIGIN_IGP, 0x40, 2, 6, 2, 2, 0, 0, 0xFC, 0, NEXT_HOP_10_0_0_1}),
                     0, 0});
    cases.push_back({"AS_PATH bad segment type",
                     update_with({ORIGIN_IGP, 0x40, 2, 6, 9, 1, 0, 0, 0xFC, 0, NEXT_HOP_10_0_0_1}),
                     0, 0});
    cases.push_back({"AS_PATH empty segment",
                     update_with({ORIGIN_IGP, 0x40, 2, 2, 2, 0, NEXT_HOP_10_0_0_1}), 0, 0});
    cases.push_back({"NEXT_HOP length 3",
                     update_with({ORIGIN_IGP, EMPTY_AS_PATH, 0x40, 3, 3, 10, 0, 0}), 0, 0});
    cases.push_back({"MED length 2",
                     update_with({ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1, 0x80, 4, 2, 0, 1}),
                     0, 0});
    cases.push_back(
        {"COMMUNITIES length 3",
         update_with({ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP_10_0_0_1, 0xC0, 8, 3, 1, 2, 3}), 0, 0});
    cases.push_back(
        {"MP_REACH next hop length 5",
         update_with({ORIGIN_IGP, EMPTY_AS_PATH, 0x80, 14, 10, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0},
                     false),
         err::kUpdate, err::kOptionalAttributeError});
    cases.push_back({"MP_REACH truncated", update_with({0x80, 14, 2, 0, 2}, false), err::kUpdate,
                     err::kOptionalAttributeError});
    cases.push_back({"MP_UNREACH prefix length 129",
                     update_with({0x80, 15, 5, 0, 2, 1, 129, 0}, false), err::kUpdate,
                     err::kOptionalAttributeError});
    cases.push_back({"MP_UNREACH flagged well-known", update_with({0x40, 15, 3, 0, 2, 1}, false),
                     err::kUpdate, err::kAttributeFlagsError});
    cases.push_back({"MP_UNREACH twice",
                     update_with({0x80, 15, 3, 0, 2, 1, 0x80, 15, 3, 0, 2, 1}, false), err::kUpdate,
                     err::kMalformedAttributeList});
    return cases;
}

TEST(BgpWire, MalformedInputTable) {
    for (const auto& c : malformed_cases()) {
        SCOPED_TRACE(c.name);
        const Frame frame = check_header(c.bytes);
        Decoded d = decode(c.bytes, c.options);
        if (c.code == 0) {
            ASSERT_FALSE(d.error) << describe(*d.error);
            ASSERT_TRUE(d.message);
            const auto& u = std::get<Update>(*d.message);
            EXPECT_TRUE(u.treat_as_withdraw);
            EXPECT_FALSE(u.malformation.empty());
            continue;
        }
        ASSERT_TRUE(d.error) << "decoded without error";
        EXPECT_EQ(d.error->code, c.code) << describe(*d.error);
        EXPECT_EQ(d.error->subcode, c.subcode) << describe(*d.error);
        if (c.code == err::kHeader) {
            EXPECT_EQ(frame.status, Frame::Status::error);
            EXPECT_EQ(frame.error, *d.error);
        }
    }
}

TEST(BgpWire, HeaderErrorsCarryTheOffendingField) {
    auto d = decode(message(7, {}));
    ASSERT_TRUE(d.error);
    EXPECT_EQ(d.error->data, (std::vector<uint8_t>{7}));
    auto m = encode(Keepalive{});
    m[17] = 20;
    EXPECT_EQ(check_header(m).error.data, (std::vector<uint8_t>{0, 20}));
    auto v = decode(message(1, {3, 0xFC, 0, 0, 9, 1, 2, 3, 4, 0}));
    EXPECT_EQ(v.error->data, (std::vector<uint8_t>{0, 4}));  // the version we support
}

TEST(BgpWire, UnknownCapabilityIsIgnoredNotRefused) {
    // Graceful restart (64) and enhanced route refresh (70) are unknown to us: RFC 5492 says
    // ignore them, so the OPEN decodes with them listed.
    auto d = decode(message(1, {4, 0xFC, 0, 0, 9, 1, 2, 3, 4, 8, 2, 6, 64, 2, 0, 120, 70, 0}));
    ASSERT_FALSE(d.error);
    const auto& open = std::get<Open>(*d.message);
    EXPECT_EQ(open.capabilities.unknown, (std::vector<uint8_t>{64, 70}));
}

TEST(BgpWire, IncompleteFramesWaitForMoreBytes) {
    const auto bytes = encode(Message{ipv4_announcement()});
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_EQ(check_header({bytes.data(), n}).status, Frame::Status::incomplete) << n;
}

TEST(BgpWire, EveryTruncationOfAValidUpdateIsHandled) {
    // Shorten the message while keeping the header length consistent: never a crash, always
    // either an error or an UPDATE.
    const auto full = encode(Message{ipv4_announcement()});
    for (size_t n = 23; n < full.size(); ++n) {
        std::vector<uint8_t> cut(full.begin(), full.begin() + n);
        cut[16] = static_cast<uint8_t>(n >> 8);
        cut[17] = static_cast<uint8_t>(n);
        Decoded d = decode(cut);
        EXPECT_TRUE(d.error || d.message) << n;
    }
}

TEST(BgpWire, DescribeNamesCodes) {
    EXPECT_EQ(describe(err::kCease, err::kAdministrativeShutdown), "Cease/Administrative Shutdown");
    EXPECT_EQ(describe(err::kHoldTimerExpired, 0), "Hold Timer Expired");
    EXPECT_EQ(describe(err::kUpdate, 200), "UPDATE Message Error/subcode 200");
}

}  // namespace
}  // namespace clb::bgp::wire
