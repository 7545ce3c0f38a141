// Helpers for the speaker tests: a libev loop driven by the test until a condition holds,
// config builders, and a scripted BGP peer (a real TCP listener on 127.0.0.1 speaking our
// own wire codec) that can misbehave on purpose.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "contrail_lb/bgp/wire.hpp"
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"

namespace clb::bgp::test {

using Clock = std::chrono::steady_clock;

// Runs `loop` until `done()` holds or `timeout` passes; true when it held.
inline bool run_until(net::Loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = Clock::now() + timeout;
    net::Timer tick(loop.raw(), [] {});
    tick.start(0.01, 0.01);  // wakes the loop so `done` is polled even when nothing happens
    while (!done()) {
        if (Clock::now() > deadline) return false;
        ev_run(loop.raw(), EVRUN_ONCE);
    }
    return true;
}

inline config::Bgp make_config(uint32_t local_as, std::vector<config::BgpPeer> peers,
                               std::vector<config::Vip> vips) {
    config::Bgp c;
    c.router_id = *net::IpAddress::parse("10.255.0.1");
    c.local_as = local_as;
    c.hold_time = std::chrono::seconds(9);
    c.peers = std::move(peers);
    c.vips = std::move(vips);
    return c;
}

inline config::BgpPeer make_peer(const char* address, uint16_t port, uint32_t remote_as) {
    config::BgpPeer p;
    p.address = *net::IpAddress::parse(address);
    p.port = port;
    p.remote_as = remote_as;
    return p;
}

inline config::Vip make_vip(const char* prefix, std::vector<std::string> services = {"api"}) {
    config::Vip v;
    v.prefix = *net::IpPrefix::parse(prefix);
    v.require.services = std::move(services);
    v.require.min_healthy_backends = 1;
    return v;
}

// A BGP peer in the test's own hands: it listens, accepts the speaker's connection, and
// exchanges messages through non-blocking reads polled while the speaker's loop runs.
class ScriptedPeer {
  public:
    explicit ScriptedPeer(const char* address = "127.0.0.1") {
        listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int one = 1;
        ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        ::inet_pton(AF_INET, address, &sa.sin_addr);
        ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        ::listen(listener_.get(), 8);
        socklen_t len = sizeof sa;
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
    }

    uint16_t port() const { return port_; }
    bool connected() const { return conn_.valid(); }

    // Non-blocking: true once a connection was accepted.
    bool try_accept() {
        if (conn_) return true;
        int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return false;
        conn_.reset(fd);
        in_.clear();
        eof_ = false;
        return true;
    }

    void send(const wire::Message& m, const wire::SessionOptions& o = {}) {
        send_raw(wire::encode(m, o));
    }
    void send_raw(const std::vector<uint8_t>& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(conn_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += static_cast<size_t>(n);
            } else {
                pollfd p{conn_.get(), POLLOUT, 0};
                if (::poll(&p, 1, 100) < 0) return;
                if (n < 0 && errno != EAGAIN) return;
            }
        }
    }

    // Non-blocking: the next whole message the speaker sent, if any.
    std::optional<wire::Message> try_receive(const wire::SessionOptions& o = {}) {
        uint8_t buf[8192];
        for (;;) {
            ssize_t n = ::read(conn_.get(), buf, sizeof buf);
            if (n > 0) {
                in_.insert(in_.end(), buf, buf + n);
                continue;
            }
            if (n == 0) eof_ = true;
            break;
        }
        auto frame = wire::check_header(in_);
        if (frame.status != wire::Frame::Status::complete) return std::nullopt;
        auto d = wire::decode({in_.data(), frame.length}, o);
        in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(frame.length));
        if (!d.message) return std::nullopt;
        return d.message;
    }
    bool eof() const { return eof_; }
    void close() { conn_.reset(); }
    // Closes with a TCP RST (SO_LINGER 0): the speaker's next write on it fails.
    void reset() {
        linger off{1, 0};
        ::setsockopt(conn_.get(), SOL_SOCKET, SO_LINGER, &off, sizeof off);
        conn_.reset();
    }

    // Also dial the speaker's passive port (for collision tests): the new connection becomes
    // this peer's connection, the accepted one is returned to the caller to keep.
    net::Fd dial_and_swap(uint16_t port) {
        net::Fd accepted = std::move(conn_);
        conn_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        ::connect(conn_.get(), reinterpret_cast<sockaddr*>(&to), sizeof to);
        ::fcntl(conn_.get(), F_SETFL, O_NONBLOCK);
        in_.clear();
        eof_ = false;
        return accepted;
    }
    // Swaps the current connection with `other` (and forgets buffered input).
    void swap_connection(net::Fd& other) {
        std::swap(conn_, other);
        in_.clear();
        eof_ = false;
    }

    // Answers the speaker's OPEN with ours and a KEEPALIVE; returns the speaker's OPEN.
    std::optional<wire::Open> establish(net::Loop& loop, uint32_t as, uint16_t hold = 9,
                                        uint32_t id = 0x0A0000FE) {
        if (!run_until(loop, [&] { return try_accept(); })) return std::nullopt;
        std::optional<wire::Open> theirs;
        if (!run_until(loop, [&] {
                auto m = try_receive();
                if (m && std::holds_alternative<wire::Open>(*m)) theirs = std::get<wire::Open>(*m);
                return theirs.has_value();
            }))
            return std::nullopt;
        wire::Open open;
        open.my_as = as > 0xFFFF ? wire::kAsTrans : static_cast<uint16_t>(as);
        open.hold_time = hold;
        open.bgp_identifier = id;
        open.capabilities.multiprotocol = {wire::kIpv4Unicast, wire::kIpv6Unicast};
        open.capabilities.four_octet_as = as;
        open.capabilities.route_refresh = true;
        send(open);
        send(wire::Keepalive{});
        return theirs;
    }

  private:
    net::Fd listener_;
    net::Fd conn_;
    uint16_t port_ = 0;
    std::vector<uint8_t> in_;
    bool eof_ = false;
};

}  // namespace clb::bgp::test
