// The BFD engine: single-hop BFD sessions (RFC 5880 asynchronous mode over UDP, RFC 5881)
// on a thread of their own with their own event loop, so that a busy control loop delays
// neither our packets nor our detection. Its clients (the BGP speaker) talk to it through
// this narrow, thread-safe interface: the wanted set of sessions in, state changes out
// (delivered on the client's loop through ev_async), and a status snapshot to read.
#pragma once

#include <ev.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/bfd/fsm.hpp"
#include "contrail_lb/bfd/packet.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::bfd {

inline constexpr uint16_t kControlPort = 3784;  // RFC 5881 §4, single-hop control packets

// One wanted session: single hop, so the peer's address names it.
struct SessionConfig {
    net::IpAddress peer;
    Timers timers;
    friend bool operator==(const SessionConfig&, const SessionConfig&) = default;
};

// A session changed state; `diag` says why (our local diagnostic).
struct Event {
    net::IpAddress peer;
    State from = State::down;
    State to = State::down;
    Diag diag = Diag::none;
    // The peer said AdminDown: its BFD was switched off, the path did not fail, so a client
    // must not take the session down for it (RFC 5882 §3.2).
    bool remote_admin_down = false;
};

struct SessionStatus {
    net::IpAddress peer;
    State state = State::down;
    State remote_state = State::down;
    Diag diag = Diag::none;
    uint32_t local_discriminator = 0;
    uint32_t remote_discriminator = 0;
    uint16_t source_port = 0;
    Timers timers;                   // configured
    uint32_t tx_interval_us = 0;     // negotiated, before jitter
    uint64_t detection_time_us = 0;  // 0 until the peer is heard
    uint8_t remote_multiplier = 0;
    uint32_t remote_min_rx_us = 0;
    uint32_t remote_min_tx_us = 0;
    double state_since = 0;  // unix time of the last state change (or of creation)
    uint64_t packets_in = 0;
    uint64_t packets_out = 0;
    uint32_t flaps = 0;  // times it left Up
    std::string error;   // the last send error, if any
};

struct Snapshot {
    std::vector<SessionStatus> sessions;
    std::array<uint64_t, kDropCauses> dropped{};  // by Drop cause
    uint64_t packets_in = 0;                      // every datagram read, valid or not
    std::string socket_error;                     // why the receive sockets are not open
};

// Upgrade: the sessions as they are, their sending sockets and the receive sockets, for
// the engine of the next process, so that no peer sees a packet missing or a state change.
struct SessionHandOver {
    SessionConfig config;
    Fsm::Saved fsm;
    net::Fd fd;  // the sending socket (its source port)
    uint16_t source_port = 0;
    double state_since = 0;
    uint64_t packets_in = 0, packets_out = 0;
    uint32_t flaps = 0;
};
struct HandOver {
    std::vector<SessionHandOver> sessions;
    net::Fd receivers[2];  // IPv4, IPv6 (invalid: none)
};

struct Options {
    uint16_t listen_port = kControlPort;  // tests run two engines on loopback
    uint16_t peer_port = kControlPort;
};

class Engine {
  public:
    using EventHandler = std::function<void(const Event&)>;
    // Starts the BFD thread. `on_event` runs on `client_loop`, which must be the loop of
    // the thread that constructs the engine and calls its methods.
    // `adopted`: the previous process's sessions (upgrade), taken by set_sessions() for
    // the peers it wants.
    Engine(struct ev_loop* client_loop, EventHandler on_event, Options options = {},
           HandOver adopted = {});
    // Sends AdminDown on every session (the peers then keep their clients up), stops the thread.
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // The whole wanted set: new sessions start Down, removed ones send AdminDown and go,
    // changed timers go through a Poll sequence.
    void set_sessions(std::vector<SessionConfig> sessions);
    std::shared_ptr<const Snapshot> snapshot() const;
    // Upgrade: stops every session where it is, without AdminDown, and gives them away with
    // the sockets. The engine does nothing more; destroy it.
    HandOver hand_over();

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace clb::bfd
