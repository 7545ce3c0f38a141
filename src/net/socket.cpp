#include "contrail_lb/net/socket.hpp"

#include <fcntl.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

namespace clb::net {

namespace {
void set_int_option(int fd, int level, int name, int value) {
    ::setsockopt(fd, level, name, &value, sizeof value);
}
}  // namespace

Fd listen_tcp(const SocketAddress& addr, const ListenOptions& opts, int& error) {
    Fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = errno;
        return {};
    }
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
    if (opts.reuse_port) set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1);
    if (addr.family() == AF_INET6)
        set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, opts.v6_only);
    if (::bind(fd.get(), addr.sa(), addr.len()) < 0 || ::listen(fd.get(), opts.backlog) < 0) {
        error = errno;
        return {};
    }
    error = 0;
    return fd;
}

Fd connect_tcp(const SocketAddress& addr, int& error) {
    Fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = errno;
        return {};
    }
    set_nodelay(fd.get());
    if (::connect(fd.get(), addr.sa(), addr.len()) < 0 && errno != EINPROGRESS) {
        error = errno;
        return {};
    }
    error = 0;
    return fd;
}

int take_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

void set_nodelay(int fd) {
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

void reset_on_close(int fd) {
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
}

bool set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

SocketAddress local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

SocketAddress peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

std::string error_text(int err) {
    char buf[128];
    return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace clb::net
