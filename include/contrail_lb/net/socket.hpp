// Non-blocking TCP socket helpers. Errors come back as errno values, never exceptions:
// on the data path a failed syscall is an ordinary event.
#pragma once

#include <string>

#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::net {

struct ListenOptions {
    bool reuse_port = true;  // one socket per worker, the kernel spreads connections
    int backlog = 4096;
    bool v6_only = true;  // "[::]:80" does not also take IPv4
};

// Bound, listening, non-blocking socket; on failure an invalid Fd and `error` set to errno.
Fd listen_tcp(const SocketAddress& addr, const ListenOptions& opts, int& error);

// Starts a non-blocking connect. Returns the socket (connect may still be in progress:
// wait for writability, then call take_socket_error). Invalid Fd and errno on failure.
Fd connect_tcp(const SocketAddress& addr, int& error);

// SO_ERROR of a socket: 0 once a non-blocking connect succeeded.
int take_socket_error(int fd);

void set_nodelay(int fd);
// close() then sends a RST instead of a FIN: the peer cannot take what it got as complete.
void reset_on_close(int fd);
bool set_nonblocking(int fd);
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

// strerror as a std::string, e.g. "Connection refused".
std::string error_text(int err);

}  // namespace clb::net
