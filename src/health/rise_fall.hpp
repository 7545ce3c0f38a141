// The UP/DOWN hysteresis of one backend (SPEC "Health checks"): `rise` successes in a row
// bring a DOWN backend UP, `fall` failures in a row take an UP backend DOWN. Until the
// backend has been UP once, one success is enough, so a fresh start (or a new backend)
// serves after its first good check instead of rise × interval later.
// Pure state, no sockets or clocks: tested on its own.
#pragma once

namespace clb::health {

class RiseFall {
  public:
    enum class Change { none, went_up, went_down };

    // `up` is the state to start from: false for a new backend, true for one that was
    // already serving (e.g. its service gained a health check on reload).
    RiseFall(unsigned rise, unsigned fall, bool up = false);

    Change record(bool ok);
    // Passive detection: DOWN at once; it comes back only by `rise` successes.
    Change force_down();
    // New thresholds from a reload: the state and the current streaks stay.
    void retune(unsigned rise, unsigned fall);

    bool up() const { return up_; }
    unsigned successes() const { return successes_; }  // consecutive, current streak
    unsigned failures() const { return failures_; }    // consecutive, current streak
    unsigned rise() const { return rise_; }
    unsigned fall() const { return fall_; }

  private:
    unsigned rise_;
    unsigned fall_;
    bool up_;
    bool been_up_;  // once UP, coming back takes the full `rise`
    unsigned successes_ = 0;
    unsigned failures_ = 0;
};

}  // namespace clb::health
