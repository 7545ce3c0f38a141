// BGP-4 messages as values, and their wire encoding (RFC 4271, 4760, 5492, 6793, 2918, 1997).
// Decoding is bounds-checked at every read and never allocates more than the message holds:
// a malformed message comes back as the NOTIFICATION to send (RFC 4271 §6), or, for the
// attribute errors RFC 7606 softens, as an UPDATE flagged treat-as-withdraw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "contrail_lb/net/address.hpp"

namespace clb::bgp::wire {

inline constexpr size_t kHeaderSize = 19;
inline constexpr size_t kMaxMessageSize = 4096;
inline constexpr uint8_t kVersion = 4;
inline constexpr uint16_t kAsTrans = 23456;  // RFC 6793: stands for a 4-octet AS in 2-octet fields
inline constexpr uint16_t kAfiIpv4 = 1;
inline constexpr uint16_t kAfiIpv6 = 2;
inline constexpr uint8_t kSafiUnicast = 1;
inline constexpr uint32_t kCommunityGracefulShutdown = 0xFFFF0000;  // 65535:0, RFC 8326

enum class MessageType : uint8_t {
    open = 1,
    update = 2,
    notification = 3,
    keepalive = 4,
    route_refresh = 5,
};

// NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes we send or name.
namespace err {
inline constexpr uint8_t kHeader = 1;
inline constexpr uint8_t kOpen = 2;
inline constexpr uint8_t kUpdate = 3;
inline constexpr uint8_t kHoldTimerExpired = 4;
inline constexpr uint8_t kFsm = 5;
inline constexpr uint8_t kCease = 6;

// Message Header Error
inline constexpr uint8_t kConnectionNotSynchronized = 1;
inline constexpr uint8_t kBadMessageLength = 2;
inline constexpr uint8_t kBadMessageType = 3;
// OPEN Message Error
inline constexpr uint8_t kUnsupportedVersion = 1;
inline constexpr uint8_t kBadPeerAs = 2;
inline constexpr uint8_t kBadBgpIdentifier = 3;
inline constexpr uint8_t kUnsupportedOptionalParameter = 4;
inline constexpr uint8_t kUnacceptableHoldTime = 6;
inline constexpr uint8_t kUnsupportedCapability = 7;  // RFC 5492
// UPDATE Message Error
inline constexpr uint8_t kMalformedAttributeList = 1;
inline constexpr uint8_t kUnrecognizedWellKnownAttribute = 2;
inline constexpr uint8_t kMissingWellKnownAttribute = 3;
inline constexpr uint8_t kAttributeFlagsError = 4;
inline constexpr uint8_t kAttributeLengthError = 5;
inline constexpr uint8_t kInvalidOrigin = 6;
inline constexpr uint8_t kInvalidNextHop = 8;
inline constexpr uint8_t kOptionalAttributeError = 9;
inline constexpr uint8_t kInvalidNetworkField = 10;
inline constexpr uint8_t kMalformedAsPath = 11;
// FSM Error (RFC 6608)
inline constexpr uint8_t kUnexpectedInOpenSent = 1;
inline constexpr uint8_t kUnexpectedInOpenConfirm = 2;
inline constexpr uint8_t kUnexpectedInEstablished = 3;
// Cease (RFC 4486)
inline constexpr uint8_t kAdministrativeShutdown = 2;
inline constexpr uint8_t kPeerDeconfigured = 3;
inline constexpr uint8_t kAdministrativeReset = 4;
inline constexpr uint8_t kConnectionRejected = 5;
inline constexpr uint8_t kOtherConfigurationChange = 6;
inline constexpr uint8_t kConnectionCollisionResolution = 7;
inline constexpr uint8_t kOutOfResources = 8;
inline constexpr uint8_t kBfdDown = 10;  // RFC 9384
}  // namespace err

// Path attribute type codes.
namespace attr {
inline constexpr uint8_t kOrigin = 1;
inline constexpr uint8_t kAsPath = 2;
inline constexpr uint8_t kNextHop = 3;
inline constexpr uint8_t kMultiExitDisc = 4;
inline constexpr uint8_t kLocalPref = 5;
inline constexpr uint8_t kAtomicAggregate = 6;
inline constexpr uint8_t kAggregator = 7;
inline constexpr uint8_t kCommunities = 8;
inline constexpr uint8_t kMpReachNlri = 14;
inline constexpr uint8_t kMpUnreachNlri = 15;
inline constexpr uint8_t kAs4Path = 17;
inline constexpr uint8_t kAs4Aggregator = 18;

inline constexpr uint8_t kFlagOptional = 0x80;
inline constexpr uint8_t kFlagTransitive = 0x40;
inline constexpr uint8_t kFlagPartial = 0x20;
inline constexpr uint8_t kFlagExtendedLength = 0x10;
}  // namespace attr

struct Notification {
    uint8_t code = 0;
    uint8_t subcode = 0;
    std::vector<uint8_t> data;
    friend bool operator==(const Notification&, const Notification&) = default;
};
// "Cease/Administrative Shutdown", "UPDATE Message Error/Malformed Attribute List", ...
std::string describe(uint8_t code, uint8_t subcode);
inline std::string describe(const Notification& n) {
    return describe(n.code, n.subcode);
}

struct AddressFamily {
    uint16_t afi = kAfiIpv4;
    uint8_t safi = kSafiUnicast;
    friend auto operator<=>(const AddressFamily&, const AddressFamily&) = default;
};
inline constexpr AddressFamily kIpv4Unicast{kAfiIpv4, kSafiUnicast};
inline constexpr AddressFamily kIpv6Unicast{kAfiIpv6, kSafiUnicast};

struct Capabilities {
    std::vector<AddressFamily> multiprotocol;  // RFC 4760, code 1
    bool route_refresh = false;                // RFC 2918, code 2
    std::optional<uint32_t> four_octet_as;     // RFC 6793, code 65
    std::vector<uint8_t> unknown;              // codes we do not implement: ignored (RFC 5492 §5)
    friend bool operator==(const Capabilities&, const Capabilities&) = default;
};

struct Open {
    uint8_t version = kVersion;
    uint16_t my_as = 0;  // AS_TRANS when the real AS needs 4 octets
    uint16_t hold_time = 0;
    uint32_t bgp_identifier = 0;  // host order
    Capabilities capabilities;
    friend bool operator==(const Open&, const Open&) = default;
};

enum class Origin : uint8_t { igp = 0, egp = 1, incomplete = 2 };

inline constexpr uint8_t kAsSet = 1;
inline constexpr uint8_t kAsSequence = 2;
struct AsPathSegment {
    uint8_t type = kAsSequence;
    std::vector<uint32_t> asns;
    friend bool operator==(const AsPathSegment&, const AsPathSegment&) = default;
};
using AsPath = std::vector<AsPathSegment>;

struct MpReach {
    AddressFamily family;
    std::vector<net::IpAddress> next_hops;  // IPv6: global, optionally followed by link-local
    std::vector<net::IpPrefix> nlri;
    friend bool operator==(const MpReach&, const MpReach&) = default;
};

struct MpUnreach {
    AddressFamily family;
    std::vector<net::IpPrefix> withdrawn;
    friend bool operator==(const MpUnreach&, const MpUnreach&) = default;
};

struct PathAttributes {
    std::optional<Origin> origin;
    std::optional<AsPath> as_path;
    std::optional<net::IpAddress> next_hop;  // IPv4 NEXT_HOP
    std::optional<uint32_t> med;
    std::optional<uint32_t> local_pref;
    std::vector<uint32_t> communities;
    std::optional<MpReach> mp_reach;
    std::optional<MpUnreach> mp_unreach;
    friend bool operator==(const PathAttributes&, const PathAttributes&) = default;
};

struct Update {
    std::vector<net::IpPrefix> withdrawn;  // IPv4
    PathAttributes attributes;
    std::vector<net::IpPrefix> nlri;  // IPv4
    // Decoding only: RFC 7606 says this UPDATE's routes are to be treated as withdrawn.
    bool treat_as_withdraw = false;
    std::string malformation;  // why, when treat_as_withdraw
    friend bool operator==(const Update&, const Update&) = default;
};

struct Keepalive {
    friend bool operator==(const Keepalive&, const Keepalive&) = default;
};

struct RouteRefresh {
    AddressFamily family;
    friend bool operator==(const RouteRefresh&, const RouteRefresh&) = default;
};

using Message = std::variant<Open, Update, Notification, Keepalive, RouteRefresh>;

// What the session negotiated that changes how UPDATEs are laid out or checked.
struct SessionOptions {
    bool four_octet_as = true;  // both sides sent capability 65
    bool ibgp = false;          // LOCAL_PREF is mandatory on iBGP and discarded on eBGP
};

// The whole message, header included. An UPDATE whose AS_PATH holds 4-octet ASNs on a
// 2-octet session is sent with AS_TRANS and an AS4_PATH (RFC 6793 §4.2.2).
std::vector<uint8_t> encode(const Message& message, const SessionOptions& options = {});

// Framing: looks at the first bytes of a receive buffer.
struct Frame {
    enum class Status { incomplete, complete, error } status = Status::incomplete;
    size_t length = 0;   // whole message, when complete
    Notification error;  // when error: what to send before closing
};
Frame check_header(std::span<const uint8_t> buffered);

struct Decoded {
    std::optional<Message> message;
    std::optional<Notification> error;  // the session must send this and reset
};
// `message` is one whole message as delimited by check_header (a complete frame).
Decoded decode(std::span<const uint8_t> message, const SessionOptions& options = {});

}  // namespace clb::bgp::wire
