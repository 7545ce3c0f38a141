#include "health/rise_fall.hpp"

#include <algorithm>

namespace clb::health {

// A threshold of 0 would never trigger; treat it as 1.
RiseFall::RiseFall(unsigned rise, unsigned fall, bool up)
    : rise_(std::max(rise, 1u)), fall_(std::max(fall, 1u)), up_(up), been_up_(up) {}

RiseFall::Change RiseFall::record(bool ok) {
    if (ok) {
        failures_ = 0;
        ++successes_;
        if (up_ || (been_up_ && successes_ < rise_)) return Change::none;
        up_ = been_up_ = true;
        return Change::went_up;
    }
    successes_ = 0;
    ++failures_;
    if (!up_ || failures_ < fall_) return Change::none;
    up_ = false;
    return Change::went_down;
}

RiseFall::Change RiseFall::force_down() {
    successes_ = 0;
    if (!up_) return Change::none;
    up_ = false;
    failures_ = 0;
    return Change::went_down;
}

void RiseFall::retune(unsigned rise, unsigned fall) {
    rise_ = std::max(rise, 1u);
    fall_ = std::max(fall, 1u);
}

}  // namespace clb::health
