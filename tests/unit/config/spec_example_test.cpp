// The Configuration example of SPEC.md, copied verbatim, and the defaults of every key.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../tls_files.hpp"
#include "config_test_util.hpp"

namespace clb::config::test {
namespace {

// Verbatim from SPEC.md "Configuration (YAML)".
constexpr std::string_view kSpecExample = R"(
global:
  workers: auto            # event-loop threads; auto = online CPUs
  log_level: info          # trace|debug|info|warn|error
  access_log: true         # one line per proxied request/connection
  max_connections: 50000   # client connections across all workers
  grace: 10s               # drain time on SIGTERM

admin:
  listen: 127.0.0.1:9090   # /metrics /stats /healthz /api/v1/...

services:
  - name: contrail-api
    listen: ["0.0.0.0:8082"]     # one or more addresses
    mode: http                   # http | tcp
    balance: roundrobin          # roundrobin | leastconn | random2 | source | maglev
    retries: 2                   # connect retries on another backend
    timeouts:
      connect: 3s
      client: 60s                # client inactivity
      server: 60s                # backend inactivity
      http_request: 10s          # time to receive a full request head
      keep_alive: 30s            # idle time between requests on a client connection
    tls:                         # optional: terminate TLS on this service's listeners
      cert: /etc/contrail-lb/tls/api.pem
      key: /etc/contrail-lb/tls/api.key
    health_check:
      type: http                 # http | tcp | none
      path: /                    # http only
      expect_status: [200]       # http only
      interval: 2s
      timeout: 1s
      rise: 2                    # consecutive successes to go UP
      fall: 3                    # consecutive failures to go DOWN
    backends:
      - { name: ctrl1, address: "10.0.0.11:8082", weight: 1 }
      - { name: ctrl2, address: "10.0.0.12:8082", weight: 1 }
      - { name: ctrl3, address: "10.0.0.13:8082", weight: 1, backup: false }

bgp:                             # optional: no bgp section, no speaker
  router_id: 10.0.0.21
  local_as: 64512
  hold_time: 9s                  # keepalive = hold_time / 3
  listen: false                  # also accept incoming sessions (passive peers)
  bfd: {min_tx: 100ms, min_rx: 100ms, multiplier: 3}  # optional, every peer (RFC 5880/5881)
  withdraw_wait: 1s              # SIGTERM: serve this long after the withdraw, before Cease
  peers:
    - address: 10.0.0.1
      port: 179
      remote_as: 64512
      password: ""               # TCP MD5 (RFC 2385) when set
      bfd: false                 # optional per-peer override: false, or {min_tx, min_rx, multiplier}
  vips:
    - prefix: 10.0.0.100/32
      next_hop: self             # self = local address of each session, or an IP
      med: 100                   # optional; lower is preferred (primary/backup)
      as_path_prepend: 0         # optional; prepend local_as N times (backup node)
      communities: ["64512:100"] # optional
      require:                   # announce only while all of these hold
        services: [contrail-api, contrail-analytics-api]
        min_healthy_backends: 1  # per listed service
)";

// What the SPEC example leaves out to be loadable: the second service its VIP requires.
constexpr std::string_view kAnalyticsService = R"(
  - name: contrail-analytics-api
    listen: ["0.0.0.0:8081"]
    backends:
      - { name: ctrl1, address: "10.0.0.11:8081" }
)";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// A scratch directory with a certificate and its key.
class SpecExample : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "clb-config-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        // The loader loads the pair and matches key to certificate, as the listener will.
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
            "-nodes -days 1 -subj /CN=test -keyout " +
            (dir_ / "api.key").string() + " -out " + (dir_ / "api.pem").string() + " 2>/dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // The example with its TLS files present and the service its VIP requires defined.
    std::string loadable_example() const {
        std::string text = yaml(kSpecExample);
        text = replace_all(text, "/etc/contrail-lb/tls/api.pem", (dir_ / "api.pem").string());
        text = replace_all(text, "/etc/contrail-lb/tls/api.key", (dir_ / "api.key").string());
        return replace_all(text, "\nbgp:", yaml(kAnalyticsService) + "\nbgp:");
    }

    std::filesystem::path dir_;
};

TEST_F(SpecExample, VerbatimNeedsItsTlsFilesAndTheServiceItsVipRequires) {
    EXPECT_EQ(errors_of(kSpecExample),
              (std::vector<std::string>{
                  "t.yaml:24:13: services[0].tls.cert: cannot read "
                  "\"/etc/contrail-lb/tls/api.pem\": No such file or directory",
                  "t.yaml:25:12: services[0].tls.key: cannot read "
                  "\"/etc/contrail-lb/tls/api.key\": No such file or directory",
                  "t.yaml:59:34: bgp.vips[0].require.services[1]: no service is named "
                  "\"contrail-analytics-api\""}));
}

TEST_F(SpecExample, LoadsWithEveryValue) {
    auto config = load_ok(loadable_example());
    ASSERT_TRUE(config);
    EXPECT_EQ(config->path, "t.yaml");

    EXPECT_EQ(config->global.workers, 0u);
    EXPECT_EQ(config->global.log_level, LogLevel::info);
    EXPECT_TRUE(config->global.access_log);
    EXPECT_EQ(config->global.max_connections, 50000u);
    EXPECT_EQ(config->global.grace, 10s);

    ASSERT_TRUE(config->admin.listen);
    EXPECT_EQ(config->admin.listen->to_string(), "127.0.0.1:9090");

    ASSERT_EQ(config->services.size(), 2u);
    const Service& api = config->services[0];
    EXPECT_EQ(api.name, "contrail-api");
    ASSERT_EQ(api.listen.size(), 1u);
    EXPECT_EQ(api.listen[0].to_string(), "0.0.0.0:8082");
    EXPECT_EQ(api.mode, Mode::http);
    EXPECT_EQ(api.balance, Algorithm::roundrobin);
    EXPECT_EQ(api.retries, 2u);
    EXPECT_EQ(api.timeouts.connect, 3s);
    EXPECT_EQ(api.timeouts.client, 60s);
    EXPECT_EQ(api.timeouts.server, 60s);
    EXPECT_EQ(api.timeouts.http_request, 10s);
    EXPECT_EQ(api.timeouts.keep_alive, 30s);
    ASSERT_TRUE(api.tls);
    EXPECT_EQ(api.tls->cert_file, (dir_ / "api.pem").string());
    EXPECT_EQ(api.tls->key_file, (dir_ / "api.key").string());
    EXPECT_EQ(api.health_check.type, CheckType::http);
    EXPECT_EQ(api.health_check.path, "/");
    EXPECT_EQ(api.health_check.expect_status, std::vector<int>{200});
    EXPECT_EQ(api.health_check.interval, 2s);
    EXPECT_EQ(api.health_check.timeout, 1s);
    EXPECT_EQ(api.health_check.rise, 2u);
    EXPECT_EQ(api.health_check.fall, 3u);
    EXPECT_EQ(api.health_check.error_limit, 1u);  // not in the SPEC example: the default
    ASSERT_EQ(api.backends.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(api.backends[i].name, "ctrl" + std::to_string(i + 1));
        EXPECT_EQ(api.backends[i].address.to_string(),
                  "10.0.0.1" + std::to_string(i + 1) + ":8082");
        EXPECT_EQ(api.backends[i].weight, 1u);
        EXPECT_FALSE(api.backends[i].backup);
    }
    EXPECT_EQ(config->find_service("contrail-api"), &api);
    EXPECT_EQ(config->find_service("contrail-analytics-api"), &config->services[1]);
    EXPECT_EQ(config->find_service("contrail"), nullptr);

    ASSERT_TRUE(config->bgp);
    const Bgp& bgp = *config->bgp;
    EXPECT_EQ(bgp.router_id.to_string(), "10.0.0.21");
    EXPECT_EQ(bgp.local_as, 64512u);
    EXPECT_EQ(bgp.hold_time, 9s);
    EXPECT_FALSE(bgp.listen);
    EXPECT_EQ(bgp.listen_port, 179);
    EXPECT_EQ(bgp.graceful_shutdown, 0s);
    EXPECT_EQ(bgp.watchdog, 2s);
    EXPECT_EQ(bgp.withdraw_wait, 1s);
    ASSERT_EQ(bgp.peers.size(), 1u);
    EXPECT_EQ(bgp.peers[0].address.to_string(), "10.0.0.1");
    EXPECT_EQ(bgp.peers[0].port, 179);
    EXPECT_EQ(bgp.peers[0].remote_as, 64512u);
    EXPECT_EQ(bgp.peers[0].password, "");
    EXPECT_EQ(bgp.bfd, (Bfd{100ms, 100ms, 3}));
    EXPECT_EQ(bgp.peers[0].bfd, std::nullopt);  // bfd: false
    ASSERT_EQ(bgp.vips.size(), 1u);
    const Vip& vip = bgp.vips[0];
    EXPECT_EQ(vip.prefix.to_string(), "10.0.0.100/32");
    EXPECT_EQ(vip.next_hop, std::nullopt);
    EXPECT_EQ(vip.med, 100u);
    EXPECT_EQ(vip.as_path_prepend, 0u);
    EXPECT_EQ(vip.communities, std::vector<uint32_t>{(64512u << 16) | 100u});
    EXPECT_EQ(vip.require.services,
              (std::vector<std::string>{"contrail-api", "contrail-analytics-api"}));
    EXPECT_EQ(vip.require.min_healthy_backends, 1u);
}

TEST_F(SpecExample, RelativeTlsPathsAreRelativeToTheConfigFile) {
    std::string text = yaml(R"(
services:
  - name: api
    listen: "127.0.0.1:8443"
    tls: { cert: api.pem, key: api.key }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)");
    std::ofstream(dir_ / "relative.yaml") << text;
    auto result = load_file((dir_ / "relative.yaml").string());
    for (const auto& e : result.errors)
        ADD_FAILURE() << e.to_string();
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->path, (dir_ / "relative.yaml").string());
    EXPECT_EQ(result.config->services[0].tls->cert_file, (dir_ / "api.pem").string());
}

TEST(Defaults, AreTheHeadersInitialisers) {
    auto config = load_ok(kOneService);
    ASSERT_TRUE(config);
    const Global global;
    EXPECT_EQ(config->global.workers, global.workers);
    EXPECT_EQ(config->global.log_level, global.log_level);
    EXPECT_EQ(config->global.access_log, global.access_log);
    EXPECT_TRUE(config->global.splice);
    EXPECT_EQ(config->global.max_connections, global.max_connections);
    EXPECT_EQ(config->global.grace, global.grace);
    EXPECT_FALSE(config->admin.listen);
    EXPECT_FALSE(config->bgp);

    const Service& service = config->services[0];
    const Timeouts timeouts;
    const HealthCheck check;
    EXPECT_EQ(service.mode, Mode::http);
    EXPECT_EQ(service.balance, Algorithm::roundrobin);
    EXPECT_EQ(service.retries, 2u);
    EXPECT_EQ(service.timeouts.connect, timeouts.connect);
    EXPECT_EQ(service.timeouts.client, timeouts.client);
    EXPECT_EQ(service.timeouts.server, timeouts.server);
    EXPECT_EQ(service.timeouts.http_request, timeouts.http_request);
    EXPECT_EQ(service.timeouts.keep_alive, timeouts.keep_alive);
    EXPECT_FALSE(service.tls);
    EXPECT_EQ(service.health_check.type, CheckType::none);
    EXPECT_EQ(service.health_check.path, check.path);
    EXPECT_EQ(service.health_check.expect_status, check.expect_status);
    EXPECT_EQ(service.health_check.interval, check.interval);
    EXPECT_EQ(service.health_check.timeout, check.timeout);
    EXPECT_EQ(service.health_check.rise, check.rise);
    EXPECT_EQ(service.health_check.fall, check.fall);
    EXPECT_EQ(service.backends[0].weight, 1u);
    EXPECT_FALSE(service.backends[0].backup);
}

TEST(Defaults, BgpAndVip) {
    auto config = load_ok(std::string(kOneService) + yaml(R"(
bgp:
  router_id: 10.0.0.21
  local_as: 4200000000
  peers: [{ address: "2001:db8::1", remote_as: 65001 }]
  vips: [{ prefix: "2001:db8::100/128" }]
)"));
    ASSERT_TRUE(config);
    const Bgp defaults;
    const Bgp& bgp = *config->bgp;
    EXPECT_EQ(bgp.local_as, 4200000000u);
    EXPECT_EQ(bgp.hold_time, defaults.hold_time);
    EXPECT_EQ(bgp.listen, defaults.listen);
    EXPECT_EQ(bgp.listen_port, defaults.listen_port);
    EXPECT_EQ(bgp.graceful_shutdown, defaults.graceful_shutdown);
    EXPECT_EQ(bgp.watchdog, defaults.watchdog);
    EXPECT_EQ(bgp.bfd, std::nullopt);  // BFD is off unless set
    EXPECT_EQ(bgp.peers[0].bfd, std::nullopt);
    EXPECT_EQ(bgp.withdraw_wait, 1s);
    EXPECT_EQ(bgp.peers[0].port, 179);
    EXPECT_TRUE(bgp.peers[0].address.is_v6());
    EXPECT_EQ(bgp.vips[0].next_hop, std::nullopt);
    EXPECT_EQ(bgp.vips[0].med, std::nullopt);
    EXPECT_EQ(bgp.vips[0].as_path_prepend, 0u);
    EXPECT_TRUE(bgp.vips[0].communities.empty());
    EXPECT_TRUE(bgp.vips[0].require.services.empty());
    EXPECT_EQ(bgp.vips[0].require.min_healthy_backends, 1u);
}

TEST(Values, EveryAlternativeSpelling) {
    auto config = load_ok(R"(
global:
  workers: 4
  log_level: debug
  access_log: false
  splice: false
  max_connections: 10000000
  grace: 0
services:
  - name: analytics_2.x
    listen: ["127.0.0.1:8081", "[::1]:8081"]
    mode: tcp
    balance: maglev
    retries: 0
    timeouts: { connect: 250ms, client: 0, server: 1h, http_request: 1m, keep_alive: 1s }
    health_check: { type: tcp, interval: 500ms, timeout: 250ms, rise: 1, fall: 100, error_limit: 0 }
    backends:
      - { name: a, address: "127.0.0.1:9201", weight: 0 }
      - { name: b, address: "127.0.0.1:9202", weight: 256, backup: true }
bgp:
  router_id: 192.0.2.1
  local_as: 65000
  hold_time: 0
  listen: true
  listen_port: 1179
  graceful_shutdown: 30s
  watchdog: 100ms
  withdraw_wait: 0
  peers:
    - { address: 127.0.0.2, port: 1790, remote_as: 65001, password: "s3cret" }
    - { address: 127.0.0.2, port: 1791, remote_as: 65001 }
  vips:
    - prefix: 10.0.0.100/32
      next_hop: 192.0.2.1
      med: 4294967295
      as_path_prepend: 16
      communities: [no-export, no-advertise, no-export-subconfed, graceful-shutdown, "0:0", "65535:65535"]
      require: { services: [analytics_2.x], min_healthy_backends: 0 }
    - prefix: 2001:db8::/64
      next_hop: "2001:db8::1"
)");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->global.workers, 4u);
    EXPECT_EQ(config->global.log_level, LogLevel::debug);
    EXPECT_FALSE(config->global.access_log);
    EXPECT_FALSE(config->global.splice);
    EXPECT_EQ(config->global.grace, 0s);
    const Service& s = config->services[0];
    EXPECT_EQ(s.mode, Mode::tcp);
    EXPECT_EQ(s.balance, Algorithm::maglev);
    EXPECT_EQ(s.retries, 0u);
    EXPECT_EQ(s.timeouts.connect, 250ms);
    EXPECT_EQ(s.timeouts.client, 0s);
    EXPECT_EQ(s.timeouts.server, 1h);
    EXPECT_EQ(s.health_check.type, CheckType::tcp);
    EXPECT_EQ(s.health_check.fall, 100u);
    EXPECT_EQ(s.health_check.error_limit, 0u);
    EXPECT_EQ(s.backends[0].weight, 0u);
    EXPECT_EQ(s.backends[1].weight, 256u);
    EXPECT_TRUE(s.backends[1].backup);
    const Bgp& bgp = *config->bgp;
    EXPECT_EQ(bgp.hold_time, 0s);
    EXPECT_TRUE(bgp.listen);
    EXPECT_EQ(bgp.listen_port, 1179);
    EXPECT_EQ(bgp.graceful_shutdown, 30s);
    EXPECT_EQ(bgp.watchdog, 100ms);
    EXPECT_EQ(bgp.withdraw_wait, 0s);
    EXPECT_EQ(bgp.peers[0].password, "s3cret");
    EXPECT_EQ(bgp.peers[1].port, 1791);
    EXPECT_EQ(bgp.vips[0].next_hop->to_string(), "192.0.2.1");
    EXPECT_EQ(bgp.vips[0].med, 4294967295u);
    EXPECT_EQ(bgp.vips[0].communities, (std::vector<uint32_t>{0xFFFFFF01, 0xFFFFFF02, 0xFFFFFF03,
                                                              0xFFFF0000, 0, 0xFFFFFFFF}));
    EXPECT_EQ(bgp.vips[0].require.min_healthy_backends, 0u);
    EXPECT_EQ(bgp.vips[1].prefix.to_string(), "2001:db8::/64");
}

TEST(Values, WorkersAuto) {
    auto config = load_ok(std::string(kOneService) + "global: { workers: auto }\n");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->global.workers, 0u);
}

TEST(Values, CommentedOutSectionsCountAsAbsent) {
    auto config = load_ok(std::string(kOneService) + "global:\nadmin:\nbgp:\n");
    ASSERT_TRUE(config);
    EXPECT_FALSE(config->admin.listen);
    EXPECT_FALSE(config->bgp);
}

}  // namespace
}  // namespace clb::config::test

namespace clb::config {
namespace {

class FilesLoaded : public ::clb::test::TlsFiles {
  protected:
    LoadResult load(const std::string& text) { return load_file(write_config(text)); }
    std::vector<std::string> errors(const std::string& text) { return error_lines(load(text)); }
};

// Loading the pair is the tls module's (app passes it in as the TlsCheck; its real
// errors are tested in tests/unit/app): config places what the check reports at the key it
// blames.
TEST_F(FilesLoaded, TlsCheckProblemsLandOnTheKeyTheyBlame) {
    make_pair("one");
    using Key = TlsProblem::Key;
    const std::vector<std::pair<Key, std::string>> cases{
        {Key::cert, "t.yaml:4:18: services[0].tls.cert: bad cert"},
        {Key::key, "t.yaml:4:32: services[0].tls.key: bad key"},
        {Key::ciphers, "t.yaml:4:50: services[0].tls.ciphers: bad ciphers"}};
    for (const auto& [key, expected] : cases) {
        std::ofstream(dir_ / "t.yaml") << tls_service("one.key");
        auto check = [key = key](const Tls& tls) -> std::optional<TlsProblem> {
            const char* what = key == Key::cert ? "cert" : key == Key::key ? "key" : "ciphers";
            EXPECT_FALSE(tls.cert_file.empty());
            return TlsProblem{key, std::string("bad ") + what};
        };
        auto result = load_file(path("t.yaml"), check);
        ASSERT_EQ(result.errors.size(), 1u);
        EXPECT_EQ(result.errors[0].to_string().substr(result.errors[0].to_string().find("t.yaml")),
                  expected);
    }
}

TEST_F(FilesLoaded, TlsCheckSeesTheSettingsOfReadableFilesOnly) {
    make_pair("one");
    std::vector<Tls> seen;
    auto check = [&](const Tls& tls) -> std::optional<TlsProblem> {
        seen.push_back(tls);
        return std::nullopt;
    };
    std::ofstream(dir_ / "t.yaml") << tls_service("one.key");
    EXPECT_TRUE(load_file(path("t.yaml"), check).ok());
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].cert_file, path("one.pem"));
    EXPECT_EQ(seen[0].key_file, path("one.key"));
    EXPECT_EQ(seen[0].ciphers, "HIGH");
    EXPECT_EQ(seen[0].min_version, TlsVersion::tls1_2);

    std::ofstream(dir_ / "t.yaml") << tls_service("missing.key");
    EXPECT_EQ(load_file(path("t.yaml"), check).errors.size(), 1u);  // unreadable: no check
    EXPECT_EQ(seen.size(), 1u);
}

TEST_F(FilesLoaded, WithoutATlsCheckReadableFilesAreEnough) {
    std::ofstream(dir_ / "one.pem") << "not a certificate\n";
    std::ofstream(dir_ / "one.key") << "not a key\n";
    auto loaded = load(tls_service("one.key"));
    EXPECT_TRUE(loaded.ok());
    EXPECT_EQ(loaded.config->services[0].tls->ciphers, "HIGH");
    EXPECT_TRUE(load(tls_service_without_ciphers("one.key")).config->services[0].tls->ciphers ==
                std::nullopt);
}

TEST_F(FilesLoaded, ResumptionAndKtlsKeys) {
    std::ofstream(dir_ / "one.pem") << "not a certificate\n";
    std::ofstream(dir_ / "one.key") << "not a key\n";
    auto defaults = load(tls_service("one.key"));
    ASSERT_TRUE(defaults.ok());
    const Tls& tls = *defaults.config->services[0].tls;
    EXPECT_TRUE(tls.session_tickets);
    EXPECT_EQ(tls.session_timeout, std::chrono::hours(1));
    EXPECT_EQ(tls.ktls, TlsKtls::off);

    auto with = [&](const std::string& keys) {
        std::string text = tls_service("one.key");
        return text.replace(text.find("ciphers: HIGH"), 13, keys);
    };
    auto set = load(with("session_tickets: false, session_timeout: 10m, ktls: auto"));
    ASSERT_TRUE(set.ok());
    EXPECT_FALSE(set.config->services[0].tls->session_tickets);
    EXPECT_EQ(set.config->services[0].tls->session_timeout, std::chrono::minutes(10));
    EXPECT_EQ(set.config->services[0].tls->ktls, TlsKtls::auto_);
    EXPECT_EQ(load(with("ktls: on")).config->services[0].tls->ktls, TlsKtls::on);

    EXPECT_EQ(load(with("ktls: maybe")).errors.size(), 1u);
    EXPECT_EQ(load(with("session_timeout: 0s")).errors.size(), 1u);
    EXPECT_EQ(load(with("session_tickets: sometimes")).errors.size(), 1u);
}

TEST_F(FilesLoaded, TokenFileHoldsOneVisibleLine) {
    const std::string config =
        "admin:\n  listen: 127.0.0.1:9090\n  token_file: admin.token\nservices:\n  - name: api\n"
        "    listen: 127.0.0.1:8082\n    backends: [{name: b1, address: 127.0.0.1:9101}]\n";
    std::ofstream(dir_ / "admin.token") << "s3cret \n\n";
    auto loaded = load(config);
    for (const auto& e : loaded.errors)
        ADD_FAILURE() << e.to_string();
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded.config->admin.token, "s3cret");
    EXPECT_EQ(loaded.config->admin.token_file, path("admin.token"));

    std::ofstream(dir_ / "admin.token") << "\n";
    EXPECT_EQ(errors(config),
              std::vector<std::string>{"t.yaml:3:15: admin.token_file: \"" + path("admin.token") +
                                       "\": the file is empty: it must hold the token"});
    std::ofstream(dir_ / "admin.token") << "two words\n";
    EXPECT_EQ(errors(config), std::vector<std::string>{
                                  "t.yaml:3:15: admin.token_file: \"" + path("admin.token") +
                                  "\": the token must be one line of visible ASCII characters"});
    std::filesystem::remove(dir_ / "admin.token");
    auto missing = errors(config);
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].rfind("t.yaml:3:15: admin.token_file: cannot read", 0), 0u) << missing[0];
}

}  // namespace
}  // namespace clb::config
