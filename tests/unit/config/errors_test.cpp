// One test per kind of configuration error: the exact FILE:LINE:COLUMN and message.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace clb::config::test {
namespace {

using Errors = std::vector<std::string>;

// --- The document itself -------------------------------------------------------------------

TEST(Errors, YamlSyntaxErrorHasItsPosition) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: ["127.0.0.1:8082"
    backends: []
)"),
              Errors{"t.yaml:4:5: YAML syntax error: end of sequence flow not found"});
}

TEST(Errors, TabIndentationIsASyntaxError) {
    auto errors = errors_of("services:\n\t- name: api\n");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:2:", 0), 0u) << errors[0];
    EXPECT_NE(errors[0].find("YAML syntax error"), std::string::npos) << errors[0];
}

TEST(Errors, EmptyDocumentNeedsServices) {
    EXPECT_EQ(errors_of(""),
              Errors{"t.yaml:1:1: missing required key \"services\" in the top level"});
    EXPECT_EQ(errors_of("# nothing yet\n"),
              Errors{"t.yaml:1:1: missing required key \"services\" in the top level"});
}

TEST(Errors, SecondDocumentIsRefused) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "---\nservices: []\n"),
              Errors{"t.yaml:6:1: a second YAML document starts here: the configuration is a "
                     "single document (remove the extra \"---\")"});
    // The first document is still checked.
    EXPECT_EQ(errors_of("global: { workers: 0 }\n---\n"),
              (Errors{"t.yaml:1:1: missing required key \"services\" in the top level",
                      "t.yaml:1:20: global.workers: 0 is out of range 1..256",
                      "t.yaml:2:1: a second YAML document starts here: the configuration is a "
                      "single document (remove the extra \"---\")"}));
}

// yaml-cpp 0.7's LoadAll never returns on these (found by fuzz_config_load).
TEST(Errors, StrayFlowIndicatorAtTopLevel) {
    EXPECT_EQ(errors_of(","), Errors{"t.yaml:1:1: YAML syntax error: unexpected \",\""});
    EXPECT_EQ(errors_of("- a\n,\n"), Errors{"t.yaml:2:1: YAML syntax error: unexpected \",\""});
    EXPECT_EQ(errors_of(std::string(kOneService) + "]\n"),
              Errors{"t.yaml:6:1: YAML syntax error: illegal flow end"});
}

TEST(Errors, TopLevelMustBeAMapping) {
    EXPECT_EQ(errors_of("- services\n"),
              Errors{"t.yaml:1:1: the configuration: expected a mapping of keys, got a list"});
}

// --- Keys -----------------------------------------------------------------------------------

TEST(Errors, UnknownKeySuggestsTheClosestOne) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check:
      type: http
      timout: 1s
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:6:7: unknown key \"timout\" in services[0].health_check (did you "
                     "mean \"timeout\"?)"});
}

TEST(Errors, UnknownKeyFarFromAnyListsTheAllowedOnes) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "frontend: {}\n"),
              Errors{"t.yaml:6:1: unknown key \"frontend\" at top level (expected global, admin, "
                     "services or bgp)"});
}

TEST(Errors, TransposedLettersAreATypoToo) {
    EXPECT_EQ(
        errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    retires: 3
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
        Errors{"t.yaml:4:5: unknown key \"retires\" in services[0] (did you mean \"retries\"?)"});
}

TEST(Errors, DuplicateKey) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: 1s\n  grace: 2s\n"),
              Errors{"t.yaml:8:3: duplicate key \"grace\" in global (first at 7:3)"});
}

TEST(Errors, MissingRequiredKeyIsReportedAtTheMapping) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:2:5: missing required key \"listen\" in services[0]"});
}

TEST(Errors, KeyWithoutValueIsReportedAtTheKey) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace:\n  workers: 2\n"),
              Errors{"t.yaml:7:3: global.grace: no value given"});
}

// --- Types ----------------------------------------------------------------------------------

TEST(Errors, StringWhereAnIntegerGoes) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  max_connections: lots\n"),
              Errors{"t.yaml:7:20: global.max_connections: expected an integer in 1..10000000, "
                     "got \"lots\""});
}

TEST(Errors, QuotedNumberIsAString) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  max_connections: \"100\"\n"),
              Errors{"t.yaml:7:20: global.max_connections: expected an integer in 1..10000000, "
                     "got \"100\""});
}

TEST(Errors, NonDecimalIntegersAreRefused) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  max_connections: 0x100\n"),
              Errors{"t.yaml:7:20: global.max_connections: expected an integer in 1..10000000, "
                     "got \"0x100\""});
}

TEST(Errors, IntegerOutOfRange) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  max_connections: 0\n"),
              Errors{"t.yaml:7:20: global.max_connections: 0 is out of range 1..10000000"});
}

TEST(Errors, NotABoolean) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  access_log: yes\n"),
              Errors{"t.yaml:7:15: global.access_log: expected true or false, got \"yes\""});
}

TEST(Errors, ListWhereAMappingGoes) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global: [workers]\n"),
              Errors{"t.yaml:6:9: global: expected a mapping of keys, got a list"});
}

TEST(Errors, MappingWhereAStringGoes) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  log_level: {info: true}\n"),
              Errors{"t.yaml:7:14: global.log_level: expected a string, got a mapping"});
}

TEST(Errors, UnknownChoiceNamesTheValidOnes) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  log_level: warning\n"),
              Errors{"t.yaml:7:14: global.log_level: unknown value \"warning\": use trace, debug, "
                     "info, warn or error (did you mean \"warn\"?)"});
}

// --- global ---------------------------------------------------------------------------------

TEST(Errors, Workers) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  workers: 0\n"),
              Errors{"t.yaml:7:12: global.workers: 0 is out of range 1..256"});
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  workers: 257\n"),
              Errors{"t.yaml:7:12: global.workers: 257 is out of range 1..256"});
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  workers: all\n"),
              Errors{"t.yaml:7:12: global.workers: expected auto or an integer in 1..256, got "
                     "\"all\""});
}

TEST(Errors, InvalidDuration) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: 2x\n"),
              Errors{"t.yaml:7:10: global.grace: invalid duration \"2x\": use a number with a "
                     "unit: 250ms, 2s, 1m"});
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: 10\n"),
              Errors{"t.yaml:7:10: global.grace: invalid duration \"10\": use a number with a "
                     "unit: 250ms, 2s, 1m"});
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: -1s\n"),
              Errors{"t.yaml:7:10: global.grace: invalid duration \"-1s\": use a number with a "
                     "unit: 250ms, 2s, 1m"});
}

TEST(Errors, DurationTooLong) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: 25h\n"),
              Errors{"t.yaml:7:10: global.grace: 25h is too long: must be at most 24h"});
}

TEST(Errors, HugeValuesAreShortenedInMessages) {
    const std::string digits(5000, '9');
    const std::string name(5000, 'x');
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  max_connections: " + digits + "\n"),
              Errors{"t.yaml:7:20: global.max_connections: 999999999999999999999999... is out of "
                     "range 1..10000000"});
    EXPECT_EQ(errors_of(std::string(kOneService) + "global:\n  grace: " + std::string(100, '0') +
                        "25h\n"),
              Errors{"t.yaml:7:10: global.grace: 25h is too long: must be at most 24h"});
    auto errors = errors_of(std::string(kOneService) + "global:\n  " + name + ": 1\n");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_LT(errors[0].size(), 300u);
}

// --- admin ----------------------------------------------------------------------------------

TEST(Errors, AdminListen) {
    EXPECT_EQ(errors_of(std::string(kOneService) + "admin:\n  listen: 9090\n"),
              Errors{"t.yaml:7:11: admin.listen: invalid address \"9090\": use IP:PORT, e.g. "
                     "10.0.0.11:8082, \"[::1]:8082\" or \"*:8082\""});
    EXPECT_EQ(
        errors_of(std::string(kOneService) + "admin:\n  port: 9090\n"),
        (Errors{
            "t.yaml:7:3: unknown key \"port\" in admin (expected listen, token_file or users_file)",
            "t.yaml:7:3: missing required key \"listen\" in admin"}));
}

TEST(Errors, AdminAndServiceOnTheSameAddress) {
    EXPECT_EQ(errors_of(R"(
admin:
  listen: 127.0.0.1:8082
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:5:13: services[0].listen: 127.0.0.1:8082 is already used by admin "
                     "(127.0.0.1:8082 at 2:11)"});
}

// --- services -------------------------------------------------------------------------------

TEST(Errors, NoService) {
    EXPECT_EQ(errors_of("services: []\n"),
              Errors{"t.yaml:1:11: services: at least one service is required"});
    EXPECT_EQ(errors_of("services:\n"), Errors{"t.yaml:1:1: services: no value given"});
}

TEST(Errors, ServiceNameCharacters) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: contrail api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:2:11: services[0].name: invalid service name \"contrail api\": use "
                     "letters, digits, '.', '_' and '-'"});
}

TEST(Errors, DuplicateServiceName) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
  - name: api
    listen: "127.0.0.1:8081"
    backends:
      - { name: b1, address: "127.0.0.1:9201" }
)"),
              Errors{"t.yaml:6:11: services[1].name: duplicate service name \"api\" (first at "
                     "2:11)"});
}

TEST(Errors, ListenAddressUsedTwiceAcrossServices) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
  - name: analytics
    listen: ["127.0.0.1:8081", "127.0.0.1:8082"]
    backends:
      - { name: b1, address: "127.0.0.1:9201" }
)"),
              Errors{"t.yaml:7:32: services[1].listen[1]: 127.0.0.1:8082 is already used by "
                     "service \"api\" (127.0.0.1:8082 at 3:13)"});
}

TEST(Errors, WildcardListenerClashesWithAnAddressOnTheSamePort) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "*:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
  - name: api2
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9201" }
)"),
              Errors{"t.yaml:7:13: services[1].listen: 127.0.0.1:8082 is already used by "
                     "service \"api\" (0.0.0.0:8082 at 3:13)"});
}

TEST(Errors, EmptyListenList) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: []
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:3:13: services[0].listen: at least one address is required"});
}

TEST(Errors, ModeAndBalance) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    mode: htp
    balance: round-robin
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:4:11: services[0].mode: unknown value \"htp\": use http or tcp "
                      "(did you mean \"http\"?)",
                      "t.yaml:5:14: services[0].balance: unknown value \"round-robin\": use "
                      "roundrobin, leastconn, random2, source or maglev (did you mean "
                      "\"roundrobin\"?)"}));
}

TEST(Errors, Retries) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    retries: 11
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:14: services[0].retries: 11 is out of range 0..10"});
}

TEST(Errors, Timeouts) {
    EXPECT_EQ(
        errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    timeouts:
      connect: 0
      client: 0
      server: 0
      http_request: 0ms
      keep_alive: 1x
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
        (Errors{"t.yaml:5:16: services[0].timeouts.connect: 0 is too short: must be greater "
                "than 0",
                "t.yaml:8:21: services[0].timeouts.http_request: 0ms is too short: must be "
                "greater than 0",
                "t.yaml:9:19: services[0].timeouts.keep_alive: invalid duration \"1x\": use a "
                "number with a unit: 250ms, 2s, 1m"}));
}

TEST(Errors, TlsNeedsCertAndKey) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    tls:
      cert: /nonexistent/api.pem
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:5:7: missing required key \"key\" in services[0].tls",
                      "t.yaml:5:13: services[0].tls.cert: cannot read \"/nonexistent/api.pem\": No "
                      "such file or directory"}));
}

TEST(Errors, TlsFileMustBeARegularFile) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    tls: { cert: /etc/hostname, key: /tmp }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:38: services[0].tls.key: \"/tmp\" is not a regular file"});
}

TEST(Errors, TlsOnlyInHttpMode) {
    EXPECT_EQ(
        errors_of(R"(
services:
  - name: amqp
    listen: "127.0.0.1:5673"
    mode: tcp
    tls: { cert: /etc/hostname, key: /etc/hostname }
    backends:
      - { name: b1, address: "127.0.0.1:5672" }
)"),
        Errors{"t.yaml:5:10: services[0].tls: TLS termination is supported in mode http only"});
}

TEST(Errors, HealthCheckType) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: https }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:27: services[0].health_check.type: unknown value \"https\": use "
                     "http, tcp or none (did you mean \"http\"?)"});
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { interval: 1s }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:19: missing required key \"type\" in services[0].health_check"});
}

TEST(Errors, HealthCheckValues) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check:
      type: http
      path: healthz
      expect_status: [200, 99, 600]
      interval: 0
      timeout: 0s
      rise: 0
      fall: 101
      error_limit: 1001
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:6:13: services[0].health_check.path: invalid path \"healthz\": must "
                      "start with '/' and contain no spaces or control characters",
                      "t.yaml:7:28: services[0].health_check.expect_status[1]: 99 is out of range "
                      "100..599",
                      "t.yaml:8:17: services[0].health_check.interval: 0 is too short: must be "
                      "greater than 0",
                      "t.yaml:9:16: services[0].health_check.timeout: 0s is too short: must be "
                      "greater than 0",
                      "t.yaml:10:13: services[0].health_check.rise: 0 is out of range 1..100",
                      "t.yaml:11:13: services[0].health_check.fall: 101 is out of range 1..100",
                      "t.yaml:12:20: services[0].health_check.error_limit: 1001 is out of range "
                      "0..1000"}));
}

TEST(Errors, HealthCheckPathCannotInjectIntoTheRequestLine) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: http, path: "/ HTTP/1.0\r\nX: y" }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:39: services[0].health_check.path: invalid path \"/ "
                     "HTTP/1.0\\r\\nX: y\": must start with '/' and contain no spaces or control "
                     "characters"});
}

TEST(Errors, EmptyExpectStatus) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check: { type: http, expect_status: [] }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:48: services[0].health_check.expect_status: at least one status "
                     "code is required"});
}

TEST(Errors, HttpOnlyKeysWithTcpCheck) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    health_check:
      type: tcp
      path: /
      expect_status: [200]
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:6:13: services[0].health_check.path: applies to type http only; "
                      "remove it or use type: http",
                      "t.yaml:7:22: services[0].health_check.expect_status: applies to type http "
                      "only; remove it or use type: http"}));
}

TEST(Errors, BackendsMustBeANonEmptyList) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends: []
)"),
              Errors{"t.yaml:4:15: services[0].backends: at least one backend is required"});
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends: { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:4:15: services[0].backends: expected a list of backends, got a "
                     "mapping"});
}

TEST(Errors, DuplicateBackendNameAndAddress) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
      - { name: b1, address: "127.0.0.1:9102" }
      - { name: b3, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:6:17: services[0].backends[1].name: duplicate backend name \"b1\" in "
                      "services[0].backends (first at 5:17)",
                      "t.yaml:7:30: services[0].backends[2].address: 127.0.0.1:9101 is already a "
                      "backend of this service (at 5:30)"}));
}

TEST(Errors, BackendWeightAndBackup) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101", weight: 257 }
      - { name: b2, address: "127.0.0.1:9102", backup: maybe }
)"),
              (Errors{"t.yaml:5:56: services[0].backends[0].weight: 257 is out of range 0..256",
                      "t.yaml:6:56: services[0].backends[1].backup: expected true or false, got "
                      "\"maybe\""}));
}

TEST(Errors, AllBackendsBackup) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101", backup: true }
      - { name: b2, address: "127.0.0.1:9102", backup: true }
)"),
              Errors{"t.yaml:5:7: services[0].backends: every backend is a backup; at least one "
                     "must be primary (backup: false), backups only take traffic when no primary "
                     "is UP"});
}

// --- bgp ------------------------------------------------------------------------------------

// kOneService plus a bgp section whose lines start at 6.
std::string with_bgp(std::string_view bgp) {
    return std::string(kOneService) + yaml(bgp);
}

TEST(Errors, BgpRouterIdAndAs) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: "::1"
  local_as: 0
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips: [{ prefix: 10.0.0.100/32 }]
)")),
              (Errors{"t.yaml:7:14: bgp.router_id: ::1 is not a usable BGP identifier: use a "
                      "non-zero IPv4 address, usually this node's own",
                      "t.yaml:8:13: bgp.local_as: 0 is out of range 1..4294967295"}));
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: node1
  local_as: 4294967296
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips: [{ prefix: 10.0.0.100/32 }]
)")),
              (Errors{"t.yaml:7:14: bgp.router_id: invalid IP address \"node1\" (literal IPv4 or "
                      "IPv6 only, no host names)",
                      "t.yaml:8:13: bgp.local_as: 4294967296 is out of range 1..4294967295"}));
}

TEST(Errors, BgpHoldTime) {
    for (std::string_view bad : {"2s", "3500ms", "65536s"}) {
        EXPECT_EQ(errors_of(with_bgp("bgp:\n  router_id: 10.0.0.21\n  local_as: 64512\n"
                                     "  hold_time: " +
                                     std::string(bad) +
                                     "\n  peers: [{ address: 10.0.0.1, remote_as: 64512 }]\n"
                                     "  vips: [{ prefix: 10.0.0.100/32 }]\n")),
                  Errors{"t.yaml:9:14: bgp.hold_time: " + std::string(bad) +
                         " is not a valid hold time: use 0 or 3s..65535s in whole seconds"});
    }
}

TEST(Errors, BgpExtensions) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  listen_port: 0
  graceful_shutdown: soon
  watchdog: 10ms
  withdraw_wait: 2m
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips: [{ prefix: 10.0.0.100/32 }]
)")),
              (Errors{"t.yaml:9:16: bgp.listen_port: 0 is out of range 1..65535",
                      "t.yaml:10:22: bgp.graceful_shutdown: invalid duration \"soon\": use a "
                      "number with a unit: 250ms, 2s, 1m",
                      "t.yaml:11:13: bgp.watchdog: 10ms is too short: must be at least 100ms",
                      "t.yaml:12:18: bgp.withdraw_wait: 2m is too long: use 0..1m (routers move "
                      "traffic within milliseconds of a withdraw)"}));
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  withdraw_wait: -1s
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips: [{ prefix: 10.0.0.100/32 }]
)"))
                  .size(),
              1u);
}

TEST(Values, BfdDefaultsAndPerPeerOverrides) {
    auto config = load_ok(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  bfd: {min_tx: 300ms, multiplier: 5}
  peers:
    - { address: 10.0.0.1, remote_as: 64512 }
    - { address: 10.0.0.2, remote_as: 64512, bfd: false }
    - { address: 10.0.0.3, remote_as: 64512, bfd: {min_rx: 50ms} }
    - { address: 10.0.0.4, remote_as: 64512, bfd: true }
  vips: [{ prefix: 10.0.0.100/32 }]
)"));
    const Bgp& bgp = *config->bgp;
    const Bfd inherited{300ms, 100ms, 5};
    EXPECT_EQ(bgp.bfd, inherited);
    EXPECT_EQ(bgp.peers[0].bfd, inherited);
    EXPECT_EQ(bgp.peers[1].bfd, std::nullopt);
    EXPECT_EQ(bgp.peers[2].bfd, (Bfd{300ms, 50ms, 5}));
    EXPECT_EQ(bgp.peers[3].bfd, inherited);
}

TEST(Values, PerPeerBfdWithoutADefault) {
    auto config = load_ok(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers:
    - { address: 10.0.0.1, remote_as: 64512, bfd: true }
    - { address: 10.0.0.2, remote_as: 64512, bfd: {multiplier: 4} }
    - { address: 10.0.0.3, remote_as: 64512 }
  vips: [{ prefix: 10.0.0.100/32 }]
)"));
    const Bgp& bgp = *config->bgp;
    EXPECT_EQ(bgp.peers[0].bfd, Bfd{});
    EXPECT_EQ(bgp.peers[1].bfd, (Bfd{100ms, 100ms, 4}));
    EXPECT_EQ(bgp.peers[2].bfd, std::nullopt);
}

TEST(Errors, Bfd) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  bfd: {min_tx: 5ms, min_rx: 2m, multiplier: 0, echo: 50ms}
  peers:
    - { address: 10.0.0.1, remote_as: 64512, bfd: yes please }
    - { address: 10.0.0.2, remote_as: 64512, bfd: [100ms] }
    - { address: 10.0.0.3, remote_as: 64512, bfd: {multiplier: 256, min_tx: fast} }
  vips: [{ prefix: 10.0.0.100/32 }]
)")),
              (Errors{"t.yaml:9:17: bgp.bfd.min_tx: 5ms is too short: must be at least 10ms",
                      "t.yaml:9:30: bgp.bfd.min_rx: 2m is too long for BFD: must be at most 60s",
                      "t.yaml:9:46: bgp.bfd.multiplier: 0 is out of range 1..255",
                      "t.yaml:9:49: unknown key \"echo\" in bgp.bfd (expected min_tx, min_rx or "
                      "multiplier)",
                      "t.yaml:11:51: bgp.peers[0].bfd: expected false, true or {min_tx, min_rx, "
                      "multiplier}, got \"yes please\"",
                      "t.yaml:12:51: bgp.peers[1].bfd: expected false, true or {min_tx, min_rx, "
                      "multiplier}, got a list",
                      "t.yaml:13:64: bgp.peers[2].bfd.multiplier: 256 is out of range 1..255",
                      "t.yaml:13:77: bgp.peers[2].bfd.min_tx: invalid duration \"fast\": use a "
                      "number with a unit: 250ms, 2s, 1m"}));
}

TEST(Errors, BgpPeers) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers:
    - { address: 10.0.0.1, remote_as: 64512 }
    - { address: 10.0.0.1, port: 179, remote_as: 64512 }
    - { address: 10.0.0.300, port: 0, password: "0123456789012345678901234567890123456789012345678901234567890123456789012345678901" }
  vips: [{ prefix: 10.0.0.100/32 }]
)")),
              (Errors{"t.yaml:11:18: bgp.peers[1].address: peer 10.0.0.1 port 179 is already "
                      "configured (at 10:18)",
                      "t.yaml:12:7: missing required key \"remote_as\" in bgp.peers[2]",
                      "t.yaml:12:18: bgp.peers[2].address: invalid IP address \"10.0.0.300\" "
                      "(literal IPv4 or IPv6 only, no host names)",
                      "t.yaml:12:36: bgp.peers[2].port: 0 is out of range 1..65535",
                      "t.yaml:12:49: bgp.peers[2].password: 82 characters is too long: TCP MD5 "
                      "keys are at most 80"}));
}

TEST(Errors, BgpNeedsPeersAndVips) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: []
  vips: []
)")),
              (Errors{"t.yaml:9:10: bgp.peers: at least one peer is required",
                      "t.yaml:10:9: bgp.vips: at least one VIP is required"}));
}

TEST(Errors, VipPrefix) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips:
    - prefix: 10.0.0.100/24
    - prefix: 10.0.0.100
    - prefix: 2001:db8::1/129
)")),
              (Errors{"t.yaml:11:15: bgp.vips[0].prefix: 10.0.0.100/24 has host bits set (did you "
                      "mean 10.0.0.0/24?)",
                      "t.yaml:12:15: bgp.vips[1].prefix: invalid prefix \"10.0.0.100\": use "
                      "ADDRESS/LENGTH, e.g. 10.0.0.100/32 or 2001:db8::100/128",
                      "t.yaml:13:15: bgp.vips[2].prefix: invalid prefix \"2001:db8::1/129\": use "
                      "ADDRESS/LENGTH, e.g. 10.0.0.100/32 or 2001:db8::100/128"}));
}

TEST(Errors, DuplicateVipPrefix) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips:
    - prefix: 10.0.0.100/32
    - prefix: 10.0.0.100/32
)")),
              Errors{"t.yaml:12:15: bgp.vips[1].prefix: 10.0.0.100/32 is already announced (at "
                     "11:15)"});
}

TEST(Errors, VipAttributes) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips:
    - prefix: 10.0.0.100/32
      next_hop: "2001:db8::1"
      med: 4294967296
      as_path_prepend: 17
      communities: ["64512:100", no-export, "65536:1", "1:2:3", blackhole]
    - prefix: 2001:db8::100/128
      next_hop: me
)")),
              (Errors{"t.yaml:12:17: bgp.vips[0].next_hop: 2001:db8::1 is not of the same address "
                      "family as the prefix 10.0.0.100/32",
                      "t.yaml:13:12: bgp.vips[0].med: 4294967296 is out of range 0..4294967295",
                      "t.yaml:14:24: bgp.vips[0].as_path_prepend: 17 is out of range 0..16",
                      "t.yaml:15:45: bgp.vips[0].communities[2]: invalid community \"65536:1\": "
                      "use \"A:B\" with A and B in 0..65535 (quoted), or no-export, no-advertise, "
                      "no-export-subconfed, graceful-shutdown",
                      "t.yaml:15:56: bgp.vips[0].communities[3]: invalid community \"1:2:3\": use "
                      "\"A:B\" with A and B in 0..65535 (quoted), or no-export, no-advertise, "
                      "no-export-subconfed, graceful-shutdown",
                      "t.yaml:15:65: bgp.vips[0].communities[4]: invalid community \"blackhole\": "
                      "use \"A:B\" with A and B in 0..65535 (quoted), or no-export, no-advertise, "
                      "no-export-subconfed, graceful-shutdown",
                      "t.yaml:17:17: bgp.vips[1].next_hop: invalid next hop \"me\": use self or an "
                      "IP address"}));
}

TEST(Errors, VipRequiresAnExistingService) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips:
    - prefix: 10.0.0.100/32
      require: { services: [apl, analytics] }
)")),
              (Errors{"t.yaml:12:29: bgp.vips[0].require.services[0]: no service is named \"apl\" "
                      "(did you mean \"api\"?)",
                      "t.yaml:12:34: bgp.vips[0].require.services[1]: no service is named "
                      "\"analytics\""}));
}

TEST(Errors, VipRequireThresholdThatCanNeverHold) {
    EXPECT_EQ(errors_of(with_bgp(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 64512
  peers: [{ address: 10.0.0.1, remote_as: 64512 }]
  vips:
    - prefix: 10.0.0.100/32
      require: { services: [api], min_healthy_backends: 2 }
)")),
              Errors{"t.yaml:12:29: bgp.vips[0].require.services[0]: service \"api\" has 1 "
                     "backends, fewer than min_healthy_backends 2: the VIP would never be "
                     "announced"});
}

// --- Several at once ------------------------------------------------------------------------

TEST(Errors, EveryErrorIsReportedNotJustTheFirst) {
    EXPECT_EQ(
        errors_of(R"(
global:
  workers: many
  log_level: loud
admin:
  listen: "127.0.0.1"
services:
  - name: api
    listen: "127.0.0.1:8082"
    mode: udp
    timeouts: { connect: 2x, client: 0 }
    health_check: { type: http, timout: 1s }
    backends:
      - { name: b1, address: "127.0.0.1:9101", weight: -1 }
  - name: api
    listen: "127.0.0.1:8082"
    backends: []
)"),
        (Errors{"t.yaml:2:12: global.workers: expected auto or an integer in 1..256, got "
                "\"many\"",
                "t.yaml:3:14: global.log_level: unknown value \"loud\": use trace, debug, info, "
                "warn or error",
                "t.yaml:5:11: admin.listen: invalid address \"127.0.0.1\": use IP:PORT, e.g. "
                "10.0.0.11:8082, \"[::1]:8082\" or \"*:8082\"",
                "t.yaml:9:11: services[0].mode: unknown value \"udp\": use http or tcp (did you "
                "mean \"tcp\"?)",
                "t.yaml:10:26: services[0].timeouts.connect: invalid duration \"2x\": use a "
                "number with a unit: 250ms, 2s, 1m",
                "t.yaml:11:33: unknown key \"timout\" in services[0].health_check (did you mean "
                "\"timeout\"?)",
                "t.yaml:13:56: services[0].backends[0].weight: -1 is out of range 0..256",
                "t.yaml:14:11: services[1].name: duplicate service name \"api\" (first at 7:11)",
                "t.yaml:15:13: services[1].listen: 127.0.0.1:8082 is already used by "
                "service \"api\" (127.0.0.1:8082 at 8:13)",
                "t.yaml:16:15: services[1].backends: at least one backend is required"}));
}

// --- Files ----------------------------------------------------------------------------------

TEST(Errors, MissingFile) {
    auto result = load_file("/nonexistent/contrail-lb.yaml");
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].to_string(),
              "/nonexistent/contrail-lb.yaml: cannot open: No such file or directory");
    EXPECT_EQ(result.config, nullptr);
}

TEST(Errors, DirectoryIsNotAFile) {
    auto result = load_file("/tmp");
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].to_string(), "/tmp: cannot read: Is a directory");
}

}  // namespace
}  // namespace clb::config::test
