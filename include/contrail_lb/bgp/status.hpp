// What the BGP speaker shows the admin endpoints and metrics: plain values, copied out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clb::bgp {

struct PeerStatus {
    std::string address;     // "10.0.0.1:179"
    uint32_t remote_as = 0;
    std::string state;       // "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"
    bool established = false;
    double established_since = 0;  // unix time; 0 when not Established
    std::string last_error;        // "hold timer expired", "connection refused", ...
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    uint64_t updates_in = 0;
    uint64_t updates_out = 0;
    uint32_t flaps = 0;            // times it left Established
};

struct VipStatus {
    std::string prefix;    // "10.0.0.100/32"
    bool announced = false;  // require holds and the node is healthy
    std::string reason;      // why not: "contrail-api has 0 healthy backends (needs 1)"
    double changed_at = 0;
};

struct SpeakerStatus {
    std::string router_id;
    uint32_t local_as = 0;
    std::vector<PeerStatus> peers;
    std::vector<VipStatus> vips;
    uint64_t accept_pauses = 0;  // bgp.listen: accepts paused, out of fds (net::Acceptor)
};

}  // namespace clb::bgp
