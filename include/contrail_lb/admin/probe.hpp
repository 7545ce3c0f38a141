// The container's health probe: one GET /healthz to a running contrail-lb's admin
// listener (`contrail-lb -c FILE --healthcheck`, docs/operations.md). A container image
// built from the binary and its libraries alone has no curl; the binary probes itself.
#pragma once

#include <chrono>
#include <string>

#include "contrail_lb/net/address.hpp"

namespace clb::admin {

struct ProbeResult {
    bool healthy = false;  // /healthz answered 200
    std::string detail;  // "127.0.0.1:9090: 200 ok", or why not: "...: connect: Connection refused"
};

// Asks `admin` (admin.listen; a wildcard address is asked on its loopback) for /healthz,
// all within `timeout`. Blocking: it runs in its own short-lived process, never in the
// event loops.
ProbeResult probe_healthz(const net::SocketAddress& admin, std::chrono::milliseconds timeout);

}  // namespace clb::admin
