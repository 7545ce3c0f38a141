// An Established BGP session moving to the next process (upgrade, docs/bgp.md
// "Upgrade"): its TCP socket taken at a message boundary, with what the session
// negotiated and what it announced, so the next process goes on without a new OPEN and
// sends UPDATEs only for differences. The speaker knows nothing of how it travels.
#pragma once

#include <cstdint>
#include <vector>

#include "contrail_lb/bfd/engine.hpp"
#include "contrail_lb/bgp/wire.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::bgp {

// A session's counters: they travel with it, so an upgrade shows no reset in /metrics.
struct SessionCounters {
    double established_since = 0;  // CLOCK_MONOTONIC seconds, the same in both processes
    uint32_t flaps = 0;
    uint64_t messages_in = 0, messages_out = 0, updates_in = 0, updates_out = 0;
};

struct SessionHandOver {
    net::IpAddress peer;
    uint16_t port = 179;
    net::Fd fd;  // no byte of ours pending, none of theirs read past `unread`
    wire::SessionOptions options;
    std::vector<wire::AddressFamily> families;  // negotiated
    uint16_t hold_time = 0;                     // negotiated, seconds
    // Adj-RIB-Out: one encoded UPDATE per route announced to this peer.
    std::vector<std::vector<uint8_t>> adj_rib_out;
    std::vector<uint8_t> unread;  // received, not yet parsed
    SessionCounters counters;
};

// What the speaker gives the next process: its Established sessions and its BFD sessions.
struct SpeakerHandOver {
    std::vector<SessionHandOver> sessions;
    bfd::HandOver bfd;
};

}  // namespace clb::bgp
