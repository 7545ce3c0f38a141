// The three read-only views of the running state: Prometheus metrics, JSON status and
// the HTML stats page. Each is a pure function of a Context, so tests render them
// without a socket.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/bgp/status.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::admin {

// Times each kind of listener paused accepting, out of file descriptors (net::Acceptor).
struct AcceptPauses {
    uint64_t proxy = 0;
    uint64_t admin = 0;
    uint64_t bgp = 0;
};

struct Context {
    const runtime::Snapshot& snapshot;
    const runtime::Registry& registry;
    const std::optional<bgp::SpeakerStatus>& bgp;
    const std::string& version;
    double started_at;  // unix time
    double now;         // unix time
    AcceptPauses accept_pauses;
    uint64_t log_lines_dropped = 0;
    UpgradeView upgrade;
    PoolCounts pools;
};

// "UP", "DOWN" or "DRAINED" (drained wins: the operator's decision is what matters).
const char* backend_state(const runtime::BackendEntry& backend);
// Whether the backend takes new connections now (see runtime::ServiceEntry::eligible).
bool backend_eligible(const runtime::ServiceEntry& service, size_t backend_index);
// Responses by status class: [0] = 1xx ... [4] = 5xx.
std::array<uint64_t, 5> status_classes(const runtime::StatusCounters& counters);

std::string render_metrics(const Context& ctx);
std::string render_status_json(const Context& ctx);
// `refresh_seconds` > 0 adds a meta refresh.
std::string render_stats_html(const Context& ctx, int refresh_seconds);

}  // namespace clb::admin
