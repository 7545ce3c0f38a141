// Real sockets for the proxy's unit tests: connected TCP pairs on 127.0.0.1.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "contrail_lb/net/fd.hpp"

namespace clb::proxy {

inline void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Two connected TCP sockets on 127.0.0.1; `far` blocking (the test's side), `near` not.
struct TcpPair {
    net::Fd near, far;
    TcpPair() {
        net::Fd listener(::socket(AF_INET, SOCK_STREAM, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
        EXPECT_EQ(::listen(listener.get(), 1), 0);
        EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
        far = net::Fd(::socket(AF_INET, SOCK_STREAM, 0));
        EXPECT_EQ(::connect(far.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
        near = net::Fd(::accept(listener.get(), nullptr, nullptr));
        set_nonblocking(near.get());
    }
};

inline void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ASSERT_GT(n, 0);
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

inline std::string recv_some(int fd, size_t max) {
    std::string out(max, '\0');
    ssize_t n = ::recv(fd, out.data(), max, MSG_DONTWAIT);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
}

}  // namespace clb::proxy
