// Fd ownership and the socket helpers, on real loopback sockets.
#include "contrail_lb/net/socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>

#include "contrail_lb/net/fd.hpp"

namespace clb::net {
namespace {

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

// Waits up to a second for `events` on `fd`.
bool wait_for(int fd, short events) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, 1000) == 1;
}

Fd listen_loopback(const char* text = "127.0.0.1:0") {
    int err = 0;
    Fd fd = listen_tcp(*SocketAddress::parse(text), {}, err);
    EXPECT_EQ(err, 0) << error_text(err);
    return fd;
}

TEST(Fd, ClosesOnceWhenDestroyed) {
    int raw = ::socket(AF_INET, SOCK_STREAM, 0);
    {
        Fd fd(raw);
        EXPECT_TRUE(fd);
        EXPECT_EQ(fd.get(), raw);
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(Fd, MoveTransfersOwnership) {
    int raw = ::socket(AF_INET, SOCK_STREAM, 0);
    Fd a(raw);
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
    Fd c;
    c = std::move(b);
    EXPECT_FALSE(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_TRUE(is_open(raw));
}

TEST(Fd, MoveAssignmentClosesWhatItHeld) {
    int first = ::socket(AF_INET, SOCK_STREAM, 0);
    int second = ::socket(AF_INET, SOCK_STREAM, 0);
    Fd a(first);
    a = Fd(second);
    EXPECT_FALSE(is_open(first));
    EXPECT_EQ(a.get(), second);
}

TEST(Fd, ReleaseGivesUpOwnershipAndResetCloses) {
    int raw = ::socket(AF_INET, SOCK_STREAM, 0);
    {
        Fd fd(raw);
        EXPECT_EQ(fd.release(), raw);
        EXPECT_FALSE(fd);
    }
    EXPECT_TRUE(is_open(raw));
    Fd fd(raw);
    fd.reset();
    EXPECT_FALSE(is_open(raw));
    EXPECT_EQ(fd.get(), -1);
}

TEST(Socket, ListenConnectAcceptOnLoopback) {
    Fd listener = listen_loopback();
    SocketAddress bound = local_address(listener.get());
    EXPECT_EQ(bound.ip().to_string(), "127.0.0.1");
    ASSERT_NE(bound.port(), 0);

    int err = -1;
    Fd client = connect_tcp(bound, err);
    ASSERT_TRUE(client) << error_text(err);
    EXPECT_EQ(err, 0);
    ASSERT_TRUE(wait_for(client.get(), POLLOUT));
    EXPECT_EQ(take_socket_error(client.get()), 0);
    EXPECT_TRUE(::fcntl(client.get(), F_GETFL) & O_NONBLOCK);

    ASSERT_TRUE(wait_for(listener.get(), POLLIN));
    Fd server(::accept(listener.get(), nullptr, nullptr));
    ASSERT_TRUE(server);
    EXPECT_EQ(peer_address(server.get()), local_address(client.get()));
    EXPECT_EQ(peer_address(client.get()), bound);

    ASSERT_TRUE(set_nonblocking(server.get()));
    char byte = 0;
    EXPECT_EQ(::recv(server.get(), &byte, 1, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST(Socket, ConnectToAClosedPortReportsRefused) {
    SocketAddress addr;
    {
        Fd listener = listen_loopback();
        addr = local_address(listener.get());
    }  // closed: nothing listens there now
    int err = 0;
    Fd client = connect_tcp(addr, err);
    if (!client) {
        EXPECT_EQ(err, ECONNREFUSED);
        return;
    }
    ASSERT_TRUE(wait_for(client.get(), POLLOUT));
    EXPECT_EQ(take_socket_error(client.get()), ECONNREFUSED);
}

TEST(Socket, ListenOnAnAddressInUseFailsWithoutReusePort) {
    Fd first = listen_loopback();
    int err = 0;
    Fd second = listen_tcp(local_address(first.get()), {.reuse_port = false}, err);
    EXPECT_FALSE(second);
    EXPECT_EQ(err, EADDRINUSE);
    EXPECT_EQ(error_text(err), "Address already in use");
}

TEST(Socket, ReusePortLetsWorkersShareAnAddress) {
    Fd first = listen_loopback();
    int err = 0;
    Fd second = listen_tcp(local_address(first.get()), {}, err);
    EXPECT_TRUE(second) << error_text(err);
}

TEST(Socket, Ipv6ListenerIsV6Only) {
    int err = 0;
    Fd v6 = listen_tcp(*SocketAddress::parse("[::1]:0"), {}, err);
    if (!v6) GTEST_SKIP() << "no IPv6 loopback here: " << error_text(err);
    int only = 0;
    socklen_t len = sizeof only;
    ASSERT_EQ(::getsockopt(v6.get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, &len), 0);
    EXPECT_EQ(only, 1);
    EXPECT_EQ(local_address(v6.get()).ip().to_string(), "::1");
}

TEST(Socket, ResetOnCloseSendsRst) {
    Fd listener = listen_loopback();
    int err = 0;
    Fd client = connect_tcp(local_address(listener.get()), err);
    ASSERT_TRUE(wait_for(listener.get(), POLLIN));
    Fd server(::accept(listener.get(), nullptr, nullptr));
    reset_on_close(server.get());
    server.reset();
    ASSERT_TRUE(wait_for(client.get(), POLLIN));
    char byte = 0;
    EXPECT_EQ(::recv(client.get(), &byte, 1, 0), -1);
    EXPECT_EQ(errno, ECONNRESET);
}

}  // namespace
}  // namespace clb::net
