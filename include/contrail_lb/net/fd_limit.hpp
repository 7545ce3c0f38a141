// The process's file descriptor limit (RLIMIT_NOFILE), raised to what the configuration
// needs: each client connection takes one fd and, while a request is in flight or its
// backend connection is pooled, a second one.
#pragma once

#include <cstdint>

namespace clb::net {

struct FdLimit {
    uint64_t before = 0;  // soft limit found
    uint64_t soft = 0;    // soft limit now
    uint64_t hard = 0;
    int error = 0;  // errno of a failed setrlimit, else 0
};

// What `max_connections` client connections need: two fds each, plus room for listeners,
// health checks, admin and BGP connections, logs.
uint64_t fds_needed(uint64_t max_connections);

// Splice pipes (two fds each), up to max_connections / 4 of them (HAProxy's maxpipes
// default), take the fds beyond fds_needed(), or one eighth of the limit where that is
// more (a limit too short for max_connections, which was warned about): large bodies
// still splice, and connections keep seven eighths.
uint64_t pipes_allowed(uint64_t fd_limit, uint64_t max_connections);

// What to ask for: fds_needed() and room for the pipes.
uint64_t fds_wanted(uint64_t max_connections);

// Raises the soft limit to `wanted` (never lowers it), capped at the hard limit.
FdLimit raise_fd_limit(uint64_t wanted);

}  // namespace clb::net
