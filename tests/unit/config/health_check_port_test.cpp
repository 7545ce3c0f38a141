// health_check.port (HAProxy's `check port`): parsing, validation and the checked address.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace clb::config::test {
namespace {

using Errors = std::vector<std::string>;

TEST(HealthCheckPort, DefaultsToTheBackendsOwnPort) {
    auto config = load_ok(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: http }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)");
    ASSERT_TRUE(config);
    const Service& service = config->services[0];
    EXPECT_EQ(service.health_check.port, 0);
    EXPECT_EQ(check_address(service.health_check, service.backends[0].address).to_string(),
              "127.0.0.1:9101");
}

TEST(HealthCheckPort, ChecksTheBackendsIpOnThatPort) {
    for (const char* type : {"http", "tcp"}) {
        auto config = load_ok(std::string(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: )") +
                              type + R"(, port: 8143 }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
      - { name: b2, address: "[::1]:9102" }
)");
        ASSERT_TRUE(config) << type;
        const Service& service = config->services[0];
        EXPECT_EQ(service.health_check.port, 8143) << type;
        EXPECT_EQ(check_address(service.health_check, service.backends[0].address).to_string(),
                  "127.0.0.1:8143");
        EXPECT_EQ(check_address(service.health_check, service.backends[1].address).to_string(),
                  "[::1]:8143");
        // The traffic still goes to the backend's own port.
        EXPECT_EQ(service.backends[0].address.to_string(), "127.0.0.1:9101");
    }
}

TEST(HealthCheckPort, OutOfRangeOrNotAnInteger) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check:
      type: http
      port: 0
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
  - name: web
    listen: "127.0.0.1:8083"
    health_check:
      type: tcp
      port: 65536
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:6:13: services[0].health_check.port: 0 is out of range 1..65535",
                      "t.yaml:13:13: services[1].health_check.port: 65536 is out of range "
                      "1..65535"}));
    auto errors = errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: http, port: web }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:4:39: services[0].health_check.port: ", 0), 0u) << errors[0];
}

TEST(HealthCheckPort, IsAnErrorWithTypeNone) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check:
      type: none
      port: 8143
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:6:13: services[0].health_check.port: type none runs no checks; "
                     "remove it or use type http or tcp"});
}

TEST(HealthCheckPort, InvalidTypeIsReportedAloneNotAsAPortError) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: htp, port: 8143 }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:27: services[0].health_check.type: unknown value \"htp\": use "
                     "http, tcp or none (did you mean \"http\"?)"});
}

}  // namespace
}  // namespace clb::config::test
