#include "contrail_lb/net/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace clb::net {

IpAddress IpAddress::v4(const in_addr& a) {
    IpAddress ip;
    ip.family_ = AF_INET;
    std::memcpy(ip.bytes_.data(), &a, 4);
    return ip;
}

IpAddress IpAddress::v6(const in6_addr& a) {
    IpAddress ip;
    ip.family_ = AF_INET6;
    std::memcpy(ip.bytes_.data(), &a, 16);
    return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr a4{};
    if (inet_pton(AF_INET, buf, &a4) == 1) return v4(a4);
    in6_addr a6{};
    if (inet_pton(AF_INET6, buf, &a6) == 1) return v6(a6);
    return std::nullopt;
}

in_addr IpAddress::to_in_addr() const {
    in_addr a{};
    std::memcpy(&a, bytes_.data(), 4);
    return a;
}

in6_addr IpAddress::to_in6_addr() const {
    in6_addr a{};
    std::memcpy(&a, bytes_.data(), 16);
    return a;
}

uint32_t IpAddress::v4_host_order() const {
    return ntohl(to_in_addr().s_addr);
}

std::string IpAddress::to_string() const {
    std::string out;
    append_to(out);
    return out;
}

void IpAddress::append_to(std::string& out) const {
    if (family_ == AF_INET) {
        for (size_t i = 0; i < 4; ++i) {
            unsigned octet = bytes_[i];
            if (i) out.push_back('.');
            if (octet >= 100) out.push_back(static_cast<char>('0' + octet / 100));
            if (octet >= 10) out.push_back(static_cast<char>('0' + octet / 10 % 10));
            out.push_back(static_cast<char>('0' + octet % 10));
        }
        return;
    }
    if (family_ == AF_UNSPEC) {
        out.append("unspec");
        return;
    }
    char buf[INET6_ADDRSTRLEN] = "";
    inet_ntop(family_, bytes_.data(), buf, sizeof buf);
    out.append(buf);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto ip = IpAddress::parse(text.substr(0, slash));
    if (!ip) return std::nullopt;
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty())
        return std::nullopt;
    if (len > ip->size() * 8) return std::nullopt;
    for (unsigned bit = len; bit < ip->size() * 8; ++bit) {
        if (ip->bytes()[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;  // host bits set
    }
    return IpPrefix{*ip, static_cast<uint8_t>(len)};
}

std::string IpPrefix::to_string() const {
    return address.to_string() + "/" + std::to_string(length);
}

SocketAddress::SocketAddress() = default;

SocketAddress::SocketAddress(const IpAddress& ip, uint16_t port) {
    if (ip.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&storage_);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr = ip.to_in_addr();
        len_ = sizeof(sockaddr_in);
    } else if (ip.is_v6()) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage_);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_addr = ip.to_in6_addr();
        len_ = sizeof(sockaddr_in6);
    }
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
    SocketAddress out;
    if (len > sizeof(out.storage_)) len = sizeof(out.storage_);
    std::memcpy(&out.storage_, sa, len);
    out.len_ = len;
    return out;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs []
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535)
        return std::nullopt;
    if (host == "*") host = "0.0.0.0";
    auto ip = IpAddress::parse(host);
    if (!ip) return std::nullopt;
    return SocketAddress(*ip, static_cast<uint16_t>(port));
}

uint16_t SocketAddress::port() const {
    if (family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    if (family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    return 0;
}

IpAddress SocketAddress::ip() const {
    if (family() == AF_INET)
        return IpAddress::v4(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr);
    if (family() == AF_INET6)
        return IpAddress::v6(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    return {};
}

std::string SocketAddress::to_string() const {
    if (family() == AF_INET6) return "[" + ip().to_string() + "]:" + std::to_string(port());
    return ip().to_string() + ":" + std::to_string(port());
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.family() == b.family() && a.port() == b.port() && a.ip() == b.ip();
}

}  // namespace clb::net
