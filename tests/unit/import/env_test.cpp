// --from-env: Tungsten Fabric's variables -> a valid configuration; every error names
// the variable and its value.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/import/env.hpp"
#include "contrail_lb/import/translate.hpp"

using namespace clb::import;

namespace {

EnvResult from(std::map<std::string, std::string> vars) {
    return config_from_env([vars](const std::string& name) -> std::optional<std::string> {
        auto found = vars.find(name);
        if (found == vars.end()) return std::nullopt;
        return found->second;
    });
}

std::shared_ptr<const clb::config::Config> load(const EnvResult& r) {
    for (const auto& e : r.errors)
        ADD_FAILURE() << e;
    auto loaded = clb::config::load_string(r.yaml, "env");
    for (const auto& e : loaded.errors)
        ADD_FAILURE() << e.to_string() << "\n" << r.yaml;
    return loaded.config;
}

bool has_error(const EnvResult& r, const std::string& text) {
    for (const auto& e : r.errors)
        if (e.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST(FromEnv, ControllerNodesAreTheDefaultOfEveryRole) {
    auto config = load(from({{"CONTROLLER_NODES", "10.0.0.11, 10.0.0.12,10.0.0.13"}}));
    ASSERT_TRUE(config);
    ASSERT_EQ(config->services.size(), 3u);
    EXPECT_EQ(config->services[0].name, "contrail-api");
    EXPECT_EQ(config->services[0].listen[0].to_string(), "0.0.0.0:8082");
    ASSERT_EQ(config->services[0].backends.size(), 3u);
    EXPECT_EQ(config->services[0].backends[2].address.to_string(), "10.0.0.13:8082");
    EXPECT_EQ(config->services[1].backends[0].address.to_string(), "10.0.0.11:8081");
    EXPECT_EQ(config->services[2].mode, clb::config::Mode::tcp);
    EXPECT_EQ(config->services[2].backends[0].address.to_string(), "10.0.0.11:8143");
    EXPECT_EQ(config->admin.listen->to_string(), "127.0.0.1:9090");
    EXPECT_FALSE(config->bgp);
}

TEST(FromEnv, RolesPortsAndListenAddress) {
    auto config = load(from({{"CONTROLLER_NODES", "10.0.0.11"},
                             {"CONFIG_NODES", "10.0.1.1,10.0.1.2"},
                             {"ANALYTICS_NODES", "10.0.2.1"},
                             {"WEBUI_NODES", "10.0.3.1"},
                             {"CONFIG_API_PORT", "18082"},
                             {"ANALYTICS_API_PORT", "18081"},
                             {"WEBUI_HTTPS_LISTEN_PORT", "18143"},
                             {"CONTRAIL_LB_LISTEN_ADDRESS", "127.0.0.1"},
                             {"CONTRAIL_LB_ADMIN_LISTEN", "none"}}));
    ASSERT_TRUE(config);
    EXPECT_EQ(config->services[0].backends.size(), 2u);
    EXPECT_EQ(config->services[0].listen[0].to_string(), "127.0.0.1:18082");
    EXPECT_EQ(config->services[1].backends[0].address.to_string(), "10.0.2.1:18081");
    EXPECT_EQ(config->services[2].backends[0].address.to_string(), "10.0.3.1:18143");
    EXPECT_FALSE(config->admin.listen);
}

TEST(FromEnv, BgpPeersVipsAndBfd) {
    auto config = load(from({{"CONTROLLER_NODES", "10.0.0.11"},
                             {"CONFIG_API_VIP", "10.0.0.100"},
                             {"ANALYTICS_API_VIP", "10.0.0.101"},
                             {"CONTRAIL_LB_BGP_PEERS", "10.0.0.1,10.0.0.2=65001"},
                             {"CONTRAIL_LB_BGP_LOCAL_AS", "64512"},
                             {"CONTRAIL_LB_BGP_ROUTER_ID", "10.0.0.11"},
                             {"CONTRAIL_LB_BGP_MED", "100"},
                             {"CONTRAIL_LB_BFD", "true"},
                             {"CONTRAIL_LB_BFD_INTERVAL", "300ms"}}));
    ASSERT_TRUE(config && config->bgp);
    const auto& bgp = *config->bgp;
    EXPECT_EQ(bgp.peers[0].remote_as, 64512u);
    EXPECT_EQ(bgp.peers[1].remote_as, 65001u);
    ASSERT_TRUE(bgp.peers[0].bfd);
    EXPECT_EQ(bgp.peers[0].bfd->min_rx, std::chrono::milliseconds(300));
    ASSERT_EQ(bgp.vips.size(), 2u);
    EXPECT_EQ(bgp.vips[0].prefix.to_string(), "10.0.0.100/32");
    EXPECT_EQ(bgp.vips[0].med, 100u);
    EXPECT_EQ(bgp.vips[1].require.services, std::vector<std::string>{"contrail-analytics-api"});
}

TEST(FromEnv, ErrorsNameTheVariableAndItsValue) {
    EXPECT_TRUE(has_error(from({}), "CONTROLLER_NODES is not set"));
    auto r = from({{"CONTROLLER_NODES", "10.0.0.11,node2"},
                   {"CONFIG_API_PORT", "99999"},
                   {"SSL_ENABLE", "true"},
                   {"CONTRAIL_LB_BFD", "maybe"},
                   {"CONFIG_API_VIP", "10.0.0.100"}});
    EXPECT_TRUE(r.yaml.empty());
    EXPECT_TRUE(
        has_error(r, "CONTROLLER_NODES=\"10.0.0.11,node2\": \"node2\" is not an IP address"));
    EXPECT_TRUE(has_error(r, "CONFIG_API_PORT=\"99999\": expected an integer in 1..65535"));
    EXPECT_TRUE(has_error(r, "SERVER_CA_CERTFILE=\"\": required with SSL_ENABLE=true"));
    EXPECT_TRUE(has_error(r, "CONFIG_API_VIP=\"10.0.0.100\": a VIP is announced over BGP"));
    auto own = from({{"CONTROLLER_NODES", "10.0.0.11"}, {"ANALYTICS_API_SSL_ENABLE", "True"}});
    EXPECT_TRUE(
        has_error(own, "SERVER_CA_CERTFILE=\"\": required with ANALYTICS_API_SSL_ENABLE=true"));
    auto half = from({{"CONTROLLER_NODES", "10.0.0.11"},
                      {"SSL_ENABLE", "true"},
                      {"SERVER_CA_CERTFILE", "/etc/hostname"},
                      {"SERVER_KEYFILE", "/etc/hostname"}});
    EXPECT_TRUE(has_error(half,
                          "SERVER_KEYFILE=\"/etc/hostname\": the client certificate to the "
                          "backends needs SERVER_CERTFILE beside it"));
    auto bgp = from({{"CONTROLLER_NODES", "10.0.0.11"},
                     {"CONFIG_API_VIP", "10.0.0.100"},
                     {"CONTRAIL_LB_BGP_PEERS", "10.0.0.1=x"}});
    EXPECT_TRUE(has_error(
        bgp, "CONTRAIL_LB_BGP_PEERS=\"10.0.0.1=x\": \"10.0.0.1=x\" is not ADDR or ADDR=AS"));
    EXPECT_TRUE(has_error(bgp, "CONTRAIL_LB_BGP_ROUTER_ID=\"\""));
}

// *_SSL_ENABLE: TLS to the API backends, verified with SERVER_CA_CERTFILE; the client
// certificate only when both SERVER_CERTFILE and SERVER_KEYFILE are set.
TEST(FromEnv, SslEnableGivesTheApisBackendTls) {
    auto r = from({{"CONTROLLER_NODES", "10.0.0.11"},
                   {"SSL_ENABLE", "true"},
                   {"SERVER_CA_CERTFILE", "/etc/hostname"}});
    auto config = load(r);
    ASSERT_TRUE(config);
    for (size_t i : {0u, 1u}) {
        const auto& tls = config->services[i].backend_tls;
        ASSERT_TRUE(tls) << r.yaml;
        EXPECT_EQ(tls->verify, clb::config::TlsVerify::required);
        EXPECT_EQ(tls->ca_file, "/etc/hostname");
        EXPECT_TRUE(tls->cert_file.empty());
    }
    EXPECT_FALSE(config->services[2].backend_tls);  // the web UI: passed through
    EXPECT_NE(r.yaml.find("backend_tls: {verify: required, ca: /etc/hostname}  # from "
                          "SSL_ENABLE=true"),
              std::string::npos)
        << r.yaml;

    auto mutual = from({{"CONTROLLER_NODES", "10.0.0.11"},
                        {"SSL_ENABLE", "true"},
                        {"ANALYTICS_API_SSL_ENABLE", "false"},
                        {"SERVER_CA_CERTFILE", "/etc/hostname"},
                        {"SERVER_CERTFILE", "/etc/hostname"},
                        {"SERVER_KEYFILE", "/etc/hostname"}});
    config = load(mutual);
    ASSERT_TRUE(config);
    ASSERT_TRUE(config->services[0].backend_tls);
    EXPECT_EQ(config->services[0].backend_tls->cert_file, "/etc/hostname");
    EXPECT_EQ(config->services[0].backend_tls->key_file, "/etc/hostname");
    EXPECT_FALSE(config->services[1].backend_tls);

    auto analytics_only = from({{"CONTROLLER_NODES", "10.0.0.11"},
                                {"ANALYTICS_API_SSL_ENABLE", "yes"},
                                {"SERVER_CA_CERTFILE", "/etc/hostname"}});
    config = load(analytics_only);
    ASSERT_TRUE(config);
    EXPECT_FALSE(config->services[0].backend_tls);
    EXPECT_TRUE(config->services[1].backend_tls);
}

TEST(FromEnv, MigrationGuideListsEveryVariable) {
    std::ifstream in(std::string(CLB_SOURCE_DIR) + "/docs/migration.md");
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& variable : env_variables())
        EXPECT_NE(text.str().find(std::string("`") + variable.name + "`"), std::string::npos)
            << variable.name << " is not in docs/migration.md";
}

TEST(FromEnv, HostileFilterAndCommentsDoNotBreakTheOutput) {
    // A BIRD filter of 200k tokens and a CR inside a directive's text.
    std::string filter = "filter f { if net = 10.0.0.100/32 then accept; ";
    for (int i = 0; i < 50000; ++i)
        filter += "if net = 10.0.0.100/32 then accept; ";
    filter += "reject; }\n";
    clb::import::ImportInput input{"h.cfg",
                                   "listen a\n  bind 127.0.0.1:1\n  mode http\n  acl x\rhdr y\n"
                                   "  server s 127.0.0.1:2\n",
                                   std::string("b.conf"),
                                   "router id 10.0.0.1;\n" + filter +
                                       "protocol static v { route 10.0.0.100/32 blackhole; }\n"
                                       "protocol bgp p { local as 1; neighbor 10.0.0.2 as 2; "
                                       "ipv4 { export filter f; }; }\n",
                                   ""};
    auto result = clb::import::translate(input);
    ASSERT_FALSE(result.error);
    auto loaded = clb::config::load_string(result.yaml, "out.yaml");
    for (const auto& e : loaded.errors)
        ADD_FAILURE() << e.to_string();
}
