// runtime::Registry: what a reload keeps, what health and drain changes publish, and who
// may take traffic (eligible/candidates) in each published Snapshot.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/runtime/state.hpp"

namespace clb::runtime {
namespace {

config::Backend backend(std::string name, const char* address, unsigned weight = 1,
                        bool backup = false) {
    return {std::move(name), *net::SocketAddress::parse(address), weight, backup};
}

config::Service service(std::string name, config::CheckType check,
                        std::vector<config::Backend> backends) {
    config::Service svc;
    svc.name = std::move(name);
    svc.listen = {*net::SocketAddress::parse("127.0.0.1:8082")};
    svc.health_check.type = check;
    svc.backends = std::move(backends);
    return svc;
}

std::shared_ptr<const config::Config> config_of(std::vector<config::Service> services) {
    auto cfg = std::make_shared<config::Config>();
    cfg->services = std::move(services);
    return cfg;
}

// api: b1, b2 primaries and b3 a backup, all checked over http (DOWN until told).
std::shared_ptr<const config::Config> checked_api() {
    return config_of({service("api", config::CheckType::http,
                              {backend("b1", "127.0.0.1:9101"), backend("b2", "127.0.0.1:9102", 3),
                               backend("b3", "127.0.0.1:9103", 1, true)})});
}

const Backend& state_of(const Registry& registry, const std::string& svc, size_t i) {
    return *registry.snapshot()->find(svc)->backends.at(i).state;
}

// The names of the eligible backends of `svc` in the current snapshot.
std::vector<std::string> eligible(const Registry& registry, const std::string& svc) {
    const ServiceEntry* entry = registry.snapshot()->find(svc);
    std::vector<std::string> names;
    for (uint32_t i : entry->eligible)
        names.push_back(entry->backends[i].config->name);
    return names;
}

TEST(Registry, CheckedBackendsStartDownUncheckedOnesUp) {
    Registry registry;
    registry.apply(
        config_of({service("checked", config::CheckType::tcp, {backend("c1", "127.0.0.1:9101")}),
                   service("free", config::CheckType::none, {backend("f1", "127.0.0.1:9201")})}));
    auto snap = registry.snapshot();
    ASSERT_EQ(snap->services.size(), 2u);
    EXPECT_FALSE(snap->find("checked")->backends[0].up);
    EXPECT_EQ(snap->find("checked")->up_count, 0u);
    EXPECT_TRUE(snap->find("free")->backends[0].up);
    EXPECT_EQ(snap->find("free")->up_count, 1u);
    EXPECT_EQ(registry.health(state_of(registry, "checked", 0))->last_reason, "not checked yet");
    EXPECT_EQ(registry.health(state_of(registry, "free", 0))->last_reason, "no health check");
    EXPECT_EQ(snap->find("missing"), nullptr);
}

TEST(Registry, SetHealthPublishesEligibleAndCandidates) {
    Registry registry;
    registry.apply(checked_api());
    uint64_t generation = registry.snapshot()->generation;
    EXPECT_TRUE(eligible(registry, "api").empty());

    registry.set_health(state_of(registry, "api", 1), true, "status 200");
    auto snap = registry.snapshot();
    EXPECT_GT(snap->generation, generation);
    const ServiceEntry* api = snap->find("api");
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b2"});
    ASSERT_EQ(api->candidates.size(), 1u);
    EXPECT_EQ(api->candidates[0].weight, 3u);
    EXPECT_EQ(api->candidates[0].key_hash, api->backends[1].state->key_hash);
    EXPECT_EQ(api->up_count, 1u);
    EXPECT_NE(api->prepared, nullptr);
    EXPECT_EQ(registry.health(*api->backends[1].state)->last_reason, "status 200");
}

TEST(Registry, SetHealthWithoutChangePublishesNothing) {
    Registry registry;
    registry.apply(checked_api());
    auto before = registry.snapshot();
    registry.set_health(state_of(registry, "api", 0), false, "still down");
    EXPECT_EQ(registry.snapshot(), before);
}

TEST(Registry, BackupsServeOnlyWhenNoPrimaryQualifies) {
    Registry registry;
    registry.apply(checked_api());
    registry.set_health(state_of(registry, "api", 2), true, "ok");
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b3"});
    EXPECT_EQ(registry.snapshot()->find("api")->up_count, 1u);  // backups count as UP

    registry.set_health(state_of(registry, "api", 0), true, "ok");
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b1"});
    EXPECT_EQ(registry.snapshot()->find("api")->up_count, 2u);

    registry.set_health(state_of(registry, "api", 0), false, "refused");
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b3"});
}

TEST(Registry, WeightZeroTakesNoTrafficAndLetsBackupsIn) {
    Registry registry;
    registry.apply(config_of(
        {service("api", config::CheckType::none,
                 {backend("b1", "127.0.0.1:9101", 0), backend("b2", "127.0.0.1:9102", 1, true)})}));
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b2"});
}

TEST(Registry, DrainedBackendsTakeNoTraffic) {
    Registry registry;
    registry.apply(
        config_of({service("api", config::CheckType::none,
                           {backend("b1", "127.0.0.1:9101"), backend("b2", "127.0.0.1:9102")})}));
    EXPECT_TRUE(registry.set_drained("api", "b1", true));
    const ServiceEntry* api = registry.snapshot()->find("api");
    EXPECT_TRUE(api->backends[0].drained);
    EXPECT_EQ(eligible(registry, "api"), std::vector<std::string>{"b2"});
    EXPECT_EQ(api->up_count, 1u);

    EXPECT_TRUE(registry.set_drained("api", "b1", false));
    EXPECT_EQ(eligible(registry, "api"), (std::vector<std::string>{"b1", "b2"}));
    EXPECT_FALSE(registry.set_drained("api", "nope", true));
    EXPECT_FALSE(registry.set_drained("nope", "b1", true));
}

TEST(Registry, ReloadKeepsStateWhenServiceNameAndAddressMatch) {
    Registry registry;
    registry.apply(checked_api());
    auto kept = registry.snapshot()->find("api")->backends[0].state;
    registry.set_health(*kept, true, "ok");
    registry.set_drained("api", "b2", true);
    kept->connections_total.add(7);
    auto service_state = registry.snapshot()->find("api")->state;

    registry.apply(checked_api());  // same configuration, new objects
    const ServiceEntry* api = registry.snapshot()->find("api");
    EXPECT_EQ(api->backends[0].state, kept);
    EXPECT_TRUE(api->backends[0].up);
    EXPECT_EQ(api->backends[0].state->connections_total.get(), 7u);
    EXPECT_TRUE(api->backends[1].drained);
    EXPECT_EQ(api->state, service_state);
}

TEST(Registry, ReloadStartsAfreshWhenAddressOrServiceChanges) {
    Registry registry;
    registry.apply(checked_api());
    auto old_b1 = registry.snapshot()->find("api")->backends[0].state;
    registry.set_health(*old_b1, true, "ok");

    auto moved =
        config_of({service("api", config::CheckType::http, {backend("b1", "127.0.0.1:9999")}),
                   service("other", config::CheckType::http, {backend("b2", "127.0.0.1:9102")})});
    registry.apply(moved);
    auto snap = registry.snapshot();
    EXPECT_NE(snap->find("api")->backends[0].state, old_b1);
    EXPECT_FALSE(snap->find("api")->backends[0].up);
    EXPECT_FALSE(snap->find("other")->backends[0].up);
    EXPECT_EQ(registry.health(*old_b1), nullptr);  // dropped with the old configuration
}

TEST(Registry, BackendsThatLoseTheirChecksCountAsUp) {
    Registry registry;
    registry.apply(checked_api());
    auto unchecked =
        config_of({service("api", config::CheckType::none, {backend("b1", "127.0.0.1:9101")})});
    registry.apply(unchecked);
    EXPECT_TRUE(registry.snapshot()->find("api")->backends[0].up);
}

TEST(Registry, SubscribersSeeEveryPublishInOrder) {
    Registry registry;
    std::vector<std::string> calls;
    std::vector<uint64_t> generations;
    registry.subscribe([&](const std::shared_ptr<const Snapshot>& s) {
        calls.push_back("first");
        generations.push_back(s->generation);
    });
    registry.subscribe([&](const std::shared_ptr<const Snapshot>& s) {
        calls.push_back("second");
        EXPECT_EQ(s, registry.snapshot());
    });
    registry.apply(checked_api());
    registry.set_health(state_of(registry, "api", 0), true, "ok");
    registry.set_drained("api", "b1", true);
    EXPECT_EQ(calls,
              (std::vector<std::string>{"first", "second", "first", "second", "first", "second"}));
    ASSERT_EQ(generations.size(), 3u);
    EXPECT_LT(generations[0], generations[1]);
    EXPECT_LT(generations[1], generations[2]);
}

TEST(Registry, RecordCheckCountsChecksAndFailures) {
    Registry registry;
    registry.apply(checked_api());
    const Backend& b1 = state_of(registry, "api", 0);
    auto before = registry.snapshot();
    registry.record_check(b1, false, "timeout after 1s");
    registry.record_check(b1, true, "status 200");
    const HealthDetail* health = registry.health(b1);
    ASSERT_NE(health, nullptr);
    EXPECT_TRUE(health->checked);
    EXPECT_EQ(health->checks, 2u);
    EXPECT_EQ(health->check_failures, 1u);
    EXPECT_EQ(health->last_reason, "status 200");
    EXPECT_EQ(registry.snapshot(), before);  // a check is not a transition
}

}  // namespace
}  // namespace clb::runtime
