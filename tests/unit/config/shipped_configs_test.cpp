// The configuration files shipped in conf/ load, and say what their users rely on.
#include <gtest/gtest.h>

#include <filesystem>

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
    auto config = load("contrail-lb.yaml");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->admin.listen->to_string(), "127.0.0.1:9090");
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
        EXPECT_FALSE(s->tls);
    }
    ASSERT_TRUE(config->bgp);
    EXPECT_EQ(config->bgp->peers.size(), 2u);
    ASSERT_EQ(config->bgp->vips.size(), 1u);
    EXPECT_EQ(config->bgp->vips[0].prefix.to_string(), "10.0.0.100/32");
    EXPECT_EQ(config->bgp->vips[0].require.services,
              (std::vector<std::string>{"contrail-api", "contrail-analytics-api"}));
}

}  // namespace
}  // namespace clb::config
