#include "contrail_lb/health/checker.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "contrail_lb/net/loop.hpp"
#include "health/probe.hpp"
#include "health/rise_fall.hpp"

namespace clb::health {

namespace {

// Checks of many backends must not fire in lock-step: each interval is stretched or
// shrunk by up to this fraction, at random.
constexpr double kJitter = 0.05;

bool same_settings(const config::HealthCheck& a, const config::HealthCheck& b) {
    return a.type == b.type && a.port == b.port && a.path == b.path &&
           a.expect_status == b.expect_status && a.interval == b.interval &&
           a.timeout == b.timeout && a.rise == b.rise && a.fall == b.fall;
}

// "contrail-api/api1 (127.0.0.1:9101)"
std::string describe(const runtime::Backend& b) {
    return b.service + "/" + b.name + " (" + b.address.to_string() + ")";
}

// As describe(), plus where the checks go when that is elsewhere (health_check.port): a
// DOWN backend whose traffic port answers must not puzzle whoever reads the log.
// "contrail-webui/web1 (127.0.0.1:8143, checked at 127.0.0.1:8082)"
std::string describe(const runtime::Backend& b, const net::SocketAddress& checked) {
    if (checked == b.address) return describe(b);
    return b.service + "/" + b.name + " (" + b.address.to_string() + ", checked at " +
           checked.to_string() + ")";
}

// "3 consecutive failures"
std::string streak_text(unsigned n, const char* one, const char* many) {
    return std::to_string(n) + " consecutive " + (n == 1 ? one : many);
}

// What every backend's checks share; owned by Checker::Impl.
struct CheckContext {
    struct ev_loop* loop;
    runtime::Registry& registry;
    std::minstd_rand random;
};

// The checks of one backend: its schedule, its probe and its rise/fall state.
class BackendCheck {
  public:
    using Tls = std::shared_ptr<const tls::ClientContext>;  // null: plain TCP

    BackendCheck(CheckContext& context, std::shared_ptr<runtime::Backend> backend,
                 const config::HealthCheck& settings, Tls tls, bool up)
        : context_(context),
          backend_(std::move(backend)),
          target_(config::check_address(settings, backend_->address)),
          label_(describe(*backend_, target_)),
          tls_(std::move(tls)),
          settings_(settings),
          state_(settings.rise, settings.fall, up),
          probe_(context.loop, [this](Probe::Verdict verdict,
                                      const std::string& reason) { on_result(verdict, reason); }),
          schedule_(context.loop, [this] { on_schedule(); }) {}

    const config::HealthCheck& settings() const { return settings_; }
    const Tls& tls() const { return tls_; }

    // Starts a check now and the schedule from now (a running check is abandoned).
    void check_now() {
        due_ = false;
        probe_.start(target_, settings_, tls_);
        schedule_.start(next_interval());
    }

    // New settings from a reload: UP/DOWN and the streaks stay, the schedule restarts. A
    // new port is a new target like any other setting: the next verdicts (rise/fall) tell.
    void retune(const config::HealthCheck& settings, Tls tls) {
        settings_ = settings;
        tls_ = std::move(tls);
        target_ = config::check_address(settings, backend_->address);
        label_ = describe(*backend_, target_);
        state_.retune(settings.rise, settings.fall);
        check_now();
    }

    // A worker could not connect to this backend on live traffic.
    void failed_on_traffic(int error, unsigned streak) {
        std::string reason = describe_error(error) + " on live traffic";
        if (streak > 1) reason += " (" + streak_text(streak, "failure", "failures") + ")";
        if (state_.force_down() != RiseFall::Change::went_down) {
            spdlog::debug("backend {} is already DOWN: {}", label_, reason);
            return;
        }
        check_now();
        spdlog::warn("backend {} is DOWN: {}", label_, reason);
        context_.registry.set_health(*backend_, false, reason);
    }

    // Stops for good; the object itself may be destroyed later.
    void shut() {
        probe_.cancel();
        schedule_.stop();
    }

  private:
    double next_interval() {
        std::uniform_real_distribution<double> spread(1. - kJitter, 1. + kJitter);
        return std::chrono::duration<double>(settings_.interval).count() * spread(context_.random);
    }

    void on_schedule() {
        // A check slower than the interval (timeout > interval) is not cut short; the
        // next one starts when it ends.
        if (probe_.running())
            due_ = true;
        else
            check_now();
    }

    void on_result(Probe::Verdict verdict, const std::string& reason) {
        if (due_) check_now();
        if (verdict == Probe::Verdict::inconclusive) {
            // Our own fault: no verdict on the backend, whose state and streaks stay.
            spdlog::debug("health check of backend {} not run: {} (a local fault)", label_, reason);
            return;
        }
        bool ok = verdict == Probe::Verdict::passed;
        bool first = checks_++ == 0;
        RiseFall::Change change = state_.record(ok);
        spdlog::debug("health check of backend {} {}: {}", label_, ok ? "passed" : "failed",
                      reason);
        // Registry calls last: its subscribers may re-enter the Checker (e.g. apply()).
        context_.registry.record_check(*backend_, ok, reason);
        switch (change) {
            case RiseFall::Change::went_up: {
                backend_->consecutive_errors.store(0, std::memory_order_relaxed);
                std::string why =
                    state_.successes() > 1
                        ? reason + " (" + streak_text(state_.successes(), "success", "successes") +
                              ")"
                        : reason;
                spdlog::info("backend {} is UP: {}", label_, why);
                context_.registry.set_health(*backend_, true, why);
                break;
            }
            case RiseFall::Change::went_down: {
                std::string why =
                    reason + " (" + streak_text(state_.failures(), "failure", "failures") + ")";
                spdlog::warn("backend {} is DOWN: {}", label_, why);
                context_.registry.set_health(*backend_, false, why);
                break;
            }
            case RiseFall::Change::none:
                // Not a transition (it started DOWN), but the operator wants to know why
                // a backend does not take traffic.
                if (first && !ok && !state_.up())
                    spdlog::warn("backend {} is DOWN: {} (first check)", label_, reason);
                break;
        }
    }

    CheckContext& context_;
    const std::shared_ptr<runtime::Backend> backend_;
    net::SocketAddress target_;  // where the checks connect
    std::string label_;
    Tls tls_;
    config::HealthCheck settings_;
    RiseFall state_;
    Probe probe_;
    net::Timer schedule_;
    uint64_t checks_ = 0;
    bool due_ = false;  // the schedule fired while a check was still running
};

struct TrafficFailure {
    std::shared_ptr<runtime::Backend> backend;
    int error = 0;
    unsigned streak = 1;
};

}  // namespace

class Checker::Impl {
  public:
    Impl(struct ev_loop* loop, runtime::Registry& registry)
        : context_{loop, registry, std::minstd_rand(std::random_device{}())},
          reaper_(loop, [this] { retired_.clear(); }),
          waker_(loop, [this] { drain_failures(); }) {}

    void apply(const runtime::Snapshot& snapshot);
    void connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                        unsigned streak);
    void stop();
    size_t checked_backends() const { return checks_.size(); }
    void set_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts) {
        backend_tls_ = std::move(contexts);
    }

  private:
    void drain_failures();
    void retire(std::unique_ptr<BackendCheck> check);

    BackendCheck::Tls tls_of(const std::string& service) const {
        if (!backend_tls_) return nullptr;
        auto it = backend_tls_->find(service);
        return it == backend_tls_->end() ? nullptr : it->second;
    }

    CheckContext context_;
    std::shared_ptr<const tls::ClientContexts> backend_tls_;
    std::unordered_map<const runtime::Backend*, std::unique_ptr<BackendCheck>> checks_;
    // Shut checks wait here for the next loop iteration: apply() or stop() may be running
    // inside one of their own callbacks (through a Registry subscriber).
    std::vector<std::unique_ptr<BackendCheck>> retired_;
    net::Timer reaper_;
    std::mutex failures_mutex_;
    std::vector<TrafficFailure> failures_;  // guarded by failures_mutex_
    net::AsyncWaker waker_;
    bool stopped_ = false;
};

void Checker::Impl::apply(const runtime::Snapshot& snapshot) {
    if (stopped_) return;
    std::unordered_map<const runtime::Backend*, std::unique_ptr<BackendCheck>> next;
    for (const auto& service : snapshot.services) {
        const config::HealthCheck& settings = service.config->health_check;
        if (settings.type == config::CheckType::none) continue;
        BackendCheck::Tls tls = tls_of(service.config->name);
        for (const auto& entry : service.backends) {
            const runtime::Backend* key = entry.state.get();
            if (next.contains(key)) continue;
            if (auto node = checks_.extract(key)) {
                if (!same_settings(node.mapped()->settings(), settings) ||
                    node.mapped()->tls() != tls)
                    node.mapped()->retune(settings, tls);
                next.insert(std::move(node));
                continue;
            }
            const runtime::HealthDetail* health = context_.registry.health(*entry.state);
            auto check = std::make_unique<BackendCheck>(context_, entry.state, settings, tls,
                                                        health && health->up);
            check->check_now();
            next.emplace(key, std::move(check));
        }
    }
    for (auto& [key, check] : checks_)
        retire(std::move(check));
    checks_ = std::move(next);
}

void Checker::Impl::retire(std::unique_ptr<BackendCheck> check) {
    check->shut();
    retired_.push_back(std::move(check));
    reaper_.start(0.);
}

void Checker::Impl::stop() {
    stopped_ = true;
    for (auto& [key, check] : checks_)
        retire(std::move(check));
    checks_.clear();
}

void Checker::Impl::connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                                   unsigned streak) {
    {
        std::lock_guard lock(failures_mutex_);
        // A burst from many workers queues one entry per backend: the queue stays as small
        // as the backend list, and the wake-up already sent covers it.
        for (const auto& f : failures_)
            if (f.backend == backend) return;
        failures_.push_back({backend, error, streak});
    }
    waker_.send();
}

void Checker::Impl::drain_failures() {
    std::vector<TrafficFailure> failures;
    {
        std::lock_guard lock(failures_mutex_);
        failures.swap(failures_);
    }
    if (stopped_) return;
    for (const auto& f : failures) {
        // Looked up each time: a Registry subscriber may change checks_ meanwhile.
        auto it = checks_.find(f.backend.get());
        if (it == checks_.end()) {
            spdlog::debug("backend {} failed on live traffic ({}); no active checks, state kept",
                          describe(*f.backend), describe_error(f.error));
            continue;
        }
        it->second->failed_on_traffic(f.error, f.streak);
    }
}

Checker::Checker(struct ev_loop* control_loop, runtime::Registry& registry)
    : impl_(std::make_unique<Impl>(control_loop, registry)) {}

Checker::~Checker() = default;

void Checker::apply(const runtime::Snapshot& snapshot) {
    impl_->apply(snapshot);
}

void Checker::connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                             unsigned streak) {
    impl_->connect_failed(backend, error, streak);
}

void Checker::stop() {
    impl_->stop();
}

void Checker::set_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts) {
    impl_->set_backend_tls(std::move(contexts));
}

size_t Checker::checked_backends() const {
    return impl_->checked_backends();
}

}  // namespace clb::health
