#include "contrail_lb/bfd/fsm.hpp"

#include <algorithm>

namespace clb::bfd {

Fsm::Fsm(uint32_t local_discriminator, Timers timers)
    : local_discr_(local_discriminator),
      timers_(timers),
      tx_in_use_(desired_min_tx()),
      rx_in_use_(timers.min_rx_us) {}

Fsm::Fsm(Timers timers, const Saved& s)
    : local_discr_(s.local_discr),
      remote_discr_(s.remote_discr),
      timers_(timers),
      state_(s.state),
      remote_state_(s.remote_state),
      diag_(s.diag),
      remote_mult_(s.remote_mult),
      remote_min_rx_(s.remote_min_rx),
      remote_min_tx_(s.remote_min_tx),
      tx_in_use_(s.tx_in_use),
      rx_in_use_(s.rx_in_use),
      polling_(s.polling) {}

Fsm::Saved Fsm::save() const {
    return Saved{local_discr_,   remote_discr_,  state_,     remote_state_, diag_,   remote_mult_,
                 remote_min_rx_, remote_min_tx_, tx_in_use_, rx_in_use_,    polling_};
}

uint32_t Fsm::desired_min_tx() const {
    return state_ == State::up ? timers_.min_tx_us : std::max(timers_.min_tx_us, kSlowTxUs);
}

uint32_t Fsm::tx_interval_us() const {
    if (remote_min_rx_ == 0) return 0;
    return std::max(tx_in_use_, remote_min_rx_);
}

uint64_t Fsm::detection_time_us() const {
    if (remote_mult_ == 0) return 0;
    return uint64_t{remote_mult_} * std::max(rx_in_use_, remote_min_tx_);
}

ControlPacket Fsm::packet(bool final) const {
    ControlPacket p;
    p.diag = diag_;
    p.state = state_;
    p.final = final;
    p.poll = polling_ && !final;  // §6.8.7: never both bits
    p.detect_mult = timers_.multiplier;
    p.my_discriminator = local_discr_;
    p.your_discriminator = remote_discr_;
    p.desired_min_tx_us = desired_min_tx();
    p.required_min_rx_us = timers_.min_rx_us;
    p.required_min_echo_rx_us = 0;  // no Echo function
    return p;
}

void Fsm::change_state(State next, Diag why) {
    if (next == state_) return;
    const uint32_t advertised_before = desired_min_tx();
    state_ = next;
    if (next != State::up) diag_ = why;
    if (next == State::up) diag_ = Diag::none;
    const uint32_t advertised_now = desired_min_tx();
    if (advertised_now == advertised_before) return;
    if (next == State::up) {
        // Leaving the 1 s pace: faster sending needs no agreement, but the peer must learn
        // the new Desired Min TX through a Poll (§6.8.3).
        tx_in_use_ = advertised_now;
        start_poll();
    } else {
        // Out of Up, no Poll sequence: the slow pace applies at once.
        tx_in_use_ = advertised_now;
        polling_ = false;
        rx_in_use_ = timers_.min_rx_us;
    }
}

void Fsm::start_poll() {
    if (state_ != State::up) {
        tx_in_use_ = desired_min_tx();
        rx_in_use_ = timers_.min_rx_us;
        return;
    }
    polling_ = true;
}

Fsm::Received Fsm::receive(const ControlPacket& p) {
    Received r;
    remote_discr_ = p.my_discriminator;
    remote_state_ = p.state;
    remote_min_rx_ = p.required_min_rx_us;
    remote_min_tx_ = p.desired_min_tx_us;
    remote_mult_ = p.detect_mult;
    if (p.final && polling_) {
        polling_ = false;
        tx_in_use_ = desired_min_tx();
        rx_in_use_ = timers_.min_rx_us;
        r.poll_finished = true;
    }
    r.send_final = p.poll;
    if (state_ == State::admin_down) return r;
    const State before = state_;
    if (p.state == State::admin_down) {
        change_state(State::down, Diag::neighbor_signaled_down);
    } else if (state_ == State::down) {
        if (p.state == State::down)
            change_state(State::init, Diag::none);
        else if (p.state == State::init)
            change_state(State::up, Diag::none);
    } else if (state_ == State::init) {
        if (p.state == State::init || p.state == State::up) change_state(State::up, Diag::none);
    } else if (p.state == State::down) {  // Up
        change_state(State::down, Diag::neighbor_signaled_down);
    }
    r.state_changed = state_ != before;
    return r;
}

bool Fsm::detection_expired() {
    // §6.8.1: once nothing has been heard for a Detection Time, the peer is forgotten.
    remote_discr_ = 0;
    remote_state_ = State::down;
    remote_mult_ = 0;
    remote_min_rx_ = 1;
    remote_min_tx_ = 0;
    if (state_ != State::init && state_ != State::up) return false;
    change_state(State::down, Diag::control_detection_expired);
    return true;
}

void Fsm::set_timers(Timers timers) {
    if (timers == timers_) return;
    const uint32_t tx_before = desired_min_tx();
    const uint32_t rx_before = timers_.min_rx_us;
    timers_ = timers;
    if (state_ != State::up) return start_poll();  // applies at once outside Up
    // §6.8.3: a faster TX or a longer RX tolerance is safe at once; the opposite waits for
    // the peer's Final, so the peer never sees us stricter than it has agreed to.
    if (desired_min_tx() < tx_before) tx_in_use_ = desired_min_tx();
    if (timers_.min_rx_us > rx_before) rx_in_use_ = timers_.min_rx_us;
    start_poll();
}

void Fsm::set_admin_down() {
    if (state_ == State::admin_down) return;
    change_state(State::admin_down, Diag::admin_down);
}

}  // namespace clb::bfd
