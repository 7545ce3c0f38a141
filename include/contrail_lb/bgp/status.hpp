// What the BGP speaker shows the admin endpoints and metrics: plain values, copied out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clb::bgp {

// The BFD session beside a peer's BGP session (RFC 5880), when the peer has `bfd`.
struct BfdStatus {
    std::string state;  // "AdminDown", "Down", "Init", "Up"
    std::string remote_state;
    bool up = false;
    std::string diag;          // why it last left Up: "control detection time expired", ...
    bool holding_bgp = false;  // BFD went Down: BGP stays down until BFD is Up again
    double state_since = 0;    // unix time
    uint32_t local_discriminator = 0;
    uint32_t remote_discriminator = 0;
    double min_tx = 0, min_rx = 0;  // configured, seconds
    unsigned multiplier = 0;
    double tx_interval = 0;     // negotiated, seconds (before jitter)
    double detection_time = 0;  // seconds; 0 until the peer is heard
    unsigned remote_multiplier = 0;
    double remote_min_tx = 0, remote_min_rx = 0;  // the peer's, seconds
    uint64_t packets_in = 0;
    uint64_t packets_out = 0;
    uint32_t flaps = 0;  // times it left Up
    std::string error;   // sending trouble, if any
};

struct PeerStatus {
    std::string address;  // "10.0.0.1:179"
    uint32_t remote_as = 0;
    std::string state;  // "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"
    bool established = false;
    double established_since = 0;  // unix time; 0 when not Established
    std::string last_error;        // "hold timer expired", "connection refused", ...
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    uint64_t updates_in = 0;
    uint64_t updates_out = 0;
    uint32_t flaps = 0;            // times it left Established
    uint64_t md5_failures = 0;     // connections not made or refused: no TCP MD5 key on them
    std::optional<BfdStatus> bfd;  // nullopt: BFD is off for this peer
};

struct VipStatus {
    std::string prefix;      // "10.0.0.100/32"
    bool announced = false;  // require holds and the node is healthy
    std::string reason;      // why not: "contrail-api has 0 healthy backends (needs 1)"
    double changed_at = 0;
};

struct SpeakerStatus {
    std::string router_id;
    uint32_t local_as = 0;
    std::vector<PeerStatus> peers;
    std::vector<VipStatus> vips;
    // BFD packets dropped before reaching a session, by cause ("bad_ttl", ...); every cause
    // is listed, with 0, once BFD runs.
    std::vector<std::pair<std::string, uint64_t>> bfd_dropped;
    std::string bfd_error;       // why BFD cannot receive, if it cannot
    uint64_t accept_pauses = 0;  // bgp.listen: accepts paused, out of fds (net::Acceptor)
};

}  // namespace clb::bgp
