// The clock for durations and deadlines: CLOCK_MONOTONIC, which no step of the system
// clock moves. libev's ev_now() is the wall clock (libev runs its timers on the monotonic
// one): a step back would stretch every deadline computed from it and make durations
// negative, a step forward would fire timeouts early.
#pragma once

namespace clb::net {

// Seconds since an arbitrary point (boot); only differences mean anything.
double monotonic_seconds();

}  // namespace clb::net
