// Addresses as the configuration, the proxy (X-Forwarded-For) and BGP (prefixes) use them.
#include "contrail_lb/net/address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace clb::net {
namespace {

TEST(IpAddress, ParsesIpv4AndIpv6Text) {
    auto v4 = IpAddress::parse("10.0.0.11");
    ASSERT_TRUE(v4);
    EXPECT_TRUE(v4->is_v4());
    EXPECT_EQ(v4->size(), 4u);
    EXPECT_EQ(v4->v4_host_order(), 0x0a00000bu);

    auto v6 = IpAddress::parse("2001:db8::1");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->is_v6());
    EXPECT_EQ(v6->family(), AF_INET6);
    EXPECT_EQ(v6->size(), 16u);
    EXPECT_EQ(v6->bytes()[0], 0x20);
    EXPECT_EQ(v6->bytes()[15], 0x01);
}

TEST(IpAddress, RefusesWhatIsNotALiteralAddress) {
    for (const char* text :
         {"", "localhost", "10.0.0", "10.0.0.256", "[::1]", "::1%eth0", "1.2.3.4 ", "2001:db8:::1",
          "0123456789012345678901234567890123456789012345"})
        EXPECT_FALSE(IpAddress::parse(text)) << text;
}

TEST(IpAddress, FormatsCanonically) {
    EXPECT_EQ(IpAddress::parse("127.0.0.1")->to_string(), "127.0.0.1");
    EXPECT_EQ(IpAddress::parse("0.0.0.0")->to_string(), "0.0.0.0");
    EXPECT_EQ(IpAddress::parse("2001:0db8:0:0:0:0:0:0001")->to_string(), "2001:db8::1");
    EXPECT_EQ(IpAddress::parse("::ffff:10.1.2.3")->to_string(), "::ffff:10.1.2.3");
    EXPECT_EQ(IpAddress().to_string(), "unspec");
}

// append_to writes IPv4 digits itself (no inet_ntop): every octet width must come out right.
TEST(IpAddress, AppendToMatchesInetNtopForEveryOctetWidth) {
    for (const char* text : {"0.9.10.99", "100.199.200.255", "1.22.233.4", "255.255.255.255"}) {
        std::string out = "for=";
        IpAddress::parse(text)->append_to(out);
        EXPECT_EQ(out, std::string("for=") + text);
    }
    for (unsigned octet = 0; octet < 256; ++octet) {
        in_addr a{};
        a.s_addr = htonl(octet << 24 | octet);
        char expected[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, expected, sizeof expected);
        EXPECT_EQ(IpAddress::v4(a).to_string(), expected);
    }
}

TEST(IpAddress, AppendToAppendsIpv6) {
    std::string out = "a, ";
    IpAddress::parse("fe80::1:2")->append_to(out);
    EXPECT_EQ(out, "a, fe80::1:2");
}

TEST(IpAddress, RoundTripsThroughInAddr) {
    auto v4 = *IpAddress::parse("192.0.2.7");
    EXPECT_EQ(IpAddress::v4(v4.to_in_addr()), v4);
    auto v6 = *IpAddress::parse("2001:db8::7");
    EXPECT_EQ(IpAddress::v6(v6.to_in6_addr()), v6);
    EXPECT_NE(v4, v6);
}

TEST(IpPrefix, ParsesAndFormats) {
    auto p = IpPrefix::parse("10.0.0.0/8");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->length, 8);
    EXPECT_EQ(p->to_string(), "10.0.0.0/8");
    EXPECT_EQ(IpPrefix::parse("2001:db8::/32")->to_string(), "2001:db8::/32");
    EXPECT_EQ(IpPrefix::parse("10.0.0.100/32")->length, 32);
    EXPECT_EQ(IpPrefix::parse("::/0")->length, 0);
}

TEST(IpPrefix, RefusesHostBitsAndBadLengths) {
    for (const char* text : {"10.0.0.1/8", "10.0.0.0/33", "2001:db8::1/64", "::/129", "10.0.0.0",
                             "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8x", "x/8"})
        EXPECT_FALSE(IpPrefix::parse(text)) << text;
}

TEST(SocketAddress, ParsesIpv4Ipv6AndWildcard) {
    auto v4 = SocketAddress::parse("10.0.0.11:8082");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->family(), AF_INET);
    EXPECT_EQ(v4->port(), 8082);
    EXPECT_EQ(v4->len(), sizeof(sockaddr_in));
    EXPECT_EQ(v4->to_string(), "10.0.0.11:8082");

    auto v6 = SocketAddress::parse("[::1]:443");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->family(), AF_INET6);
    EXPECT_EQ(v6->len(), sizeof(sockaddr_in6));
    EXPECT_EQ(v6->ip(), *IpAddress::parse("::1"));
    EXPECT_EQ(v6->to_string(), "[::1]:443");

    EXPECT_EQ(SocketAddress::parse("*:80")->to_string(), "0.0.0.0:80");
    EXPECT_EQ(SocketAddress::parse("[::]:0")->port(), 0);
}

TEST(SocketAddress, RefusesNamesMissingPortsAndBareIpv6) {
    for (const char* text : {"", "8082", "localhost:80", "10.0.0.1:", "10.0.0.1:65536",
                             "10.0.0.1:-1", "10.0.0.1:80x", "::1:80", "[::1]80", "[::1]:", "[::1"})
        EXPECT_FALSE(SocketAddress::parse(text)) << text;
}

TEST(SocketAddress, EqualityComparesFamilyAddressAndPort) {
    EXPECT_EQ(*SocketAddress::parse("127.0.0.1:80"),
              SocketAddress(*IpAddress::parse("127.0.0.1"), 80));
    EXPECT_NE(*SocketAddress::parse("127.0.0.1:80"), *SocketAddress::parse("127.0.0.1:81"));
    EXPECT_NE(*SocketAddress::parse("127.0.0.1:80"), *SocketAddress::parse("127.0.0.2:80"));
    EXPECT_NE(*SocketAddress::parse("[::ffff:127.0.0.1]:80"),
              *SocketAddress::parse("127.0.0.1:80"));
}

TEST(SocketAddress, FromSockaddrKeepsWhatTheKernelGave) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(179);
    inet_pton(AF_INET6, "2001:db8::2", &sin6.sin6_addr);
    auto addr = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
    EXPECT_EQ(addr.to_string(), "[2001:db8::2]:179");
    EXPECT_EQ(SocketAddress().family(), AF_UNSPEC);
    EXPECT_EQ(SocketAddress().port(), 0);
}

}  // namespace
}  // namespace clb::net
