// BFD Control packets (RFC 5880 §4.1): the 24-byte mandatory section, decoded with every
// reception check of §6.8.6 that needs no session state, each failure a named cause.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace clb::bfd {

// RFC 5880 §4.1 "Sta"; the values are the wire encoding.
enum class State : uint8_t { admin_down = 0, down = 1, init = 2, up = 3 };
const char* to_string(State s);

// RFC 5880 §4.1 "Diag": why the session last left Up (or was never Up).
enum class Diag : uint8_t {
    none = 0,
    control_detection_expired = 1,
    echo_failed = 2,
    neighbor_signaled_down = 3,
    forwarding_plane_reset = 4,
    path_down = 5,
    concatenated_path_down = 6,
    admin_down = 7,
    reverse_concatenated_path_down = 8,
};
const char* to_string(Diag d);

struct ControlPacket {
    Diag diag = Diag::none;
    State state = State::down;
    bool poll = false;
    bool final = false;
    bool control_plane_independent = false;
    bool authentication = false;
    bool demand = false;
    bool multipoint = false;
    uint8_t detect_mult = 3;
    uint32_t my_discriminator = 0;
    uint32_t your_discriminator = 0;
    uint32_t desired_min_tx_us = 1'000'000;
    uint32_t required_min_rx_us = 1'000'000;
    uint32_t required_min_echo_rx_us = 0;
    friend bool operator==(const ControlPacket&, const ControlPacket&) = default;
};

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kPacketSize = 24;  // without the optional authentication section

// Why a received packet was discarded. The first group are §6.8.6's stateless checks (the
// decoder's), the rest need the socket or the session table (the engine's).
enum class Drop : uint8_t {
    bad_length,               // shorter than 24 bytes, or the Length field disagrees
    bad_version,              // not version 1
    bad_multiplier,           // Detect Mult 0
    multipoint,               // M bit set
    zero_my_discriminator,    // My Discriminator 0
    zero_your_discriminator,  // Your Discriminator 0 in state Init or Up
    authentication,           // A bit set: no authentication is configured (RFC 5880 §6.7)
    bad_ttl,                  // TTL / hop limit not 255 (RFC 5881 §5, GTSM)
    unknown_session,          // no session has this discriminator or source address
    count_,
};
inline constexpr size_t kDropCauses = static_cast<size_t>(Drop::count_);
const char* to_string(Drop d);  // "bad_length", used as a metric label

struct Decoded {
    std::optional<ControlPacket> packet;  // set when valid
    Drop drop = Drop::bad_length;         // why not, when not
};

Decoded decode(std::span<const uint8_t> bytes);
std::array<uint8_t, kPacketSize> encode(const ControlPacket& p);

}  // namespace clb::bfd
