// The state of one BFD session (RFC 5880 §6.2, §6.8): the three-way handshake, the
// negotiated intervals and the Poll/Final sequence. Pure: no sockets, no clock; the engine
// owns the timers and asks this class what to send and how long to wait.
#pragma once

#include <cstdint>

#include "contrail_lb/bfd/packet.hpp"

namespace clb::bfd {

// What the operator configured for a session; intervals in microseconds as on the wire.
struct Timers {
    uint32_t min_tx_us = 100'000;
    uint32_t min_rx_us = 100'000;
    uint8_t multiplier = 3;
    friend bool operator==(const Timers&, const Timers&) = default;
};

// RFC 5880 §6.8.3: until the session is Up, send no faster than once a second.
inline constexpr uint32_t kSlowTxUs = 1'000'000;

class Fsm {
  public:
    // Everything a session is, to go on in another process (upgrade) as it was.
    struct Saved {
        uint32_t local_discr = 0, remote_discr = 0;
        State state = State::down, remote_state = State::down;
        Diag diag = Diag::none;
        uint8_t remote_mult = 0;
        uint32_t remote_min_rx = 1, remote_min_tx = 0, tx_in_use = 0, rx_in_use = 0;
        bool polling = false;
    };

    Fsm(uint32_t local_discriminator, Timers timers);
    Fsm(Timers timers, const Saved& saved);
    Saved save() const;

    // What a received packet did to the session.
    struct Received {
        bool state_changed = false;
        bool send_final = false;     // the peer polled: answer with F at once (§6.8.6)
        bool poll_finished = false;  // our Poll sequence ended: new intervals in use
    };
    // §6.8.6 from "set bfd.RemoteDiscr" on; `p` passed decode() and belongs to this session.
    Received receive(const ControlPacket& p);
    // The Detection Time passed without a packet (§6.8.4). True when the state changed.
    bool detection_expired();
    // New configured intervals/multiplier: in Up a Poll sequence carries them (§6.8.3).
    void set_timers(Timers timers);
    // AdminDown (session being removed, process exiting): §6.8.16.
    void set_admin_down();

    // The next packet to send; `final` answers a Poll (and then carries no P bit).
    ControlPacket packet(bool final = false) const;

    State state() const { return state_; }
    State remote_state() const { return remote_state_; }
    Diag diag() const { return diag_; }
    uint32_t local_discriminator() const { return local_discr_; }
    uint32_t remote_discriminator() const { return remote_discr_; }
    uint8_t remote_multiplier() const { return remote_mult_; }
    uint32_t remote_min_rx_us() const { return remote_min_rx_; }
    uint32_t remote_min_tx_us() const { return remote_min_tx_; }
    bool polling() const { return polling_; }
    const Timers& timers() const { return timers_; }

    // Periodic transmit interval before jitter (§6.8.7), in µs; 0 = send nothing periodic
    // (the peer asked for no packets: Required Min RX 0).
    uint32_t tx_interval_us() const;
    // How long without a packet before the session goes Down (§6.8.4), in µs; 0 until a
    // packet from the peer told us its multiplier.
    uint64_t detection_time_us() const;

  private:
    // The interval we advertise as Desired Min TX: slow until Up (§6.8.3).
    uint32_t desired_min_tx() const;
    void change_state(State next, Diag why);
    void start_poll();

    uint32_t local_discr_;
    uint32_t remote_discr_ = 0;
    Timers timers_;
    State state_ = State::down;
    State remote_state_ = State::down;
    Diag diag_ = Diag::none;
    uint8_t remote_mult_ = 0;
    uint32_t remote_min_rx_ = 1;  // §6.8.1: initialised to 1
    uint32_t remote_min_tx_ = 0;
    // The values in use for timing; they lag the advertised ones while a Poll sequence
    // that would make the peer's timing stricter is unanswered (§6.8.3).
    uint32_t tx_in_use_;
    uint32_t rx_in_use_;
    bool polling_ = false;
};

}  // namespace clb::bfd
