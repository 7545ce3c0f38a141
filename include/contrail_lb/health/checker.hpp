// Active health checks (SPEC "Health checks") plus passive detection of failures seen on
// live traffic. Everything runs on the control loop, non-blocking: per checked backend one
// connection at a time, bounded by the check's timeout, and one schedule timer. Results
// drive the Registry (record_check for every check, set_health on each transition).
//
// Timing: a backend that stops answering is DOWN after at most about
// fall × interval (+5% jitter) + timeout; one refusing connections on live traffic is
// DOWN as soon as a worker reports it. See docs/health-checks.md.
#pragma once

#include <memory>

#include "contrail_lb/runtime/state.hpp"
#include "contrail_lb/tls/tls.hpp"

struct ev_loop;

namespace clb::health {

class Checker : public runtime::FailureSink {
  public:
    // Both must outlive the Checker; construct, use and destroy it on the control thread.
    Checker(struct ev_loop* control_loop, runtime::Registry& registry);
    ~Checker() override;
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    // After every Registry::apply (start and reload): new backends are checked at once,
    // backends whose check settings changed restart their schedule (keeping UP/DOWN and
    // their rise/fall streaks), removed backends and `type: none` services get no checks.
    void apply(const runtime::Snapshot& snapshot);
    // The backend_tls client contexts by service name, before apply(): the checks of those
    // services speak TLS; a changed context restarts their schedule.
    void set_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts);

    // Thread-safe, for the workers' failure path: `streak` connect errors in a row on live
    // traffic (health_check.error_limit, counted by the workers) take an UP, actively
    // checked backend DOWN at once and check it again right away. Bursts from many workers
    // about the same backend make one transition.
    void connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                        unsigned streak) override;

    // Stops every check and closes their sockets (shutdown). Later apply() calls and
    // failure reports are ignored.
    void stop();

    // Backends with active checks right now (for tests and the status page).
    size_t checked_backends() const;

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace clb::health
