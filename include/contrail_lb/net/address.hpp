// IP addresses, prefixes and socket addresses as plain value types.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clb::net {

class IpAddress {
  public:
    IpAddress() = default;
    static IpAddress v4(const in_addr& a);
    static IpAddress v6(const in6_addr& a);
    // Accepts dotted IPv4 or IPv6 text, without brackets.
    static std::optional<IpAddress> parse(std::string_view text);

    bool is_v4() const { return family_ == AF_INET; }
    bool is_v6() const { return family_ == AF_INET6; }
    int family() const { return family_; }
    // Network byte order: 4 bytes for IPv4, 16 for IPv6.
    const uint8_t* bytes() const { return bytes_.data(); }
    size_t size() const { return is_v4() ? 4 : 16; }
    in_addr to_in_addr() const;
    in6_addr to_in6_addr() const;
    uint32_t v4_host_order() const;
    std::string to_string() const;
    // Appends the text form to `out`: the proxy's X-Forwarded-For, per request, without
    // inet_ntop's sprintf for IPv4 or a temporary string.
    void append_to(std::string& out) const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;

  private:
    int family_ = AF_UNSPEC;
    std::array<uint8_t, 16> bytes_{};
};

struct IpPrefix {
    IpAddress address;
    uint8_t length = 0;

    // "10.0.0.100/32", "2001:db8::1/128"; host bits must be zero.
    static std::optional<IpPrefix> parse(std::string_view text);
    std::string to_string() const;
    friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

class SocketAddress {
  public:
    SocketAddress();
    SocketAddress(const IpAddress& ip, uint16_t port);
    static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);
    // "10.0.0.11:8082", "[::1]:8082", "*:8082" (= 0.0.0.0). Literal addresses only:
    // a load balancer must not depend on DNS at start or reload.
    static std::optional<SocketAddress> parse(std::string_view text);

    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t len() const { return len_; }
    int family() const { return storage_.ss_family; }
    uint16_t port() const;
    IpAddress ip() const;
    // "10.0.0.11:8082" / "[::1]:8082"
    std::string to_string() const;

    friend bool operator==(const SocketAddress& a, const SocketAddress& b);

  private:
    sockaddr_storage storage_{};
    socklen_t len_ = 0;
};

}  // namespace clb::net
