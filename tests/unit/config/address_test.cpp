// Listener and backend addresses: IPv4, IPv6, the wildcard, and what is refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "config_test_util.hpp"
#include "contrail_lb/net/address.hpp"

namespace clb::config::test {
namespace {

std::string service_listening_on(std::string_view listen) {
    return "services:\n  - name: api\n    listen: " + std::string(listen) +
           "\n    backends:\n      - { name: b1, address: \"127.0.0.1:9101\" }\n";
}

TEST(Addresses, ListenTakesASingleStringOrAList) {
    auto single = load_ok(service_listening_on("\"127.0.0.1:8082\""));
    ASSERT_TRUE(single);
    ASSERT_EQ(single->services[0].listen.size(), 1u);
    EXPECT_EQ(single->services[0].listen[0].to_string(), "127.0.0.1:8082");

    auto list = load_ok(service_listening_on("[\"127.0.0.1:8082\", \"[::1]:8082\", \"*:9000\"]"));
    ASSERT_TRUE(list);
    const auto& listen = list->services[0].listen;
    ASSERT_EQ(listen.size(), 3u);
    EXPECT_EQ(listen[0].family(), AF_INET);
    EXPECT_EQ(listen[1].family(), AF_INET6);
    EXPECT_EQ(listen[1].to_string(), "[::1]:8082");
    EXPECT_EQ(listen[2].to_string(), "0.0.0.0:9000");  // "*" is the IPv4 wildcard
}

TEST(Addresses, PlainScalarWithoutQuotesWorksForIpv4) {
    auto config = load_ok(service_listening_on("127.0.0.1:8082"));
    ASSERT_TRUE(config);
    EXPECT_EQ(config->services[0].listen[0].port(), 8082);
}

TEST(Addresses, Ipv6Backend) {
    auto config = load_ok(R"(
services:
  - name: api
    listen: "[::]:8082"
    backends:
      - { name: b1, address: "[2001:db8::11]:8082" }
      - { name: b2, address: "[::ffff:10.0.0.12]:8082" }
)");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->services[0].backends[0].address.to_string(), "[2001:db8::11]:8082");
    EXPECT_TRUE(config->services[0].backends[1].address.ip().is_v6());
}

TEST(Addresses, BadListenAddressesAreReportedAtTheirPosition) {
    const std::string hint = ": use IP:PORT, e.g. 10.0.0.11:8082, \"[::1]:8082\" or \"*:8082\"";
    struct Case {
        std::string_view text;
        std::string quoted;
    };
    for (const Case& c :
         {Case{"\"localhost:8082\"", "\"localhost:8082\""}, Case{"\"10.0.0.1\"", "\"10.0.0.1\""},
          Case{"\"10.0.0.1:\"", "\"10.0.0.1:\""}, Case{"\"10.0.0.1:65536\"", "\"10.0.0.1:65536\""},
          Case{"\"10.0.0.256:80\"", "\"10.0.0.256:80\""}, Case{"\"::1:8082\"", "\"::1:8082\""},
          Case{"\"[::1]8082\"", "\"[::1]8082\""}, Case{"\"[::1\"", "\"[::1\""},
          Case{"\"\"", "\"\""}}) {
        EXPECT_EQ(errors_of(service_listening_on(c.text)),
                  std::vector<std::string>{"t.yaml:3:13: services[0].listen: invalid address " +
                                           c.quoted + hint})
            << c.text;
    }
}

TEST(Addresses, PortZeroIsRefused) {
    EXPECT_EQ(errors_of(service_listening_on("[\"127.0.0.1:0\"]")),
              std::vector<std::string>{"t.yaml:3:14: services[0].listen[0]: port 0 in "
                                       "\"127.0.0.1:0\" is not a usable port (1..65535)"});
}

TEST(Addresses, HostNamesAreNotResolved) {
    auto errors = errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "ctrl1.example.net:8082" }
)");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:5:30: services[0].backends[0].address: invalid address", 0),
              0u)
        << errors[0];
}

TEST(Addresses, WildcardBackendIsRefused) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "*:9101" }
)"),
              std::vector<std::string>{"t.yaml:5:30: services[0].backends[0].address: 0.0.0.0:9101 "
                                       "is a wildcard; a backend needs the address to connect to"});
}

}  // namespace
}  // namespace clb::config::test

// The proxy formats the client's address into X-Forwarded-For on every request with its own
// IPv4 formatter: it must print what inet_ntop prints, for every octet value.
TEST(IpAddressText, IPv4MatchesInetNtop) {
    for (unsigned v : {0u, 9u, 10u, 99u, 100u, 199u, 200u, 255u}) {
        for (unsigned position = 0; position < 4; ++position) {
            uint8_t octets[4] = {127, 0, 0, 1};
            octets[position] = static_cast<uint8_t>(v);
            char expected[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, octets, expected, sizeof expected);
            auto ip = clb::net::IpAddress::parse(expected);
            ASSERT_TRUE(ip) << expected;
            EXPECT_EQ(ip->to_string(), expected);
            std::string appended = "for=";
            ip->append_to(appended);
            EXPECT_EQ(appended, std::string("for=") + expected);
        }
    }
    EXPECT_EQ(clb::net::IpAddress::parse("2001:db8::1")->to_string(), "2001:db8::1");
}
