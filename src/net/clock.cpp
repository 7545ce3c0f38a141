#include "contrail_lb/net/clock.hpp"

#include <time.h>

namespace clb::net {

double monotonic_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);  // a vDSO call: no syscall
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace clb::net
