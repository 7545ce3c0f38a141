#include <gtest/gtest.h>

#include <vector>

#include "contrail_lb/bfd/packet.hpp"

namespace clb::bfd {
namespace {

ControlPacket sample() {
    ControlPacket p;
    p.diag = Diag::control_detection_expired;
    p.state = State::up;
    p.poll = true;
    p.detect_mult = 5;
    p.my_discriminator = 0x01020304;
    p.your_discriminator = 0xA0B0C0D0;
    p.desired_min_tx_us = 100'000;
    p.required_min_rx_us = 250'000;
    return p;
}

std::vector<uint8_t> bytes_of(const ControlPacket& p) {
    auto a = encode(p);
    return {a.begin(), a.end()};
}

Drop drop_of(const std::vector<uint8_t>& bytes) {
    const Decoded d = decode(bytes);
    EXPECT_FALSE(d.packet);
    return d.drop;
}

TEST(BfdPacket, EncodesTheRfc5880Layout) {
    const auto b = encode(sample());
    EXPECT_EQ(b[0], 0x21);  // version 1, diag 1
    EXPECT_EQ(b[1], 0xE0);  // Up, P
    EXPECT_EQ(b[2], 5);
    EXPECT_EQ(b[3], 24);
    EXPECT_EQ(b[4], 0x01);
    EXPECT_EQ(b[7], 0x04);
    EXPECT_EQ(b[8], 0xA0);
    EXPECT_EQ(b[12], 0x00);
    EXPECT_EQ(b[13], 0x01);  // 100000 = 0x000186A0
    EXPECT_EQ(b[14], 0x86);
    EXPECT_EQ(b[15], 0xA0);
}

TEST(BfdPacket, RoundTrips) {
    const Decoded d = decode(bytes_of(sample()));
    ASSERT_TRUE(d.packet);
    EXPECT_EQ(*d.packet, sample());
}

TEST(BfdPacket, IgnoresBytesAfterTheLengthField) {
    auto b = bytes_of(sample());
    b.push_back(0xFF);
    EXPECT_TRUE(decode(b).packet);
}

TEST(BfdPacket, DropsShortOrMislabelledPackets) {
    auto b = bytes_of(sample());
    EXPECT_EQ(drop_of({b.begin(), b.begin() + 23}), Drop::bad_length);
    b[3] = 23;
    EXPECT_EQ(drop_of(b), Drop::bad_length);
    b[3] = 25;  // longer than what arrived
    EXPECT_EQ(drop_of(b), Drop::bad_length);
    EXPECT_EQ(drop_of({}), Drop::bad_length);
}

TEST(BfdPacket, DropsOtherVersions) {
    auto b = bytes_of(sample());
    b[0] = static_cast<uint8_t>(2 << 5);
    EXPECT_EQ(drop_of(b), Drop::bad_version);
    b[0] = 0;
    EXPECT_EQ(drop_of(b), Drop::bad_version);
}

TEST(BfdPacket, DropsZeroMultiplierAndMultipoint) {
    auto b = bytes_of(sample());
    b[2] = 0;
    EXPECT_EQ(drop_of(b), Drop::bad_multiplier);
    b = bytes_of(sample());
    b[1] |= 0x01;
    EXPECT_EQ(drop_of(b), Drop::multipoint);
}

TEST(BfdPacket, DropsZeroDiscriminators) {
    ControlPacket p = sample();
    p.my_discriminator = 0;
    EXPECT_EQ(drop_of(bytes_of(p)), Drop::zero_my_discriminator);
    p = sample();
    p.your_discriminator = 0;  // only Down and AdminDown may not know the peer yet
    EXPECT_EQ(drop_of(bytes_of(p)), Drop::zero_your_discriminator);
    p.state = State::init;
    EXPECT_EQ(drop_of(bytes_of(p)), Drop::zero_your_discriminator);
    p.state = State::down;
    EXPECT_TRUE(decode(bytes_of(p)).packet);
    p.state = State::admin_down;
    EXPECT_TRUE(decode(bytes_of(p)).packet);
}

TEST(BfdPacket, DropsAuthenticatedPacketsWeHaveNoKeyFor) {
    auto b = bytes_of(sample());
    b[1] |= 0x04;
    EXPECT_EQ(drop_of(b), Drop::bad_length);  // A set needs an authentication section
    b[3] = 28;
    b.insert(b.end(), {1, 4, 1, 'x'});  // Simple Password, key id 1
    EXPECT_EQ(drop_of(b), Drop::authentication);
}

TEST(BfdPacket, NamesEveryDropCause) {
    for (size_t i = 0; i < kDropCauses; ++i)
        EXPECT_STRNE(to_string(static_cast<Drop>(i)), "?");
}

}  // namespace
}  // namespace clb::bfd
