// haproxy.cfg/bird.conf -> YAML: what is translated loads as a valid configuration with
// the values HAProxy and BIRD had; what is not is listed with its FILE:LINE.
#include <gtest/gtest.h>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/import/translate.hpp"

using namespace clb::import;
using namespace std::chrono_literals;

namespace {

ImportResult run(const std::string& haproxy, const std::string& bird = "") {
    ImportInput input{"haproxy.cfg", haproxy, std::nullopt, "", ""};
    if (!bird.empty()) input.bird_file = "bird.conf", input.bird_text = bird;
    return translate(input);
}

std::shared_ptr<const clb::config::Config> load(const ImportResult& r) {
    auto loaded = clb::config::load_string(r.yaml, "out.yaml");
    for (const auto& e : loaded.errors)
        ADD_FAILURE() << e.to_string() << "\n" << r.yaml;
    return loaded.config;
}

bool mentions(const ImportResult& r, const std::string& what) {
    for (const auto& u : r.untranslated)
        if (u.to_string().find(what) != std::string::npos) return true;
    return false;
}

const char* kContrail =
    "global\n  maxconn 4000\n  nbthread 4\n  daemon\n"
    "defaults\n  mode http\n  retries 3\n  timeout connect 5000\n  timeout client 3m\n"
    "  timeout server 3m\n  option forwardfor\n"
    "frontend contrail-api\n  bind 127.0.0.1:8082\n  default_backend contrail-api-backend\n"
    "backend contrail-api-backend\n  option httpchk GET /health\n  http-check expect status 200\n"
    "  balance leastconn\n"
    "  server a 127.0.0.1:9100 check inter 1000 rise 3 fall 2 weight 10\n"
    "  server b 127.0.0.1:9101 check inter 1000 rise 3 fall 2 backup\n";

}  // namespace

TEST(Translate, FrontendAndBackendBecomeOneService) {
    auto r = run(kContrail);
    ASSERT_FALSE(r.error);
    EXPECT_TRUE(r.untranslated.empty()) << r.untranslated[0].to_string();
    auto config = load(r);
    ASSERT_TRUE(config);
    EXPECT_EQ(config->global.workers, 4u);
    EXPECT_EQ(config->global.max_connections, 4000u);
    ASSERT_EQ(config->services.size(), 1u);
    const auto& s = config->services[0];
    EXPECT_EQ(s.name, "contrail-api");
    EXPECT_EQ(s.balance, clb::config::Algorithm::leastconn);
    EXPECT_EQ(s.retries, 3u);
    EXPECT_EQ(s.timeouts.connect, 5s);
    EXPECT_EQ(s.timeouts.client, 3min);
    EXPECT_EQ(s.health_check.type, clb::config::CheckType::http);
    EXPECT_EQ(s.health_check.path, "/health");
    EXPECT_EQ(s.health_check.expect_status, std::vector<int>{200});
    EXPECT_EQ(s.health_check.interval, 1s);
    EXPECT_EQ(s.health_check.rise, 3u);
    EXPECT_EQ(s.health_check.fall, 2u);
    ASSERT_EQ(s.backends.size(), 2u);
    EXPECT_EQ(s.backends[0].weight, 10u);
    EXPECT_TRUE(s.backends[1].backup);
    EXPECT_NE(r.yaml.find("# from haproxy.cfg:15 backend contrail-api-backend"), std::string::npos);
}

TEST(Translate, ListenTcpPassthroughAndMaglev) {
    auto r =
        run("listen webui\n  bind :8143\n  mode tcp\n  balance source\n  hash-type consistent\n"
            "  server w1 127.0.0.1:18143 check\n  server w2 127.0.0.1:18144 check\n");
    auto config = load(r);
    ASSERT_TRUE(config);
    const auto& s = config->services[0];
    EXPECT_EQ(s.mode, clb::config::Mode::tcp);
    EXPECT_EQ(s.balance, clb::config::Algorithm::maglev);
    EXPECT_EQ(s.health_check.type, clb::config::CheckType::tcp);
    EXPECT_EQ(s.listen[0].to_string(), "0.0.0.0:8143");
}

// maxconn, timeout queue, cookie persistence and TLS to the backends translate.
TEST(Translate, QueueCookiePersistenceAndBackendTlsTranslate) {
    auto r =
        run("defaults\n  mode http\n  timeout queue 5s\n"
            "listen api\n  bind 127.0.0.1:8082\n  cookie SERVERID insert indirect nocache\n"
            "  server a 127.0.0.1:9100 check maxconn 100 cookie a ssl verify none ca-file "
            "/etc/hostname\n");
    auto config = load(r);
    ASSERT_TRUE(config) << r.yaml;
    EXPECT_TRUE(r.untranslated.empty()) << r.untranslated[0].to_string();
    EXPECT_NE(r.yaml.find("queue: 5s"), std::string::npos) << r.yaml;
    EXPECT_NE(r.yaml.find("max_connections: 100"), std::string::npos) << r.yaml;
    EXPECT_NE(r.yaml.find("sticky: {cookie: SERVERID}"), std::string::npos) << r.yaml;
    EXPECT_NE(r.yaml.find("backend_tls: {verify: none, ca: /etc/hostname}"), std::string::npos)
        << r.yaml;
    ASSERT_TRUE(config->services[0].backend_tls);
    EXPECT_EQ(config->services[0].backend_tls->verify, clb::config::TlsVerify::none);
}

TEST(Translate, ServerSslVerifyCaFileSniBecomeBackendTls) {
    auto r =
        run("defaults\n  mode http\n  default-server ssl verify required ca-file /etc/hostname\n"
            "backend api\n  option httpchk GET /\n"
            "  server a 127.0.0.1:9100 check check-ssl port 8443 sni str(contrail-api)\n"
            "  server b 127.0.0.1:9101 check port 8443 check-ssl sni str(contrail-api)\n"
            "frontend f\n  bind 127.0.0.1:8082\n  default_backend api\n");
    auto config = load(r);
    ASSERT_TRUE(config) << r.yaml;
    EXPECT_TRUE(r.untranslated.empty()) << r.untranslated[0].to_string();
    EXPECT_NE(r.yaml.find("backend_tls: {verify: required, ca: /etc/hostname, sni: contrail-api}"),
              std::string::npos)
        << r.yaml;
    EXPECT_NE(r.yaml.find("[check-ssl]: contrail-lb's checks use TLS when the service has "
                          "backend_tls"),
              std::string::npos)
        << r.yaml;
    const auto& tls = config->services[0].backend_tls;
    ASSERT_TRUE(tls);
    EXPECT_EQ(tls->verify, clb::config::TlsVerify::required);
    EXPECT_EQ(tls->ca_file, "/etc/hostname");
    EXPECT_EQ(tls->sni, "contrail-api");
}

TEST(Translate, BackendTlsThatCannotBeExpressedIsListed) {
    // Another sni expression, a combined crt PEM, servers that disagree, no ca-file.
    auto r =
        run("backend api\n  mode http\n"
            "  server a 127.0.0.1:9100 ssl ca-file /etc/hostname sni req.hdr(host) crt /c.pem\n"
            "  server b 127.0.0.1:9101 ssl verify none\n"
            "backend plain-check\n  mode http\n"
            "  server p 127.0.0.1:9300 check port 8080 ssl verify none\n"
            "backend web\n  mode http\n  server w 127.0.0.1:9200 ssl\n"
            "  server x 127.0.0.1:9201 check-ssl ca-file /ca.pem\n"
            "frontend f\n  bind 127.0.0.1:8082\n  default_backend api\n"
            "frontend g\n  bind 127.0.0.1:8083\n  default_backend web\n"
            "frontend h\n  bind 127.0.0.1:8084\n  default_backend plain-check\n");
    ASSERT_FALSE(r.error);
    EXPECT_TRUE(mentions(r, "[sni req.hdr(host)]: only sni str(NAME), a fixed name"));
    EXPECT_TRUE(mentions(r, "[crt /c.pem]: a combined PEM of certificate and key"));
    EXPECT_TRUE(mentions(r,
                         "server b ssl/verify/ca-file/sni: differs from server a's: "
                         "contrail-lb has one backend_tls per service"));
    EXPECT_TRUE(mentions(r, "server w ssl: verify required (HAProxy's default) without ca-file"));
    EXPECT_TRUE(mentions(r, "[check-ssl]: checks over TLS to a plain server"));
    EXPECT_TRUE(mentions(r, "server p ssl check port: HAProxy checked port 8080 without TLS"));
    EXPECT_NE(r.yaml.find("[verify/ca-file/sni without ssl]: HAProxy uses them only with ssl"),
              std::string::npos)
        << r.yaml;
    EXPECT_NE(r.yaml.find("backend_tls: {verify: required, ca: /etc/hostname}  # no sni"),
              std::string::npos)
        << r.yaml;
}

TEST(Translate, RedirectErrorfileStatsAndTls) {
    auto r =
        run("frontend http-in\n  mode http\n  bind :8080\n  redirect scheme https code 301 if !{ "
            "ssl_fc }\n"
            "frontend api\n  mode http\n  bind :8443 ssl crt /etc/ssl/api.pem\n"
            "  errorfile 503 /etc/errors/503.http\n  default_backend b\n"
            "backend b\n  mode http\n  server a 127.0.0.1:9100\n"
            "listen stats\n  bind 127.0.0.1:5937\n  mode http\n  stats enable\n  stats auth "
            "admin:pw\n");
    ASSERT_FALSE(r.error);
    EXPECT_NE(r.yaml.find("redirect: {scheme: https, code: 301}"), std::string::npos) << r.yaml;
    EXPECT_NE(r.yaml.find("cert: /etc/ssl/api.pem"), std::string::npos);
    EXPECT_NE(r.yaml.find("503: /etc/errors/503.http"), std::string::npos);
    EXPECT_NE(r.yaml.find("listen: \"127.0.0.1:5937\""), std::string::npos);
    EXPECT_TRUE(mentions(r, "stats auth: the hashed users file is written next to -o OUT"));
}

TEST(Translate, StatsUsersAreHashed) {
    ImportInput input{"haproxy.cfg",
                      "listen stats\n  bind 127.0.0.1:5937\n  mode http\n  stats auth admin:pw\n",
                      std::nullopt, "", "admin.users"};
    auto r = translate(input);
    ASSERT_EQ(r.users_file_text.rfind("admin:$", 0), 0u) << r.users_file_text;
    EXPECT_EQ(r.users_file_text.find("pw\n"), std::string::npos);
    EXPECT_TRUE(clb::config::supported_password_hash(
        r.users_file_text.substr(6, r.users_file_text.size() - 7)));
    EXPECT_NE(r.yaml.find("users_file: admin.users"), std::string::npos);
}

TEST(Translate, UnknownDirectivesAreCommentsWithFileAndLine) {
    auto r =
        run("listen api\n  bind 127.0.0.1:8082\n  mode http\n  acl a path_beg /x\n"
            "  server a app.example.com:9100\n  server b 127.0.0.1:9101\n");
    ASSERT_TRUE(load(r));
    EXPECT_TRUE(mentions(r, "haproxy.cfg:4: acl a path_beg /x: no contrail-lb setting"));
    EXPECT_TRUE(mentions(r, "haproxy.cfg:5: server a app.example.com:9100: not a literal IP:PORT"));
    EXPECT_NE(r.yaml.find("# not translated: haproxy.cfg:4: acl a path_beg /x"), std::string::npos);
}

TEST(Translate, ParseErrorIsAnError) {
    auto r = run("frontend\n");
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->to_string(), "haproxy.cfg:1: \"frontend\" needs a name");
    auto b = run(kContrail, "protocol bgp x {\n");
    ASSERT_TRUE(b.error);
    EXPECT_EQ(b.error->file, "bird.conf");
}

TEST(Translate, BirdPeersBfdAndVips) {
    auto r = run(
        kContrail,
        "router id 10.0.0.11;\n"
        "protocol bfd { interface \"*\" { interval 50 ms; multiplier 4; }; }\n"
        "protocol static vips { ipv4; route 10.0.0.100/32 blackhole; route 10.1.0.0/24 blackhole; "
        "}\n"
        "protocol bgp tor1 { local as 64512; neighbor 10.0.0.1 port 1179 as 65000; hold time 30;\n"
        "  bfd on; password \"pw\"; ipv4 { import none; export all; }; }\n"
        "protocol bgp tor2 { local as 64512; neighbor 10.0.0.2 as 65000; hold time 30;\n"
        "  ipv4 { import none; export where proto = \"vips\"; }; }\n");
    auto config = load(r);
    ASSERT_TRUE(config && config->bgp);
    const auto& bgp = *config->bgp;
    EXPECT_EQ(bgp.router_id.to_string(), "10.0.0.11");
    EXPECT_EQ(bgp.local_as, 64512u);
    EXPECT_EQ(bgp.hold_time, 30s);
    ASSERT_EQ(bgp.peers.size(), 2u);
    EXPECT_EQ(bgp.peers[0].port, 1179);
    EXPECT_EQ(bgp.peers[0].remote_as, 65000u);
    EXPECT_EQ(bgp.peers[0].password, "pw");
    ASSERT_TRUE(bgp.peers[0].bfd);
    EXPECT_EQ(bgp.peers[0].bfd->min_tx, 50ms);
    EXPECT_EQ(bgp.peers[0].bfd->multiplier, 4u);
    EXPECT_FALSE(bgp.peers[1].bfd);
    ASSERT_EQ(bgp.vips.size(), 1u);
    EXPECT_EQ(bgp.vips[0].prefix.to_string(), "10.0.0.100/32");
    EXPECT_TRUE(mentions(r, "bird.conf:3: route 10.1.0.0/24 blackhole: not a host route"));
}
