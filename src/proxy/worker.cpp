#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <chrono>
#include <thread>
#include <utility>

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"
#include "sessions.hpp"
#include "worker_impl.hpp"

namespace clb::proxy {

namespace {
// How long an unused pooled buffer or exchange is kept (the trim period).
constexpr double kTrimPeriod = 2.0;
// Objects freed before malloc_trim is worth its walk over the heap: a burst's, not the
// few a steady load's ups and downs free now and then.
constexpr size_t kMallocTrimAfter = 64;
}  // namespace

// ---- Worker ------------------------------------------------------------------------

Worker::Worker(unsigned id, WorkerContext& context)
    : id_(id), impl_(std::make_unique<Impl>(*this, context)) {}

Worker::~Worker() {
    stop();
    join();
}

void Worker::start() {
    last_tick_.store(net::monotonic_seconds());
    // Signals belong to the control loop: the new thread inherits a mask that blocks them.
    sigset_t block, previous;
    sigemptyset(&block);
    for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGCHLD})
        sigaddset(&block, sig);
    pthread_sigmask(SIG_BLOCK, &block, &previous);
    thread_ = std::thread([this] { impl_->run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void Worker::publish(std::shared_ptr<const runtime::Snapshot> s) {
    impl_->post_snapshot(std::move(s));
}
void Worker::set_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts) {
    impl_->post_backend_tls(std::move(contexts));
}
void Worker::set_listeners(std::vector<ListenerSocket> l) {
    impl_->post_listeners(std::move(l));
}
void Worker::begin_drain(bool hand_over_clients) {
    impl_->post_drain(hand_over_clients);
}
void Worker::adopt_client(HandedClient client) {
    impl_->post_client(std::move(client));
}
void Worker::stop() {
    impl_->post_stop();
}
void Worker::stall_for_test(double seconds) {
    impl_->post_stall(seconds);
}
void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

// ---- Impl --------------------------------------------------------------------------

Worker::Impl::Impl(Worker& owner, WorkerContext& context)
    : owner_(owner),
      context_(context),
      upstreams_(loop_.raw(), buffers_),
      pipes_(context.pipes_open, context.max_pipes),
      access_log_(context.log),
      waker_(loop_.raw(), [this] { read_mailbox(); }) {
    now_ = net::monotonic_seconds();
    // After the poll and before every other callback of the pass: the highest priority
    // (libev invokes check watchers first among equals).
    ev_check_init(&check_, &Impl::on_check);
    ev_set_priority(&check_, EV_MAXPRI);
    check_.data = this;
    ev_check_start(loop_.raw(), &check_);
    ev_prepare_init(&prepare_, &Impl::on_prepare);
    prepare_.data = this;
    ev_prepare_start(loop_.raw(), &prepare_);
    ev_timer_init(&slot_timer_, &Impl::on_slot_timer, 0.01, 0.01);
    slot_timer_.data = this;
    ev_timer_init(&tick_, &Impl::on_tick, 0., 0.25);
    tick_.data = this;
    ev_timer_start(loop_.raw(), &tick_);
}

Worker::Impl::~Impl() {
    ev_prepare_stop(loop_.raw(), &prepare_);
    ev_check_stop(loop_.raw(), &check_);
    ev_timer_stop(loop_.raw(), &tick_);
    ev_timer_stop(loop_.raw(), &slot_timer_);
    publish_pools(true);
    listeners_.clear();
    sessions_.clear();
    closed_.clear();
}

void Worker::Impl::run() {
    read_mailbox();
    loop_.run();
    // Grace expired or drained: whatever is left closes now.
    closed_.clear();
    sessions_.clear();
    upstreams_.clear();
    access_log_.flush();
    owner_.sessions_.store(0);
}

void Worker::Impl::post_snapshot(std::shared_ptr<const runtime::Snapshot> snapshot) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.snapshot = std::move(snapshot);
    }
    waker_.send();
}

void Worker::Impl::post_listeners(std::vector<ListenerSocket> listeners) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.listeners = std::move(listeners);
    }
    waker_.send();
}

void Worker::Impl::post_drain(bool hand_over_clients) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.drain = true;
        mailbox_.hand_over_clients = hand_over_clients;
    }
    waker_.send();
}

void Worker::Impl::post_client(HandedClient client) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.clients.push_back(std::move(client));
    }
    waker_.send();
}

void Worker::Impl::post_stop() {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.stop = true;
    }
    waker_.send();
}

void Worker::Impl::post_stall(double seconds) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.stall = seconds;
    }
    waker_.send();
}

void Worker::Impl::post_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts) {
    {
        std::lock_guard lock(mailbox_.mutex);
        mailbox_.backend_tls = std::move(contexts);
    }
    waker_.send();
}

std::shared_ptr<const tls::ClientContext> Worker::Impl::backend_tls(
    std::string_view service) const {
    if (!backend_tls_) return nullptr;
    auto it = backend_tls_->find(service);
    return it == backend_tls_->end() ? nullptr : it->second;
}

void Worker::Impl::read_mailbox() {
    std::shared_ptr<const tls::ClientContexts> backend_tls;
    std::shared_ptr<const runtime::Snapshot> snapshot;
    std::optional<std::vector<ListenerSocket>> listeners;
    bool drain = false, stop = false, hand_over_clients = false;
    std::vector<HandedClient> clients;
    double stall = 0;
    {
        std::lock_guard lock(mailbox_.mutex);
        stall = std::exchange(mailbox_.stall, 0.);
        backend_tls = std::move(mailbox_.backend_tls);
        snapshot = std::move(mailbox_.snapshot);
        listeners = std::move(mailbox_.listeners);
        mailbox_.listeners.reset();
        drain = mailbox_.drain;
        hand_over_clients = mailbox_.hand_over_clients;
        clients.swap(mailbox_.clients);
        stop = mailbox_.stop;
    }
    if (backend_tls) backend_tls_ = std::move(backend_tls);
    if (snapshot) install_snapshot(std::move(snapshot));
    if (listeners && !draining_) install_listeners(std::move(*listeners));
    for (auto& c : clients) {
        // As if accepted on a listener of the service, without TLS.
        ListenerSocket from{nullptr, net::local_address(c.fd.get()), c.service, nullptr};
        start_session(std::move(c.fd), c.peer, from);
    }
    if (drain && !draining_) {
        hand_over_clients_ = hand_over_clients && context_.hand_client;
        start_drain();
    }
    if (stop) loop_.stop();
    if (stall > 0) {
        spdlog::warn("worker {}: stalling for {:.1f}s (test hook)", owner_.id(), stall);
        std::this_thread::sleep_for(std::chrono::duration<double>(stall));
    }
}

void Worker::Impl::install_snapshot(std::shared_ptr<const runtime::Snapshot> snapshot) {
    if (!routing_ || routing_->snapshot->config != snapshot->config)
        upstreams_.retain_only(*snapshot);
    uint64_t seed = (uint64_t(owner_.id()) << 32) ^ snapshot->generation;
    // Sessions in the middle of a connect keep the Routing they pinned (connector.hpp).
    routing_ = std::make_shared<Routing>(std::move(snapshot), seed);
}

Worker::Impl::Listener::Listener(Impl& impl, ListenerSocket s)
    : socket(std::move(s)),
      acceptor(
          impl.loop(),
          fmt::format("worker {}: {} listener {}", impl.owner_.id(), socket.service,
                      socket.address.to_string()),
          [&impl, this](net::Fd fd, const net::SocketAddress& peer) {
              impl.start_session(std::move(fd), peer, socket);
          },
          &impl.context_.accept_pauses) {
    // Accepted sockets inherit TCP_NODELAY from their listener (Linux): one setsockopt per
    // listener instead of one per connection. Set here, on whatever socket the worker is
    // handed, rather than where it was bound.
    net::set_nodelay(socket.fd->get());
    acceptor.start(socket.fd->get());
}

void Worker::Impl::install_listeners(std::vector<ListenerSocket> sockets) {
    listeners_.clear();
    for (auto& s : sockets)
        listeners_.push_back(std::make_unique<Listener>(*this, std::move(s)));
}

void Worker::Impl::connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                                  std::string_view detail, const config::Service& service) {
    if (!runtime::backend_caused(error)) {
        local_fault(*backend, error);
        return;
    }
    backend->connect_failures.add();
    spdlog::warn("backend {}/{} ({}): connect failed: {}", backend->service, backend->name,
                 backend->address.to_string(),
                 !detail.empty() ? std::string(detail)
                 : error == ETIMEDOUT
                     ? "timeout after " + config::format_duration(service.timeouts.connect)
                     : net::error_text(error));
    // Workers count the run together; whoever reaches the threshold reports it.
    unsigned streak = backend->consecutive_errors.fetch_add(1, std::memory_order_relaxed) + 1;
    unsigned limit = service.health_check.error_limit;
    if (context_.failures && limit > 0 && streak >= limit)
        context_.failures->connect_failed(backend, error, streak);
}

// Out of fds or source ports, every request fails alike: one line a second, not one each.
void Worker::Impl::local_fault(const runtime::Backend& backend, int error) {
    double t = net::monotonic_seconds();
    if (t - local_fault_logged_at_ < 1.) {
        ++local_faults_unlogged_;
        return;
    }
    spdlog::error(
        "worker {}: cannot connect to backend {}/{}: {} (a local fault, not held against the "
        "backend{})",
        owner_.id(), backend.service, backend.name, net::error_text(error),
        local_faults_unlogged_
            ? fmt::format("; {} more since the last report", local_faults_unlogged_)
            : std::string());
    local_fault_logged_at_ = t;
    local_faults_unlogged_ = 0;
}

void Worker::Impl::close(Session& session) {
    auto it = session.self;
    closed_.push_back(std::move(*it));
    sessions_.erase(it);
    owner_.sessions_.store(static_cast<uint32_t>(sessions_.size()), std::memory_order_relaxed);
    context_.connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::Impl::start_session(net::Fd fd, const net::SocketAddress& peer,
                                 const ListenerSocket& listener) {
    const std::string& service = listener.service;
    const auto* found = snapshot()->find(service);
    if (!found) {
        // A reload removed the service; this listener goes with the next mailbox read.
        spdlog::warn(
            "worker {}: closed a connection from {} on {}: service {} is not in the "
            "configuration (removed by a reload)",
            owner_.id(), peer.to_string(), listener.address.to_string(), service);
        return;  // closes it
    }
    const auto& svc = *found;
    uint32_t count = context_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (count > context_.max_connections.load(std::memory_order_relaxed)) {
        context_.connections.fetch_sub(1, std::memory_order_relaxed);
        svc.state->refused_connections.add();
        svc.state->count(runtime::Termination::over_capacity);
        if (svc.config->mode == config::Mode::http) {
            static constexpr char kBusy[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                "Connection: close\r\nContent-Length: 26\r\n\r\n503 too many connections\r\n";
            [[maybe_unused]] auto n = ::send(fd.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL);
        }
        return;  // closes it
    }
    auto session = svc.config->mode == config::Mode::http
                       ? make_http_session(*this, std::move(fd), peer, service,
                                           listener.address.port(), listener.tls)
                       : make_tcp_session(*this, std::move(fd), peer, service);
    sessions_.push_front(std::move(session));
    Session& started = *sessions_.front();
    started.self = sessions_.begin();
    owner_.sessions_.store(static_cast<uint32_t>(sessions_.size()), std::memory_order_relaxed);
    started.start();
}

void Worker::Impl::start_drain() {
    draining_ = true;
    listeners_.clear();
    upstreams_.clear();
    // drain() may close the session, which moves it out of sessions_.
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        Session& s = **it++;
        s.drain();
    }
    if (sessions_.empty()) loop_.stop();
}

void Worker::Impl::wait_for_slot(SlotWaiter& waiter, runtime::Service& service) {
    if (waiter.queue_) return;
    auto& queue = waiting_[&service];
    waiter.at_ = queue.insert(queue.end(), &waiter);
    waiter.queue_ = &service;
    service.queued.fetch_add(1, std::memory_order_relaxed);
    if (waiting_count_++ == 0) ev_timer_start(loop_.raw(), &slot_timer_);
}

void Worker::Impl::stop_waiting(SlotWaiter& waiter) {
    if (!waiter.queue_) return;
    waiting_[waiter.queue_].erase(waiter.at_);
    waiter.queue_->queued.fetch_sub(1, std::memory_order_relaxed);
    waiter.queue_ = nullptr;
    if (--waiting_count_ == 0) ev_timer_stop(loop_.raw(), &slot_timer_);
}

// Each waiter in arrival order tries to take a slot; one that does leaves its queue
// (stop_waiting), so the iterator moves on before the call.
void Worker::Impl::offer_slots() {
    for (auto& [service, queue] : waiting_) {
        for (auto it = queue.begin(); it != queue.end();) {
            SlotWaiter* waiter = *it++;
            waiter->retry_connect();
        }
    }
}

void Worker::Impl::on_slot_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Impl*>(w->data)->offer_slots();
}

void Worker::Impl::on_prepare(struct ev_loop*, ev_prepare* w, int) {
    auto* self = static_cast<Impl*>(w->data);
    if (self->waiting_count_) self->offer_slots();
    self->closed_.clear();
    if (self->access_log_.pending()) self->access_log_.flush();
    if (self->draining_ && self->sessions_.empty()) self->loop_.stop();
}

void Worker::Impl::on_check(struct ev_loop*, ev_check* w, int) {
    static_cast<Impl*>(w->data)->now_ = net::monotonic_seconds();
}

void Worker::Impl::on_tick(struct ev_loop*, ev_timer* w, int) {
    static_cast<Impl*>(w->data)->tick();
}

void Worker::Impl::tick() {
    owner_.last_tick_.store(net::monotonic_seconds(), std::memory_order_relaxed);
    if (now_ - trimmed_at_ >= kTrimPeriod) trim_pools();
    publish_pools();
}

// Pools grown by a burst shrink back to what the load of the last period used: buffers
// and exchanges no request took for kTrimPeriod are freed (the idle backend connections
// close after UpstreamPool::kIdleTimeout). glibc keeps freed small blocks in its heaps, so
// once enough went, malloc_trim hands the whole pages among them back to the system.
void Worker::Impl::trim_pools() {
    trimmed_at_ = now_;
    buffers_.trim();  // 32 KiB blocks: mmap'd (main.cpp), unmapped when freed
    trim_freed_ += exchanges_.trim();
    size_t idle = upstreams_.idle_count();
    if (idle < idle_upstreams_seen_) trim_freed_ += idle_upstreams_seen_ - idle;
    idle_upstreams_seen_ = idle;
    if (trim_freed_ < kMallocTrimAfter) return;
    trim_freed_ = 0;
    malloc_trim(0);
}

// Adds this worker's change since the last call to the process-wide gauges.
void Worker::Impl::publish_pools(bool leaving) {
    auto publish = [](std::atomic<int64_t>& total, int64_t& mine, size_t now) {
        auto value = static_cast<int64_t>(now);
        if (value != mine) total.fetch_add(value - mine, std::memory_order_relaxed);
        mine = value;
    };
    auto& pools = context_.pools;
    publish(pools.idle_backend_connections, published_.idle_backend_connections,
            leaving ? 0 : upstreams_.idle_count());
    publish(pools.pooled_exchanges, published_.pooled_exchanges, leaving ? 0 : exchanges_.size());
    publish(pools.pooled_buffers, published_.pooled_buffers, leaving ? 0 : buffers_.size());
}

}  // namespace clb::proxy
