#include "contrail_lb/app/app.hpp"

#include <signal.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/bgp/speaker.hpp"
#include "contrail_lb/health/checker.hpp"
#include "contrail_lb/log/writer.hpp"
#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/fd_limit.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"
#include "contrail_lb/proxy/worker.hpp"
#include "contrail_lb/runtime/state.hpp"
#include "listeners.hpp"
#include "tls_settings.hpp"

#ifndef CLB_VERSION
#define CLB_VERSION "0.0.0"
#endif

namespace clb::app {

namespace {

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
    switch (level) {
        case config::LogLevel::trace:
            return spdlog::level::trace;
        case config::LogLevel::debug:
            return spdlog::level::debug;
        case config::LogLevel::info:
            return spdlog::level::info;
        case config::LogLevel::warn:
            return spdlog::level::warn;
        case config::LogLevel::error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

// A worker loop silent this long is stalled: /healthz answers 503 and, with BGP, every
// VIP is withdrawn. bgp.watchdog sets it; without a bgp section the same default holds.
double watchdog_limit(const config::Config& c) {
    auto limit = c.bgp ? c.bgp->watchdog : config::Bgp{}.watchdog;
    return static_cast<double>(limit.count()) / 1000.;
}

unsigned worker_count(const config::Config& c) {
    if (c.global.workers) return c.global.workers;
    return std::max(1u, std::thread::hardware_concurrency());
}

// The control thread: everything but the proxying itself.
class Control {
  public:
    Control(std::shared_ptr<const config::Config> config, log::Writer& log)
        : log_(log),
          loop_(net::Loop::make_default()),
          config_(std::move(config)),
          listeners_(worker_count(*config_)),
          checker_(loop_.raw(), registry_),
          reload_signal_(loop_.raw(), SIGHUP, [this] { reload(); }),
          term_signal_(loop_.raw(), SIGTERM, [this] { shutdown("SIGTERM"); }),
          int_signal_(loop_.raw(), SIGINT, [this] { shutdown("SIGINT"); }),
          watchdog_(loop_.raw(), [this] { watch_workers(); }),
          drain_poll_(loop_.raw(), [this] { poll_drain(); }),
          grace_timer_(loop_.raw(), [this] { grace_expired(); }),
          speaker_reaper_(loop_.raw(), [this] { retiring_speaker_.reset(); }) {
        context_.failures = &checker_;
        context_.log = &log_;
        if (std::getenv("CLB_TEST_HOOKS")) {
            // SIGUSR2 stalls worker 0 for three watchdog periods (tests/integration).
            stall_signal_ = std::make_unique<net::SignalWatcher>(loop_.raw(), SIGUSR2, [this] {
                if (!workers_.empty()) workers_[0]->stall_for_test(3 * watchdog_limit(*config_));
            });
            // CLB_TEST_RELOAD_PAUSE=S: a reload waits S seconds between publishing the new
            // snapshot and handing the workers their listeners (tests/integration).
            if (const char* pause = std::getenv("CLB_TEST_RELOAD_PAUSE"))
                reload_pause_ = std::strtod(pause, nullptr);
        }
    }

    int run() {
        apply_globals(*config_);
        auto errors = listeners_.apply(*config_);
        for (const auto& e : errors)
            spdlog::error("{}", e);
        if (!errors.empty()) return 1;
        registry_.subscribe([this](const auto& snapshot) { on_snapshot(snapshot); });
        unsigned n = worker_count(*config_);
        for (unsigned i = 0; i < n; ++i)
            workers_.push_back(std::make_unique<proxy::Worker>(i, context_));
        apply_backend_tls(*config_);
        registry_.apply(config_);
        checker_.apply(*registry_.snapshot());
        for (unsigned i = 0; i < n; ++i) {
            workers_[i]->set_listeners(listeners_.for_worker(i));
            workers_[i]->start();
        }
        if (!start_admin(*config_)) return 1;
        if (config_->bgp) speaker_ = std::make_unique<bgp::Speaker>(loop_.raw(), *config_->bgp);
        publish_service_health();
        watchdog_.start(0.25, 0.25);
        log_summary(n);
        loop_.run();
        for (auto& w : workers_)
            w->stop();
        for (auto& w : workers_)
            w->join();
        spdlog::info("contrail-lb stopped");
        return 0;
    }

  private:
    void apply_globals(const config::Config& c) {
        spdlog::set_level(to_spdlog(c.global.log_level));
        log_.set_json(c.global.log_format == config::LogFormat::json);
        context_.max_pipes.store(ensure_fd_limit(c.global.max_connections));
        context_.max_connections.store(c.global.max_connections);
        context_.access_log.store(c.global.access_log);
        context_.splice.store(c.global.splice);
    }

    // Out of fds, every new connection fails: ask for what max_connections needs up front,
    // and room for splice pipes. Returns how many pipes the limit leaves room for.
    static uint32_t ensure_fd_limit(uint64_t max_connections) {
        uint64_t needed = net::fds_needed(max_connections);
        net::FdLimit limit = net::raise_fd_limit(net::fds_wanted(max_connections));
        auto pipes = static_cast<uint32_t>(
            std::min<uint64_t>(net::pipes_allowed(limit.soft, max_connections), UINT32_MAX));
        spdlog::debug("fd limit {}: {} for connections, up to {} splice pipes", limit.soft, needed,
                      pipes);
        if (limit.soft > limit.before)
            spdlog::info("fd limit raised from {} to {} (global.max_connections {} needs {})",
                         limit.before, limit.soft, max_connections, needed);
        if (limit.soft < needed)
            spdlog::warn(
                "fd limit {} (hard limit {}) is below the {} that global.max_connections "
                "{} needs: raise the hard limit (ulimit -Hn, the container's nofile "
                "ulimit) or lower max_connections{}",
                limit.soft, limit.hard, needed, max_connections,
                limit.error ? "; setrlimit: " + net::error_text(limit.error) : "");
        return pipes;
    }

    // On reload the new listener is bound before the old one closes: if it cannot be,
    // the old one keeps serving.
    bool start_admin(const config::Config& c) {
        if (!c.admin.listen) {
            admin_.reset();
            return true;
        }
        admin::Sources sources;
        sources.registry = &registry_;
        sources.bgp = [this]() -> std::optional<bgp::SpeakerStatus> {
            if (!speaker_) return std::nullopt;
            return speaker_->status();
        };
        sources.version = CLB_VERSION;
        sources.started_at = started_at_;
        sources.stalled = [this] { return stalled_; };
        sources.log_lines_dropped = [this] { return log_.dropped(); };
        sources.token = c.admin.token;
        sources.users = c.admin.users;
        sources.proxy_accept_pauses = &context_.accept_pauses;
        sources.admin_accept_pauses = &admin_accept_pauses_;
        try {
            admin_ = std::make_unique<admin::Server>(loop_.raw(), *c.admin.listen, sources);
        } catch (const std::exception& e) {
            spdlog::error("{}{}", e.what(), admin_ ? " (the previous admin listener stays)" : "");
            return false;
        }
        return true;
    }

    void log_summary(unsigned workers) {
        spdlog::info("contrail-lb {} started: {} workers, {} services, config {}", CLB_VERSION,
                     workers, config_->services.size(), config_->path);
        for (const auto& s : config_->services) {
            std::string listen;
            for (const auto& a : s.listen)
                listen += (listen.empty() ? "" : ",") + a.to_string();
            spdlog::info("service {}: {} mode, {} balancing, listen {}, {} backends, checks {}",
                         s.name, config::to_string(s.mode), config::to_string(s.balance), listen,
                         s.backends.size(), config::to_string(s.health_check.type));
        }
        if (config_->bgp)
            spdlog::info("bgp: AS {} router-id {}, {} peers, {} VIPs", config_->bgp->local_as,
                         config_->bgp->router_id.to_string(), config_->bgp->peers.size(),
                         config_->bgp->vips.size());
    }

    // Every registry change: workers get the snapshot, BGP re-evaluates the VIPs.
    void on_snapshot(const std::shared_ptr<const runtime::Snapshot>& snapshot) {
        for (auto& w : workers_)
            w->publish(snapshot);
        publish_service_health();
    }

    void publish_service_health() {
        if (!speaker_) return;
        bgp::ServiceHealthMap health;
        for (const auto& svc : registry_.snapshot()->services)
            health[svc.config->name] = {svc.up_count, listeners_.listening(svc.config->name),
                                        svc.config->redirect.has_value()};
        speaker_->set_service_health(health);
    }

    void reload() {
        if (shutting_down_) return;
        std::string path = config_->path;
        spdlog::info("reload: SIGHUP received, loading {}", path);
        auto loaded = load_config(path);
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors)
                spdlog::error("reload: {}", e.to_string());
            spdlog::error("reload: {} has {} error(s); the running configuration stays", path,
                          loaded.errors.size());
            return;
        }
        auto next = loaded.config;
        if (worker_count(*next) != workers_.size())
            spdlog::warn("reload: global.workers changes only at restart; keeping {} workers",
                         workers_.size());
        apply_globals(*next);
        // New addresses are bound (the kernel queues their connections) but not yet handed out.
        for (const auto& e : listeners_.apply(*next))
            spdlog::error("reload: {}", e);
        config_ = next;
        // Before the snapshot: a worker never connects for the new configuration with an
        // old CA. Pooled connections made under the old context are not reused.
        apply_backend_tls(*next);
        registry_.apply(next);  // publishes to the workers and BGP
        checker_.apply(*registry_.snapshot());
        pause_reload_for_test();
        // Only now the listeners: a worker reads its mailbox snapshot first, so it never
        // accepts on a new service's address without the snapshot that names the service.
        for (unsigned i = 0; i < workers_.size(); ++i)
            workers_[i]->set_listeners(listeners_.for_worker(i));
        reload_bgp(*next);
        reload_admin(*next);
        spdlog::info("reload: applied {} ({} services)", path, next->services.size());
    }

    void apply_backend_tls(const config::Config& c) {
        backend_tls_ =
            std::make_shared<const tls::ClientContexts>(load_backend_tls(c, *backend_tls_));
        for (auto& w : workers_)
            w->set_backend_tls(backend_tls_);
        checker_.set_backend_tls(backend_tls_);
    }

    void pause_reload_for_test() {
        if (reload_pause_ <= 0) return;
        spdlog::warn(
            "reload: pausing for {:.1f}s before the workers get their listeners (test hook)",
            reload_pause_);
        std::this_thread::sleep_for(std::chrono::duration<double>(reload_pause_));
    }

    void reload_bgp(const config::Config& next) {
        if (!next.bgp) {
            if (speaker_) retire_speaker();
            return;
        }
        if (speaker_)
            speaker_->reconfigure(*next.bgp);
        else
            speaker_ = std::make_unique<bgp::Speaker>(loop_.raw(), *next.bgp);
        publish_service_health();
    }

    // The bgp section is gone: the peers get what SIGTERM gives them (withdraws, then
    // Cease/Administrative Shutdown), not just closed sockets; the speaker is destroyed
    // once its sessions are closed, outside its own callback.
    void retire_speaker() {
        spdlog::info("reload: bgp section removed, stopping the speaker");
        retiring_speaker_ = std::move(speaker_);
        retiring_speaker_->shutdown([this] { speaker_reaper_.start(0); });
    }

    void reload_admin(const config::Config& next) {
        bool same = admin_ && next.admin.listen && admin_->address() == *next.admin.listen;
        if (same) set_credentials(next.admin);
        if (same || (!admin_ && !next.admin.listen)) return;
        if (!start_admin(next) && admin_) set_credentials(next.admin);
    }

    void set_credentials(const config::Admin& admin) {
        admin_->set_token(admin.token);
        admin_->set_users(admin.users);
    }

    // SIGTERM: withdraw the VIPs first and keep serving while the routers move new traffic
    // away (bgp.withdraw_wait), then stop accepting and let the requests in flight finish
    // within global.grace.
    void shutdown(const char* signal) {
        if (shutting_down_) {
            spdlog::warn("{} again: stopping now", signal);
            grace_expired();
            return;
        }
        shutting_down_ = true;
        spdlog::info("{} received: shutting down (grace {})", signal,
                     config::format_duration(config_->global.grace));
        if (speaker_)
            speaker_->shutdown([this] { drain(); });
        else
            drain();
    }

    void drain() {
        if (draining_) return;
        draining_ = true;
        grace_timer_.start(static_cast<double>(config_->global.grace.count()) / 1000.);
        checker_.stop();
        for (auto& w : workers_)
            w->begin_drain();
        // The workers drop their references as they start draining; once ours go too the
        // sockets close, and new connections are refused instead of waiting in an accept
        // queue nobody reads.
        listeners_ = Listeners(static_cast<unsigned>(workers_.size()));
        drain_poll_.start(0.02, 0.05);
    }

    void poll_drain() {
        for (const auto& w : workers_)
            if (w->sessions() > 0) return;
        spdlog::info("shutdown: every connection finished");
        finish();
    }

    void grace_expired() {
        uint32_t open = 0;
        for (const auto& w : workers_)
            open += w->sessions();
        if (open) spdlog::warn("shutdown: grace period over, closing {} connection(s)", open);
        finish();
    }

    void finish() {
        drain_poll_.stop();
        grace_timer_.stop();
        watchdog_.stop();
        admin_.reset();
        speaker_.reset();
        speaker_reaper_.stop();
        retiring_speaker_.reset();
        loop_.stop();
    }

    // A worker whose loop stopped turning cannot serve: /healthz says so, and the VIPs
    // stop attracting traffic.
    void watch_workers() {
        double limit = watchdog_limit(*config_);
        double now = net::monotonic_seconds();
        // This timer itself ran late: the whole process was frozen (SIGSTOP, a paused VM),
        // so the workers' silence measures the freeze, not a stall of theirs. While the
        // node is healthy, count their silence from the moment the process resumed.
        if (last_watch_ > 0 && now - last_watch_ > limit) resumed_at_ = now;
        last_watch_ = now;
        std::string stalled;
        for (const auto& w : workers_) {
            // A draining worker ends its loop once its last session is gone: its silence
            // is the end of its work, not a stall (seed 2953897300 of the soak).
            if (draining_ && w->sessions() == 0) continue;
            double silent_since =
                node_healthy_ ? std::max(w->last_tick(), resumed_at_) : w->last_tick();
            double age = now - silent_since;
            if (age > limit)
                stalled = fmt::format("worker {} loop stalled for {:.1f}s", w->id(), age);
        }
        stalled_ = stalled;
        bool healthy = stalled.empty();
        if (healthy != node_healthy_) {
            node_healthy_ = healthy;
            if (healthy)
                spdlog::info("watchdog: every worker loop is turning again");
            else
                spdlog::error("watchdog: {}{}", stalled, speaker_ ? ": withdrawing every VIP" : "");
            if (speaker_) speaker_->set_node_healthy(healthy, healthy ? "" : stalled);
        }
    }

    log::Writer& log_;
    net::Loop loop_;
    std::shared_ptr<const config::Config> config_;
    double started_at_ = static_cast<double>(std::time(nullptr));
    runtime::Registry registry_;
    proxy::WorkerContext context_;
    std::atomic<uint64_t> admin_accept_pauses_{0};  // survives admin listener changes
    Listeners listeners_;
    health::Checker checker_;
    // backend_tls client contexts by service, replaced whole on each reload.
    std::shared_ptr<const tls::ClientContexts> backend_tls_ =
        std::make_shared<const tls::ClientContexts>();
    std::vector<std::unique_ptr<proxy::Worker>> workers_;
    std::unique_ptr<bgp::Speaker> speaker_;
    std::unique_ptr<bgp::Speaker> retiring_speaker_;  // bgp removed by a reload, closing
    std::unique_ptr<admin::Server> admin_;
    net::SignalWatcher reload_signal_;
    net::SignalWatcher term_signal_;
    net::SignalWatcher int_signal_;
    std::unique_ptr<net::SignalWatcher> stall_signal_;
    net::Timer watchdog_;
    net::Timer drain_poll_;
    net::Timer grace_timer_;
    net::Timer speaker_reaper_;
    bool shutting_down_ = false;
    bool draining_ = false;
    bool node_healthy_ = true;
    double last_watch_ = 0;    // monotonic time of the previous watchdog run
    double resumed_at_ = 0;    // when the process last came back from a freeze
    std::string stalled_;      // why the watchdog sees a stall; empty while every loop turns
    double reload_pause_ = 0;  // CLB_TEST_RELOAD_PAUSE, seconds
};

}  // namespace

void setup_logging(config::LogLevel level) {
    auto logger = spdlog::stderr_logger_mt("contrail-lb");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    spdlog::set_level(to_spdlog(level));
}

int run(std::shared_ptr<const config::Config> config) {
    ::signal(SIGPIPE, SIG_IGN);
    // Declared first, destroyed last: it writes what the others log on their way out.
    log::Writer log(STDERR_FILENO);
    log::SpdlogRoute route(log);
    Control control(std::move(config), log);
    return control.run();
}

}  // namespace clb::app
