// The inside of a worker, shared by its sessions: loop, buffers, pools, balancer state.
#pragma once

#include <ev.h>

#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "access_log.hpp"
#include "buffer.hpp"
#include "connector.hpp"
#include "contrail_lb/net/acceptor.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/proxy/worker.hpp"
#include "http_exchange.hpp"
#include "pipe.hpp"
#include "upstream.hpp"

namespace clb::proxy {

class Session {
  public:
    virtual ~Session() = default;
    // Called once the worker has registered the session: from here on it may close itself.
    virtual void start() {}
    // Graceful shutdown: close when idle, else after the request in flight.
    virtual void drain() = 0;

    std::list<std::unique_ptr<Session>>::iterator self;  // position in Impl::sessions_
};

// A request (http) or connection (tcp) waiting for a backend slot: every backend it may
// go to is at its max_connections. The worker offers it a slot again and again, oldest
// first, until it takes one (or gives up on its own timeouts.queue).
class SlotWaiter {
  public:
    // A slot may have freed: connect if one has. False while still waiting.
    virtual bool retry_connect() = 0;

  protected:
    ~SlotWaiter() = default;

  private:
    friend class Worker::Impl;
    runtime::Service* queue_ = nullptr;  // set while waiting
    std::list<SlotWaiter*>::iterator at_;
};

class Worker::Impl final : public ConnectorHost {
  public:
    Impl(Worker& owner, WorkerContext& context);
    ~Impl();

    // --- for sessions -------------------------------------------------------------
    struct ev_loop* loop() const {
        return loop_.raw();
    }
    BufferPool& buffers() { return buffers_; }
    ExchangePool& exchanges() { return exchanges_; }
    PipePool& pipes() { return pipes_; }
    UpstreamPool& upstreams() override { return upstreams_; }
    AccessLog& access_log() { return access_log_; }
    // CLOCK_MONOTONIC as of this loop pass (net/clock.hpp): read once per pass, before any
    // event's callback, as ev_now() is for the wall clock; a request takes a dozen stamps.
    double now() const { return now_; }
    WorkerContext& context() { return context_; }
    bool draining() const { return draining_; }
    const std::shared_ptr<const runtime::Snapshot>& snapshot() const { return routing_->snapshot; }
    const std::shared_ptr<Routing>& routing() const override { return routing_; }
    std::shared_ptr<const tls::ClientContext> backend_tls(std::string_view service) const override;
    // A connect to a backend failed: count it, log it, tell the health checker when the
    // backend caused it.
    void connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                        std::string_view detail, const config::Service& service) override;
    // The session ends; it is destroyed after the current event.
    void close(Session& session);
    // Queue `waiter` behind the others of `service` until it takes a slot; stop_waiting()
    // takes it out (idempotent). Counted in the service's `queued`.
    void wait_for_slot(SlotWaiter& waiter, runtime::Service& service);
    void stop_waiting(SlotWaiter& waiter);

    // --- for the owning Worker (any thread) --------------------------------------------
    void run();
    void post_snapshot(std::shared_ptr<const runtime::Snapshot> snapshot);
    void post_listeners(std::vector<ListenerSocket> listeners);
    void post_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts);
    void post_drain(bool hand_over_clients);
    void post_client(HandedClient client);
    // Draining for an upgrade: idle plain-HTTP keep-alive clients are handed over.
    bool handing_over_clients() const { return hand_over_clients_; }
    void hand_client(HandedClient client) { context_.hand_client(std::move(client)); }
    void post_stop();
    void post_stall(double seconds);

  private:
    struct Listener {
        Listener(Impl& impl, ListenerSocket s);
        ListenerSocket socket;
        net::Acceptor acceptor;
    };
    struct Mailbox {
        std::mutex mutex;
        std::shared_ptr<const runtime::Snapshot> snapshot;
        std::shared_ptr<const tls::ClientContexts> backend_tls;
        std::optional<std::vector<ListenerSocket>> listeners;
        bool drain = false;
        bool hand_over_clients = false;
        std::vector<HandedClient> clients;  // adopted from the previous process
        bool stop = false;
        double stall = 0;
    };

    static void on_prepare(struct ev_loop*, ev_prepare* w, int);
    static void on_check(struct ev_loop*, ev_check* w, int);
    static void on_slot_timer(struct ev_loop*, ev_timer* w, int);
    void offer_slots();
    static void on_tick(struct ev_loop*, ev_timer* w, int);
    void start_session(net::Fd fd, const net::SocketAddress& peer, const ListenerSocket& listener);
    void read_mailbox();
    void install_snapshot(std::shared_ptr<const runtime::Snapshot> snapshot);
    void install_listeners(std::vector<ListenerSocket> listeners);
    void start_drain();
    void tick();
    void trim_pools();
    void publish_pools(bool leaving = false);
    void local_fault(const runtime::Backend& backend, int error);

    Worker& owner_;
    WorkerContext& context_;
    net::Loop loop_;
    BufferPool buffers_;
    UpstreamPool upstreams_;
    ExchangePool exchanges_;
    PipePool pipes_;
    AccessLog access_log_;
    std::shared_ptr<Routing> routing_;  // the newest snapshot and this worker's pickers
    std::shared_ptr<const tls::ClientContexts> backend_tls_;  // by service name
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::list<std::unique_ptr<Session>> sessions_;
    std::vector<std::unique_ptr<Session>> closed_;  // destroyed in on_prepare
    // Waiting for a backend slot, per service, oldest first. A slot this worker frees is
    // offered before its loop blocks again; one freed by another worker within 10 ms.
    std::unordered_map<runtime::Service*, std::list<SlotWaiter*>> waiting_;
    size_t waiting_count_ = 0;
    ev_timer slot_timer_{};
    bool draining_ = false;
    bool hand_over_clients_ = false;
    double local_fault_logged_at_ = -1e9;
    uint64_t local_faults_unlogged_ = 0;
    Mailbox mailbox_;
    net::AsyncWaker waker_;
    ev_prepare prepare_{};
    ev_check check_{};
    double now_ = 0;
    ev_timer tick_{};
    double trimmed_at_ = 0;
    size_t trim_freed_ = 0;  // exchanges and backend connections freed since the last malloc_trim
    size_t idle_upstreams_seen_ = 0;
    struct {
        int64_t idle_backend_connections = 0;
        int64_t pooled_exchanges = 0;
        int64_t pooled_buffers = 0;
    } published_;  // this worker's share of context_.pools
};

}  // namespace clb::proxy
