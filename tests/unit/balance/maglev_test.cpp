#include <gtest/gtest.h>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

constexpr uint32_t kKeys = 100000;

// Backend name per key: indexes shift when a backend goes, names do not.
std::vector<std::string> assignment(Pool& pool) {
    auto picker = pool.picker(config::Algorithm::maglev);
    std::vector<std::string> out;
    out.reserve(kKeys);
    for (uint32_t k = 0; k < kKeys; ++k)
        out.push_back(pool.name(picker->pick(client(k), {})));
    return out;
}

double moved_fraction(const std::vector<std::string>& before,
                      const std::vector<std::string>& after) {
    uint32_t moved = 0;
    for (uint32_t k = 0; k < kKeys; ++k)
        moved += before[k] != after[k];
    return static_cast<double>(moved) / kKeys;
}

class MaglevDisruption : public ::testing::TestWithParam<size_t> {};

// Removing one of N backends moves its own 1/N of the keys and barely any other.
TEST_P(MaglevDisruption, RemovingOneBackendMovesAboutOneNth) {
    const size_t n = GetParam();
    Pool full = Pool::uniform(n);
    auto before = assignment(full);
    for (size_t gone : {size_t{0}, n / 2, n - 1}) {
        Pool smaller = full.without(gone);
        double moved = moved_fraction(before, assignment(smaller));
        RecordProperty("moved_without_" + std::to_string(gone), std::to_string(moved));
        EXPECT_LE(moved, 1.0 / n + 0.01) << "removed backend " << gone;
        EXPECT_GE(moved, 1.0 / n * 0.8) << "removed backend " << gone;
    }
}

TEST_P(MaglevDisruption, AddingOneBackendMovesAboutOneNth) {
    const size_t n = GetParam();
    Pool before_pool = Pool::uniform(n);
    Pool after_pool = Pool::uniform(n);
    after_pool.add("backend-new", 1);
    double moved = moved_fraction(assignment(before_pool), assignment(after_pool));
    RecordProperty("moved", std::to_string(moved));
    EXPECT_LE(moved, 1.0 / (n + 1) + 0.01);
}

INSTANTIATE_TEST_SUITE_P(Balance, MaglevDisruption, ::testing::Values(3, 10, 100));

TEST(Maglev, ConfigurationOrderDoesNotMatter) {
    // Two contrail-lb nodes listing the same backends in different orders must send a
    // client to the same backend (ECMP may move a client between nodes).
    Pool forward;
    Pool reverse;
    for (int i = 0; i < 7; ++i)
        forward.add("ctrl" + std::to_string(i), 1 + i % 3);
    for (int i = 6; i >= 0; --i)
        reverse.add("ctrl" + std::to_string(i), 1 + i % 3);
    EXPECT_EQ(assignment(forward), assignment(reverse));
}

TEST(Maglev, RetryWalksTheTableDeterministically) {
    Pool pool = Pool::uniform(5);
    auto picker = pool.picker(config::Algorithm::maglev);
    for (uint32_t c = 0; c < 500; ++c) {
        const uint32_t tried[] = {static_cast<uint32_t>(picker->pick(client(c), {}))};
        int retry = picker->pick(client(c), tried);
        EXPECT_NE(retry, static_cast<int>(tried[0]));
        EXPECT_EQ(picker->pick(client(c), tried), retry);
    }
}

TEST(Maglev, HeavyWeightsDoNotStarveLightBackends) {
    Pool pool({1000, 1, 1});
    auto picker = pool.picker(config::Algorithm::maglev);
    std::vector<int> counts(3, 0);
    for (uint32_t k = 0; k < kKeys; ++k)
        counts[picker->pick(client(k), {})]++;
    EXPECT_GT(counts[1], 0);
    EXPECT_GT(counts[2], 0);
    EXPECT_GT(counts[0], kKeys * 99 / 100);
}

}  // namespace
}  // namespace clb::balance::testing
