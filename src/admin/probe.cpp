// contrail-lb --healthcheck: a blocking HTTP/1.1 client for exactly one request.
#include "contrail_lb/admin/probe.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::admin {
namespace {

using Clock = std::chrono::steady_clock;

// 0.0.0.0 and :: are where the admin listener listens, not addresses to connect to.
net::SocketAddress connectable(const net::SocketAddress& admin) {
    const net::IpAddress ip = admin.ip();
    if (ip.is_v4() && ip.v4_host_order() == 0)
        return {*net::IpAddress::parse("127.0.0.1"), admin.port()};
    if (ip.is_v6() && ip == *net::IpAddress::parse("::"))
        return {*net::IpAddress::parse("::1"), admin.port()};
    return admin;
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

struct Failure {
    std::string what;
};

void send_all(int fd, std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            throw Failure{"send: " + net::error_text(errno)};
        } else if (!wait_for(fd, POLLOUT, deadline)) {
            throw Failure{"send: timed out"};
        }
    }
}

// Reads until the response head is complete; /healthz answers are a few hundred bytes.
std::string read_head(int fd, Clock::time_point deadline) {
    constexpr size_t kMaxHead = 16 * 1024;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
        if (head.size() > kMaxHead) throw Failure{"response head larger than 16 KiB"};
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            head.append(buf, static_cast<size_t>(n));
        } else if (n == 0) {
            throw Failure{"connection closed before a response"};
        } else if (errno != EAGAIN && errno != EINTR) {
            throw Failure{"recv: " + net::error_text(errno)};
        } else if (!wait_for(fd, POLLIN, deadline)) {
            throw Failure{"no response: timed out"};
        }
    }
    return head.substr(0, head.find("\r\n\r\n") + 4);
}

int healthz_status(const net::SocketAddress& target, Clock::time_point deadline) {
    int error = 0;
    net::Fd fd = net::connect_tcp(target, error);
    if (!fd) throw Failure{"connect: " + net::error_text(error)};
    if (!wait_for(fd.get(), POLLOUT, deadline)) throw Failure{"connect: timed out"};
    if (int err = net::take_socket_error(fd.get()))
        throw Failure{"connect: " + net::error_text(err)};

    // Host is the admin address itself, which the admin listener accepts (docs/admin.md).
    send_all(fd.get(),
             "GET /healthz HTTP/1.1\r\nHost: " + target.to_string() +
                 "\r\nUser-Agent: contrail-lb-healthcheck\r\nConnection: close\r\n\r\n",
             deadline);
    const std::string head = read_head(fd.get(), deadline);
    http::MessageParser parser(http::Kind::response);
    if (!parser.parse_head(head.data(), head.size()))
        throw Failure{"malformed response: " + std::string(parser.error())};
    return parser.status();
}

}  // namespace

ProbeResult probe_healthz(const net::SocketAddress& admin, std::chrono::milliseconds timeout) {
    const net::SocketAddress target = connectable(admin);
    const std::string where = target.to_string() + "/healthz: ";
    try {
        const int status = healthz_status(target, Clock::now() + timeout);
        if (status == 200) return {true, where + "200 ok"};
        return {false, where + "status " + std::to_string(status) +
                           (status == 503 ? " (a worker event loop is stalled)" : "")};
    } catch (const Failure& failure) {
        return {false, where + failure.what};
    }
}

}  // namespace clb::admin
