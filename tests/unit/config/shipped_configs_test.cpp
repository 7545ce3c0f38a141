// The configuration files shipped in conf/ load, and say what their users rely on.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "contrail_lb/config/config.hpp"

namespace clb::config {
namespace {

std::string conf_file(std::string_view name) {
    return (std::filesystem::path(CLB_SOURCE_DIR) / "conf" / name).string();
}

std::shared_ptr<const Config> load(std::string_view name) {
    auto result = load_file(conf_file(name));
    for (const auto& e : result.errors)
        ADD_FAILURE() << e.to_string();
    return result.config;
}

// The production example names files under /etc, as it would be deployed: they are made
// (placeholders config accepts; the TLS files are the tls module's to load) in a temp
// directory, and the paths rewritten to it.
std::shared_ptr<const Config> load_production() {
    std::string dir = ::testing::TempDir() + "clb-production-XXXXXX";
    if (!::mkdtemp(dir.data())) return nullptr;
    std::ifstream in(conf_file("contrail-lb.yaml"));
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    for (std::string prefix : {"/etc/contrail-lb/", "/etc/contrail/ssl/certs/"}) {
        for (size_t at; (at = yaml.find(prefix)) != std::string::npos;)
            yaml.replace(at, prefix.size(), dir + "/");
    }
    std::filesystem::create_directories(dir + "/tls");
    std::filesystem::create_directories(dir + "/errors");
    for (const char* name : {"tls/vip.pem", "tls/vip.key", "ca-cert.pem"})
        std::ofstream(dir + "/" + name) << "placeholder\n";
    std::ofstream(dir + "/admin.token") << "secret-token\n";
    std::ofstream(dir + "/admin.users")  // `openssl passwd -6`
        << "admin:$6$abcdefgh$i5APdMC0yV8IlEG3oguqSSoLdgBlDp7z3yoFpmx1cmRzu.Wm9Nc3z1uFj7xO0o6sMNMW"
           "anDur9Fxp9NToiHjN0\n";
    std::ofstream(dir + "/errors/503.http")
        << "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\n\r\nmaintenance\n";
    std::ofstream(dir + "/contrail-lb.yaml") << yaml;
    auto result = load_file(dir + "/contrail-lb.yaml");
    for (const auto& e : result.errors)
        ADD_FAILURE() << e.to_string();
    std::filesystem::remove_all(dir);
    return result.config;
}

// scripts/demo.sh starts its backends on exactly these addresses.
TEST(ShippedConfigs, DemoMatchesTheDemoScript) {
    auto config = load("demo.yaml");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->global.workers, 2u);
    EXPECT_EQ(config->admin.listen->to_string(), "127.0.0.1:9090");
    EXPECT_FALSE(config->bgp);
    ASSERT_EQ(config->services.size(), 2u);

    const Service* api = config->find_service("contrail-api");
    ASSERT_TRUE(api);
    EXPECT_EQ(api->listen.at(0).to_string(), "127.0.0.1:8082");
    ASSERT_EQ(api->backends.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(api->backends[i].name, "api" + std::to_string(i + 1));
        EXPECT_EQ(api->backends[i].address.to_string(), "127.0.0.1:910" + std::to_string(i + 1));
    }
    const Service* analytics = config->find_service("contrail-analytics-api");
    ASSERT_TRUE(analytics);
    EXPECT_EQ(analytics->listen.at(0).to_string(), "127.0.0.1:8081");
    ASSERT_EQ(analytics->backends.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(analytics->backends[i].name, "analytics" + std::to_string(i + 1));
        EXPECT_EQ(analytics->backends[i].address.to_string(),
                  "127.0.0.1:920" + std::to_string(i + 1));
    }
    for (const Service* s : {api, analytics}) {
        EXPECT_EQ(s->health_check.type, CheckType::http);
        EXPECT_EQ(s->health_check.path, "/");
        EXPECT_EQ(s->health_check.interval, std::chrono::seconds(1));
        EXPECT_EQ(s->health_check.timeout, std::chrono::milliseconds(500));
        EXPECT_EQ(s->health_check.rise, 2u);
        EXPECT_EQ(s->health_check.fall, 2u);
    }
}

TEST(ShippedConfigs, ProductionExample) {
    auto config = load_production();
    ASSERT_TRUE(config);
    EXPECT_EQ(config->admin.listen->to_string(), "10.0.0.21:5937");
    EXPECT_EQ(config->admin.users.size(), 1u);
    for (const char* name : {"contrail-api", "contrail-analytics-api"}) {
        const Service* s = config->find_service(name);
        ASSERT_TRUE(s) << name;
        EXPECT_EQ(s->timeouts.client, std::chrono::minutes(3));
        EXPECT_EQ(s->timeouts.server, std::chrono::minutes(3));
        EXPECT_EQ(s->health_check.type, CheckType::http);
        EXPECT_EQ(s->health_check.interval, std::chrono::seconds(2));
        EXPECT_EQ(s->health_check.rise, 2u);
        EXPECT_EQ(s->health_check.fall, 3u);
        EXPECT_EQ(s->backends.size(), 3u);
        EXPECT_TRUE(s->tls);
        ASSERT_TRUE(s->backend_tls);
        for (const auto& b : s->backends)
            EXPECT_EQ(b.max_connections, 1024u);
    }
    const Service* ui = config->find_service("contrail-webui");
    ASSERT_TRUE(ui);
    ASSERT_TRUE(ui->sticky);
    EXPECT_EQ(ui->sticky->cookie, "SERVERID");
    EXPECT_EQ(ui->health_check.port, 8082);
    EXPECT_EQ(ui->error_pages.count(503), 1u);
    const Service* redirect = config->find_service("contrail-webui-http");
    ASSERT_TRUE(redirect && redirect->redirect);
    EXPECT_EQ(redirect->redirect->port, 8143);
    EXPECT_TRUE(config->bgp->peers[0].bfd);
    ASSERT_TRUE(config->bgp);
    EXPECT_EQ(config->bgp->peers.size(), 2u);
    ASSERT_EQ(config->bgp->vips.size(), 1u);
    EXPECT_EQ(config->bgp->vips[0].prefix.to_string(), "10.0.0.100/32");
    EXPECT_EQ(config->bgp->vips[0].require.services,
              (std::vector<std::string>{"contrail-api", "contrail-analytics-api"}));
}

}  // namespace
}  // namespace clb::config
