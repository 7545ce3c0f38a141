#include "contrail_lb/app/app.hpp"

#include <signal.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>
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
#include "hand_over.hpp"
#include "listeners.hpp"
#include "take_over.hpp"
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
    Control(std::shared_ptr<const config::Config> config, const RunOptions& options,
            log::Writer& log)
        : log_(log),
          loop_(net::Loop::make_default()),
          config_(std::move(config)),
          options_(options),
          listeners_(worker_count(*config_)),
          checker_(loop_.raw(), registry_),
          reload_signal_(loop_.raw(), SIGHUP, [this] { reload(); }),
          term_signal_(loop_.raw(), SIGTERM, [this] { shutdown("SIGTERM"); }),
          int_signal_(loop_.raw(), SIGINT, [this] { shutdown("SIGINT"); }),
          upgrade_signal_(loop_.raw(), SIGUSR2, [this] { upgrade("SIGUSR2"); }),
          hand_over_(loop_.raw(), hand_over_hooks()),
          watchdog_(loop_.raw(),
                    [this] {
                        watch_workers();
                        listeners_.expire_ticket_keys();
                    }),
          drain_poll_(loop_.raw(), [this] { poll_drain(); }),
          grace_timer_(loop_.raw(), [this] { grace_expired(); }),
          speaker_reaper_(loop_.raw(), [this] { retiring_speaker_.reset(); }),
          clients_waker_(loop_.raw(), [this] { send_handed_clients(); }),
          take_over_watcher_(loop_.raw(), [this](int) { read_handed_clients(); }) {
        context_.failures = &checker_;
        context_.log = &log_;
        if (std::getenv("CLB_TEST_HOOKS")) {
            // SIGUSR1 stalls worker 0 for three watchdog periods (tests/integration).
            stall_signal_ = std::make_unique<net::SignalWatcher>(loop_.raw(), SIGUSR1, [this] {
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
        net::Fd admin_fd;
        if (!options_.take_over.empty() && !receive_state(admin_fd)) return 1;
        auto errors = listeners_.apply(*config_);
        for (const auto& e : errors)
            spdlog::error("{}", e);
        if (!errors.empty()) return refuse_take_over(errors.front());
        start_workers();
        // Taking over: the old process accepts until it has committed; from then on we do.
        if (take_over_ && !commit_take_over()) return stop_workers(1);
        for (unsigned i = 0; i < workers_.size(); ++i)
            workers_[i]->set_listeners(listeners_.for_worker(i));
        if (!start_admin(*config_, std::move(admin_fd))) return stop_workers(1);
        if (config_->bgp) {
            bgp::SpeakerHandOver adopted;
            if (take_over_) adopted = std::move(take_over_->speaker());
            speaker_ = std::make_unique<bgp::Speaker>(loop_.raw(), *config_->bgp,
                                                      std::move(adopted), service_health());
        }
        publish_service_health();
        listen_for_upgrades();
        watchdog_.start(0.25, 0.25);
        log_summary(static_cast<unsigned>(workers_.size()));
        loop_.run();
        return stop_workers(0);
    }

  private:
    // Loops running with the first snapshot (and, taking over, the old process's health);
    // no listeners yet.
    void start_workers() {
        registry_.subscribe([this](const auto& snapshot) { on_snapshot(snapshot); });
        unsigned n = worker_count(*config_);
        for (unsigned i = 0; i < n; ++i)
            workers_.push_back(std::make_unique<proxy::Worker>(i, context_));
        apply_backend_tls(*config_);
        registry_.apply(config_);
        if (take_over_) registry_.restore_health(take_over_->state().backends);
        checker_.apply(*registry_.snapshot());
        for (auto& w : workers_)
            w->start();
    }

    int stop_workers(int status) {
        for (auto& w : workers_)
            w->stop();
        for (auto& w : workers_)
            w->join();
        workers_.clear();
        if (status == 0) spdlog::info("contrail-lb stopped");
        return status;
    }

    // --take-over: the running process's listeners (adopted before the first apply),
    // its admin socket and its backends' health.
    bool receive_state(net::Fd& admin_fd) {
        take_over_ = std::make_unique<TakeOver>();
        auto& take_over = *take_over_;
        std::string error;
        if (!take_over.receive(options_.take_over, error)) {
            spdlog::error("upgrade: --take-over {}: {}", options_.take_over, error);
            std::fprintf(stderr, "contrail-lb: --take-over %s: %s\n", options_.take_over.c_str(),
                         error.c_str());
            return false;
        }
        auto& state = take_over.state();
        auto& fds = take_over.fds();
        if (state.admin) {
            // Last in the list; kept only when admin.listen names the same address.
            if (config_->admin.listen && *config_->admin.listen == *state.admin)
                admin_fd = std::move(fds.back());
            fds.pop_back();
        }
        listeners_.adopt(state.listeners, fds);
        return true;
    }

    int refuse_take_over(const std::string& reason) {
        if (take_over_) {
            take_over_->abort(reason);
            std::fprintf(stderr, "contrail-lb: --take-over %s: %s\n", options_.take_over.c_str(),
                         reason.c_str());
        }
        return 1;
    }

    bool commit_take_over() {
        auto& take_over = *take_over_;
        std::string error;
        if (!take_over.ready(error)) {
            spdlog::error("upgrade: --take-over {}: {}; the running process keeps serving",
                          options_.take_over, error);
            std::fprintf(stderr, "contrail-lb: --take-over %s: %s\n", options_.take_over.c_str(),
                         error.c_str());
            return false;
        }
        const auto& state = take_over.state();
        size_t up = 0;
        for (const auto& b : state.backends)
            up += b.up;
        spdlog::info(
            "upgrade: took over {} listeners{}, the health of {} backends ({} UP), {} BGP "
            "sessions and {} BFD sessions from pid {}",
            state.listeners.size(), state.admin ? " and the admin listener" : "",
            state.backends.size(), up, take_over.speaker().sessions.size(),
            take_over.speaker().bfd.sessions.size(), state.pid);
        if (!take_over.bgp_error().empty())
            spdlog::warn("upgrade: the BGP sessions did not come across ({}): opening new ones",
                         take_over.bgp_error());
        // The old process drains: its idle keep-alive clients come over this channel.
        take_over_watcher_.start(take_over.fd(), EV_READ);
        return true;
    }

    // global.upgrade_socket, and the supervisor's internal socket (CLB_UPGRADE_SOCKET).
    void listen_for_upgrades() {
        if (!config_->global.upgrade_socket.empty())
            hand_over_.listen(config_->global.upgrade_socket);
        if (const char* internal = std::getenv("CLB_UPGRADE_SOCKET"); internal && *internal)
            hand_over_.listen(internal);
    }

    HandOver::Hooks hand_over_hooks() {
        HandOver::Hooks hooks;
        hooks.export_state = [this](std::vector<int>& fds) {
            upgrade::State state;
            state.listeners = listeners_.describe(fds);
            if (admin_) {
                state.admin = admin_->address();
                fds.push_back(admin_->listen_fd());
            }
            state.backends = registry_.export_health();
            return state;
        };
        hooks.stop_serving = [this](std::string& summary) { return stop_serving(summary); };
        hooks.drain = [this] { hand_over_drain(); };
        hooks.finished = [this](bool ok, int pid, const std::string& reason) {
            upgrade_finished(ok, pid, reason);
        };
        return hooks;
    }

    // SIGUSR2 (or POST /api/v1/upgrade) to the serving process: our own successor.
    bool upgrade(const char* cause, std::string& error) {
        if (shutting_down_) error = "shutting down";
        if (error.empty()) {
            spdlog::info("upgrade: {} received, starting {}", cause,
                         options_.argv.empty() ? "?" : options_.argv[0]);
            if (hand_over_.start_successor(options_.argv, error)) return true;
        }
        spdlog::error("upgrade: {} refused: {}", cause, error);
        return false;
    }

    void upgrade(const char* cause) {
        std::string error;
        upgrade(cause, error);
    }

    // The new process is ready: it accepts from now on, and speaks BGP.
    bgp::SpeakerHandOver stop_serving(std::string& summary) {
        for (auto& w : workers_)
            w->set_listeners({});
        std::vector<int> ignored;
        size_t listeners = listeners_.describe(ignored).size();
        if (admin_) admin_->stop_accepting();
        bgp::SpeakerHandOver handed;
        if (speaker_) {
            handed = speaker_->hand_over();
            speaker_.reset();  // sends nothing: every session is gone from it
        }
        summary = fmt::format("{} listeners, {} BGP sessions, {} BFD sessions", listeners,
                              handed.sessions.size(), handed.bfd.sessions.size());
        return handed;
    }

    void hand_over_drain() {
        shutting_down_ = true;
        context_.hand_client = [this](proxy::HandedClient client) {
            {
                std::lock_guard lock(handed_mutex_);
                handed_clients_.push_back(std::move(client));
            }
            clients_waker_.send();
        };
        drain(true);
    }

    // The old process: the workers' idle keep-alive clients go to the new process.
    void send_handed_clients() {
        std::vector<proxy::HandedClient> clients;
        {
            std::lock_guard lock(handed_mutex_);
            clients.swap(handed_clients_);
        }
        for (auto& c : clients)
            if (hand_over_.send_client({c.service, c.peer, c.listen_port}, c.fd.get()))
                ++clients_handed_;
    }

    // The new process: clients handed over by the old one, spread over the workers.
    void read_handed_clients() {
        bool open = take_over_->read_clients([this](upgrade::Client client, net::Fd fd) {
            ++clients_adopted_;
            workers_[next_worker_++ % workers_.size()]->adopt_client(
                {std::move(fd), client.peer, client.service, client.listen_port});
        });
        if (open) return;
        take_over_watcher_.stop();
        take_over_.reset();
        spdlog::info(
            "upgrade: the previous process is done; {} idle keep-alive client "
            "connections came over",
            clients_adopted_);
    }

    void upgrade_finished(bool ok, int pid, const std::string& reason) {
        auto answers = std::move(upgrade_answers_);
        upgrade_answers_.clear();
        for (auto& answer : answers)
            answer(ok, pid, reason);
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
    bool start_admin(const config::Config& c, net::Fd listening = {}) {
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
        sources.pools = [this] {
            const auto& p = context_.pools;
            return admin::PoolCounts{p.idle_backend_connections.load(std::memory_order_relaxed),
                                     p.pooled_exchanges.load(std::memory_order_relaxed),
                                     p.pooled_buffers.load(std::memory_order_relaxed)};
        };
        sources.admin_accept_pauses = &admin_accept_pauses_;
        sources.upgrade = [this] {
            const auto& st = hand_over_.status();
            return admin::UpgradeView{to_string(st.state), st.last_result, st.last_reason,
                                      st.last_pid};
        };
        sources.start_upgrade = [this](admin::UpgradeDone done, std::string& error) {
            if (!upgrade("POST /api/v1/upgrade", error)) return false;
            upgrade_answers_.push_back(std::move(done));
            return true;
        };
        try {
            admin_ = std::make_unique<admin::Server>(loop_.raw(), *c.admin.listen, sources,
                                                     admin::Limits{}, std::move(listening));
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

    bgp::ServiceHealthMap service_health() const {
        bgp::ServiceHealthMap health;
        for (const auto& svc : registry_.snapshot()->services)
            health[svc.config->name] = {svc.up_count, listeners_.listening(svc.config->name),
                                        svc.config->redirect.has_value()};
        return health;
    }

    void publish_service_health() {
        if (speaker_) speaker_->set_service_health(service_health());
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

    // `hand_over_clients`: after an upgrade's commit, idle keep-alive clients go on in the
    // new process instead of being closed.
    void drain(bool hand_over_clients = false) {
        if (draining_) return;
        draining_ = true;
        grace_timer_.start(static_cast<double>(config_->global.grace.count()) / 1000.);
        checker_.stop();
        for (auto& w : workers_)
            w->begin_drain(hand_over_clients);
        // The workers drop their references as they start draining; once ours go too the
        // sockets close, and new connections are refused instead of waiting in an accept
        // queue nobody reads. After an upgrade the new process holds the same sockets, so
        // ours close only once the workers are joined: a worker that already dropped its
        // references may still have the fds in its epoll set until its next loop pass.
        if (!hand_over_clients) listeners_ = Listeners(static_cast<unsigned>(workers_.size()));
        drain_poll_.start(0.02, 0.05);
    }

    void poll_drain() {
        for (const auto& w : workers_)
            if (w->sessions() > 0) return;
        send_handed_clients();  // the last ones, before the channel closes
        if (clients_handed_)
            spdlog::info("upgrade: {} idle keep-alive client connections went to the new process",
                         clients_handed_);
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
        send_handed_clients();
        hand_over_.close_listeners();
        hand_over_.end();
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
    RunOptions options_;
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
    std::vector<admin::UpgradeDone> upgrade_answers_;  // POST /api/v1/upgrade, waiting
    net::SignalWatcher reload_signal_;
    net::SignalWatcher term_signal_;
    net::SignalWatcher int_signal_;
    net::SignalWatcher upgrade_signal_;
    HandOver hand_over_;
    std::unique_ptr<net::SignalWatcher> stall_signal_;
    net::Timer watchdog_;
    net::Timer drain_poll_;
    net::Timer grace_timer_;
    net::Timer speaker_reaper_;
    // Upgrade, old side: clients the workers hand over, sent from the control loop.
    std::mutex handed_mutex_;
    std::vector<proxy::HandedClient> handed_clients_;
    net::AsyncWaker clients_waker_;
    uint64_t clients_handed_ = 0;
    // Upgrade, new side: the channel from the old process while it drains.
    std::unique_ptr<TakeOver> take_over_;
    net::IoWatcher take_over_watcher_;
    uint64_t clients_adopted_ = 0;
    size_t next_worker_ = 0;
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

int run(std::shared_ptr<const config::Config> config, const RunOptions& options) {
    ::signal(SIGPIPE, SIG_IGN);
    // Declared first, destroyed last: it writes what the others log on their way out.
    log::Writer log(STDERR_FILENO);
    log::SpdlogRoute route(log);
    Control control(std::move(config), options, log);
    return control.run();
}

}  // namespace clb::app
