// Why a proxied request (http mode) or connection (tcp mode) ended, HAProxy's termination
// flags with names. One cause per access-log line; counted per service for /metrics and
// /stats (runtime::Service::terminations). docs/operations.md lists them beside HAProxy's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace clb::runtime {

enum class Termination : uint8_t {
    completed,            // the exchange ended normally
    client_abort,         // the client closed or reset the connection before the end
    client_timeout,       // the client was silent for timeouts.client
    request_timeout,      // no complete request head within timeouts.http_request (408)
    bad_request,          // malformed or refused request (400, 431, 501)
    no_backend,           // no backend UP, every candidate failed, or the service was removed
    backend_refused,      // the last connect attempt was refused (RST to SYN)
    backend_unreachable,  // the last connect attempt got a network error (no route ...)
    connect_timeout,      // the last connect attempt did not complete within timeouts.connect
    backend_reset,        // the backend closed or reset the connection before the end
    server_timeout,       // the backend was silent for timeouts.server
    bad_response,         // the backend's response could not be parsed (502)
    local_resource,       // this process ran out of something (fds, ports, memory)
    over_capacity,        // global.max_connections reached: refused at accept
    redirect,             // answered with a redirect by a redirect service (no backend)
    queue_timeout,        // every eligible backend stayed at max_connections for timeouts.queue
    shutdown,             // the grace period ended with the exchange still running
};

inline constexpr size_t kTerminationCount = static_cast<size_t>(Termination::shutdown) + 1;

// The name used in logs, metric labels and the status pages, e.g. "backend_refused".
std::string_view name(Termination cause);

// Where an exchange was when it ended: HAProxy's second termination letter, spelled out.
enum class Phase : uint8_t {
    request,  // reading the request head (R)
    queue,    // waiting for a free backend slot (Q)
    connect,  // connecting to a backend (C)
    headers,  // waiting for the response head (H)
    data,     // moving the bodies (D)
    tunnel,   // relaying after a 101, or a tcp-mode connection (D)
};
std::string_view name(Phase phase);

// Whose fault a failed connect(2) or an early socket error is. Only a failure the backend
// caused counts against it (SPEC "Health checks"); EMFILE, ENFILE, ENOBUFS, ENOMEM and
// EADDRNOTAVAIL are the proxy's own.
bool backend_caused(int error);
// The termination a connect error leads to when no other backend takes the request.
Termination connect_termination(int error);

}  // namespace clb::runtime
