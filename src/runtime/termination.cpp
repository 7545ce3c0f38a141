#include "contrail_lb/runtime/termination.hpp"

#include <cerrno>

namespace clb::runtime {

std::string_view name(Termination cause) {
    static constexpr std::array<std::string_view, kTerminationCount> kNames{
        "completed",       "client_abort",  "client_timeout",  "request_timeout",
        "bad_request",     "no_backend",    "backend_refused", "backend_unreachable",
        "connect_timeout", "backend_reset", "server_timeout",  "bad_response",
        "local_resource",  "over_capacity", "redirect",        "queue_timeout",
        "shutdown",
    };
    return kNames[static_cast<size_t>(cause)];
}

std::string_view name(Phase phase) {
    static constexpr std::array<std::string_view, 6> kNames{"request", "queue", "connect",
                                                            "headers", "data",  "tunnel"};
    return kNames[static_cast<size_t>(phase)];
}

namespace {
bool local_error(int error) {
    switch (error) {
        case EMFILE:         // this process is out of fds
        case ENFILE:         // the system is
        case ENOBUFS:        // out of socket buffers
        case ENOMEM:         // out of kernel memory
        case EADDRNOTAVAIL:  // out of source ports (or the local address is gone)
        case EADDRINUSE:     // bind conflict on our side
        case EAGAIN:         // no ephemeral port left (unix sockets, older kernels)
        case EACCES:         // a local firewall rule or a policy refused it
        case EPERM:
            return true;
        default:
            return false;
    }
}
}  // namespace

bool backend_caused(int error) {
    return error != 0 && !local_error(error);
}

Termination connect_termination(int error) {
    if (local_error(error)) return Termination::local_resource;
    switch (error) {
        case ECONNREFUSED:
            return Termination::backend_refused;
        case ETIMEDOUT:
            return Termination::connect_timeout;
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
            return Termination::backend_reset;
        default:
            return Termination::backend_unreachable;
    }
}

}  // namespace clb::runtime
