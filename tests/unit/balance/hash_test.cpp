#include <gtest/gtest.h>

#include <set>

#include "pool.hpp"

namespace clb::balance::testing {
namespace {

// Pinned values: a change here would reshuffle every Maglev table and split a cluster
// whose nodes run different versions.
TEST(HashKey, IsStableAcrossBuilds) {
    EXPECT_EQ(hash_key(""), 0xefd01f60ba992926ULL);
    EXPECT_EQ(hash_key("ctrl1"), 0xd6eaf3033865498bULL);
}

TEST(HashKey, DistinguishesSimilarNames) {
    std::set<uint64_t> seen;
    for (int i = 0; i < 10000; ++i)
        seen.insert(hash_key("ctrl" + std::to_string(i)));
    EXPECT_EQ(seen.size(), 10000u);
    EXPECT_NE(hash_key("ctrl1"), hash_key("ctrl2"));
}

TEST(HashClient, IsStableAndDistinct) {
    auto a = net::IpAddress::parse("10.0.0.1").value();
    auto b = net::IpAddress::parse("10.0.0.2").value();
    EXPECT_EQ(hash_client(a), hash_client(net::IpAddress::parse("10.0.0.1").value()));
    EXPECT_NE(hash_client(a), hash_client(b));
    EXPECT_NE(hash_client(net::IpAddress::parse("2001:db8::1").value()),
              hash_client(net::IpAddress::parse("2001:db8::2").value()));
}

TEST(HashClient, V4MappedAddressHashesAsIpv4) {
    EXPECT_EQ(hash_client(net::IpAddress::parse("::ffff:192.0.2.7").value()),
              hash_client(net::IpAddress::parse("192.0.2.7").value()));
}

TEST(HashClient, SequentialAddressesSpreadOverLowBits) {
    // Clients of one subnet differ in a few bits; every output bucket must still fill.
    std::vector<int> buckets(16, 0);
    for (uint32_t i = 0; i < 16000; ++i)
        buckets[client(i) % 16]++;
    for (int b : buckets)
        EXPECT_NEAR(b, 1000, 150);
}

}  // namespace
}  // namespace clb::balance::testing
