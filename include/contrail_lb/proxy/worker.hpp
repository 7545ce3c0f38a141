// A proxy worker: one thread, one libev loop, its own accept sockets (SO_REUSEPORT),
// sessions, backend connection pools and balancer state. It learns configuration and
// backend health only from the runtime snapshots the control thread publishes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "contrail_lb/log/writer.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/runtime/state.hpp"
#include "contrail_lb/tls/tls.hpp"

namespace clb::proxy {

// A listening socket handed to one worker; the control thread binds it so that bind
// errors surface at start and reload, and shares ownership so it closes with its last user.
struct ListenerSocket {
    std::shared_ptr<net::Fd> fd;
    net::SocketAddress address;
    std::string service;
    std::shared_ptr<const tls::ServerContext> tls;  // null: plain TCP
};

// An idle plain-HTTP keep-alive client connection moving to the next process (upgrade),
// between two requests: the next process serves its next request as if it had accepted it.
struct HandedClient {
    net::Fd fd;
    net::SocketAddress peer;
    std::string service;
    uint16_t listen_port = 0;  // X-Forwarded-Port
};

// What the workers' pools hold between requests, summed over workers (the admin's
// gauges). Each worker adds its change once per tick (0.25 s): the figures lag by that.
struct PoolGauges {
    std::atomic<int64_t> idle_backend_connections{0};
    std::atomic<int64_t> pooled_exchanges{0};
    std::atomic<int64_t> pooled_buffers{0};
};

// Shared by all workers of a process.
struct WorkerContext {
    std::atomic<uint32_t> connections{0};  // client connections, all workers
    std::atomic<uint32_t> max_connections{50000};
    std::atomic<bool> access_log{true};
    std::atomic<bool> splice{true};
    // Splice pipes open across workers (in use or pooled), and how many the fd limit
    // leaves room for (net::pipes_allowed); past it, bodies go through the buffer.
    std::atomic<uint32_t> pipes_open{0};
    std::atomic<uint32_t> max_pipes{1024};
    runtime::FailureSink* failures = nullptr;  // passive health reports
    log::Writer* log = nullptr;                // access log; null: no access log
    std::atomic<uint64_t> accept_pauses{0};    // out of fds: a listener paused (net::Acceptor)
    // Upgrade: set before begin_drain(true); takes the idle plain-HTTP keep-alive clients
    // (from any worker thread).
    std::function<void(HandedClient)> hand_client;
    PoolGauges pools;
};

class Worker {
  public:
    Worker(unsigned id, WorkerContext& context);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void start();  // spawns the thread; publish a snapshot first
    // The rest may be called from any thread; the worker applies them between events.
    void publish(std::shared_ptr<const runtime::Snapshot> snapshot);
    void set_listeners(std::vector<ListenerSocket> listeners);
    // The backend_tls client contexts by service name; set before the snapshot naming them.
    void set_backend_tls(std::shared_ptr<const tls::ClientContexts> contexts);
    // Stop accepting, close idle connections, let in-flight requests finish; the loop
    // ends by itself when the last session is gone.
    // `hand_over_clients` (upgrade): idle plain-HTTP keep-alive connections go to
    // WorkerContext::hand_client instead of being closed.
    void begin_drain(bool hand_over_clients = false);
    // Upgrade, the next process: serve a client connection the previous one handed over.
    void adopt_client(HandedClient client);
    void stop();  // ends the loop now (grace expired)
    // Test hook (CLB_TEST_HOOKS): blocks the worker's loop, as a bug or a stuck syscall
    // would, so that the watchdog can be tested for real.
    void stall_for_test(double seconds);
    void join();

    unsigned id() const { return id_; }
    uint32_t sessions() const { return sessions_.load(std::memory_order_relaxed); }
    // Loop time of the last watchdog tick (CLOCK_MONOTONIC seconds).
    double last_tick() const { return last_tick_.load(std::memory_order_relaxed); }

    class Impl;

  private:
    unsigned id_;
    std::unique_ptr<Impl> impl_;
    std::thread thread_;
    std::atomic<uint32_t> sessions_{0};
    std::atomic<double> last_tick_{0};
};

}  // namespace clb::proxy
