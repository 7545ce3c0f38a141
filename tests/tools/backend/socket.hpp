// Sockets for clb-test-backend: an owning fd, host:port parsing and listeners.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace clb_test {

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_ = -1;
};

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

// "127.0.0.1:9101" or "[::1]:9101"; port 0 lets the kernel choose.
inline std::optional<SocketAddress> parse_address(std::string_view text) {
    std::string host;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.begin(), port_text.end(), port);
    if (ec != std::errc() || end != port_text.end() || port > 65535) return std::nullopt;

    SocketAddress address;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        address.length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        address.length = sizeof(sockaddr_in6);
    } else {
        return std::nullopt;
    }
    return address;
}

inline std::string format_address(const SocketAddress& address) {
    char host[INET6_ADDRSTRLEN] = {};
    std::string text;
    if (address.storage.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        text.append("[").append(host).append("]:").append(std::to_string(ntohs(v6->sin6_port)));
    } else {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        text.append(host).append(":").append(std::to_string(ntohs(v4->sin_port)));
    }
    return text;
}

[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

// A non-blocking listening socket. reuse_port lets every worker thread own a
// listener on the same address (the kernel spreads connections); it stays off for a
// single thread so that a leftover process on the port makes bind fail loudly.
inline Fd make_listener(const SocketAddress& address, bool reuse_port) {
    Fd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_errno("socket");
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        throw_errno("SO_REUSEPORT");
    if (address.storage.ss_family == AF_INET6)
        setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), address.get(), address.length) < 0)
        throw_errno("bind " + format_address(address));
    if (::listen(fd.get(), 1024) < 0) throw_errno("listen " + format_address(address));
    return fd;
}

inline SocketAddress local_address(int fd) {
    SocketAddress address;
    address.length = sizeof address.storage;
    if (::getsockname(fd, address.get(), &address.length) < 0) throw_errno("getsockname");
    return address;
}

}  // namespace clb_test
