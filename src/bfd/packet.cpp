#include "contrail_lb/bfd/packet.hpp"

#include "contrail_lb/net/byte_order.hpp"

namespace clb::bfd {

namespace {

// Byte 1: Sta(2) P F C A D M.
constexpr uint8_t kPoll = 0x20, kFinal = 0x10, kCpi = 0x08, kAuth = 0x04, kDemand = 0x02,
                  kMultipoint = 0x01;

Decoded dropped(Drop why) {
    return Decoded{std::nullopt, why};
}

}  // namespace

const char* to_string(State s) {
    switch (s) {
        case State::admin_down:
            return "AdminDown";
        case State::down:
            return "Down";
        case State::init:
            return "Init";
        case State::up:
            return "Up";
    }
    return "?";
}

const char* to_string(Diag d) {
    switch (d) {
        case Diag::none:
            return "no diagnostic";
        case Diag::control_detection_expired:
            return "control detection time expired";
        case Diag::echo_failed:
            return "echo function failed";
        case Diag::neighbor_signaled_down:
            return "neighbor signaled session down";
        case Diag::forwarding_plane_reset:
            return "forwarding plane reset";
        case Diag::path_down:
            return "path down";
        case Diag::concatenated_path_down:
            return "concatenated path down";
        case Diag::admin_down:
            return "administratively down";
        case Diag::reverse_concatenated_path_down:
            return "reverse concatenated path down";
    }
    return "reserved diagnostic";
}

const char* to_string(Drop d) {
    switch (d) {
        case Drop::bad_length:
            return "bad_length";
        case Drop::bad_version:
            return "bad_version";
        case Drop::bad_multiplier:
            return "bad_multiplier";
        case Drop::multipoint:
            return "multipoint";
        case Drop::zero_my_discriminator:
            return "zero_my_discriminator";
        case Drop::zero_your_discriminator:
            return "zero_your_discriminator";
        case Drop::authentication:
            return "authentication";
        case Drop::bad_ttl:
            return "bad_ttl";
        case Drop::unknown_session:
            return "unknown_session";
        case Drop::count_:
            break;
    }
    return "?";
}

Decoded decode(std::span<const uint8_t> bytes) {
    // RFC 5880 §6.8.6, in its order, up to the session lookup.
    if (bytes.size() < kPacketSize) return dropped(Drop::bad_length);
    if ((bytes[0] >> 5) != kVersion) return dropped(Drop::bad_version);
    const uint8_t flags = bytes[1];
    const size_t length = bytes[3];
    const size_t minimum = (flags & kAuth) ? kPacketSize + 2 : kPacketSize;
    if (length < minimum || length > bytes.size()) return dropped(Drop::bad_length);
    ControlPacket p;
    p.diag = static_cast<Diag>(bytes[0] & 0x1F);
    p.state = static_cast<State>(flags >> 6);
    p.poll = flags & kPoll;
    p.final = flags & kFinal;
    p.control_plane_independent = flags & kCpi;
    p.authentication = flags & kAuth;
    p.demand = flags & kDemand;
    p.multipoint = flags & kMultipoint;
    p.detect_mult = bytes[2];
    p.my_discriminator = net::load_be32(&bytes[4]);
    p.your_discriminator = net::load_be32(&bytes[8]);
    p.desired_min_tx_us = net::load_be32(&bytes[12]);
    p.required_min_rx_us = net::load_be32(&bytes[16]);
    p.required_min_echo_rx_us = net::load_be32(&bytes[20]);
    if (p.detect_mult == 0) return dropped(Drop::bad_multiplier);
    if (p.multipoint) return dropped(Drop::multipoint);
    if (p.my_discriminator == 0) return dropped(Drop::zero_my_discriminator);
    if (p.your_discriminator == 0 && p.state != State::down && p.state != State::admin_down)
        return dropped(Drop::zero_your_discriminator);
    // No authentication is ever configured here, so a packet that carries it is not ours.
    if (p.authentication) return dropped(Drop::authentication);
    return Decoded{p, Drop::bad_length};
}

std::array<uint8_t, kPacketSize> encode(const ControlPacket& p) {
    std::array<uint8_t, kPacketSize> out{};
    out[0] = static_cast<uint8_t>(kVersion << 5 | (static_cast<uint8_t>(p.diag) & 0x1F));
    out[1] = static_cast<uint8_t>(
        static_cast<uint8_t>(p.state) << 6 | (p.poll ? kPoll : 0) | (p.final ? kFinal : 0) |
        (p.control_plane_independent ? kCpi : 0) | (p.authentication ? kAuth : 0) |
        (p.demand ? kDemand : 0) | (p.multipoint ? kMultipoint : 0));
    out[2] = p.detect_mult;
    out[3] = kPacketSize;
    net::store_be32(&out[4], p.my_discriminator);
    net::store_be32(&out[8], p.your_discriminator);
    net::store_be32(&out[12], p.desired_min_tx_us);
    net::store_be32(&out[16], p.required_min_rx_us);
    net::store_be32(&out[20], p.required_min_echo_rx_us);
    return out;
}

}  // namespace clb::bfd
