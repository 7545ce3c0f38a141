// The admin HTTP endpoint (SPEC "Admin endpoints"; docs/admin.md): /healthz, /metrics,
// /stats, /api/v1/status and the drain/enable API.
//
// It runs on the control loop, the thread that owns the runtime::Registry, so it reads
// the registry directly and changes drain flags without locks. It is built to stay
// available under a misbehaving client: bounded request size, request and idle timeouts,
// and a connection limit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "contrail_lb/bgp/status.hpp"
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/runtime/state.hpp"

struct ev_loop;

namespace clb::admin {

// The upgrade as /api/v1/status shows it (docs/operations.md "Upgrade").
struct UpgradeView {
    std::string state = "idle";  // idle | in_progress | failed
    std::string last_result;     // "", "ok", "failed"
    std::string last_reason;
    int last_pid = 0;  // the process that took over, or failed to
};
// The outcome of POST /api/v1/upgrade: `pid` of the new process when `ok`, else the reason.
using UpgradeDone = std::function<void(bool ok, int pid, const std::string& reason)>;
// What the proxy workers' pools hold between requests, all workers (proxy::PoolGauges).
struct PoolCounts {
    int64_t idle_backend_connections = 0;
    int64_t pooled_exchanges = 0;
    int64_t pooled_buffers = 0;
};

// Where the endpoints get their data. Everything is read on the control thread.
struct Sources {
    runtime::Registry* registry = nullptr;
    std::function<std::optional<bgp::SpeakerStatus>()> bgp;  // empty or nullopt: no bgp section
    std::string version;                                     // "0.1.0"
    double started_at = 0;                                   // unix time
    // The watchdog's view: why a worker loop is stalled, empty while all turn (/healthz).
    std::function<std::string()> stalled;
    std::function<uint64_t()> log_lines_dropped;  // contrail_lb_log_lines_dropped_total
    std::function<PoolCounts()> pools;            // empty: no proxy workers
    std::string token;  // admin.token_file's token; empty: state changes need none
    // admin.users_file's users; empty: no HTTP Basic authentication (docs/admin.md).
    std::vector<config::AdminUser> users;
    // Listener pauses (net::Acceptor: out of fds) for contrail_lb_accept_pauses_total; the
    // BGP listener's come with the speaker's status. Either may be null.
    const std::atomic<uint64_t>* proxy_accept_pauses = nullptr;
    std::atomic<uint64_t>* admin_accept_pauses = nullptr;  // counted by the Server itself
    std::function<UpgradeView()> upgrade;                  // empty: idle
    // POST /api/v1/upgrade: false and `error` when it cannot start (409: one is running);
    // else `done` runs once, when the outcome is known.
    std::function<bool(UpgradeDone done, std::string& error)> start_upgrade;
};

// Protection against slow or hostile clients. The defaults suit production; tests shrink them.
struct Limits {
    size_t max_head_bytes = 64 * 1024;  // request line + headers; beyond: 431
    size_t max_body_bytes = 64 * 1024;  // beyond: 413
    double request_timeout = 10;        // seconds to receive a whole request; then 408
    double idle_timeout = 30;           // seconds between requests on a keep-alive connection
    size_t max_connections = 256;       // beyond: 503 and close
};

class Server {
  public:
    // Listens on `address` (port 0 picks a free port, see address()). Throws
    // std::runtime_error, e.g. "admin: cannot listen on 127.0.0.1:9090: Address already in use".
    // `listening`: a socket already bound to `address` (handed over by the previous
    // process on an upgrade) instead of a new one.
    Server(struct ev_loop* control_loop, const net::SocketAddress& address, Sources sources,
           Limits limits = {}, net::Fd listening = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The bound address: the configured one, with the real port when it was 0.
    const net::SocketAddress& address() const;
    // The listening socket, to hand to the next process (upgrade).
    int listen_fd() const;
    // The next process accepts now; connections already open finish here.
    void stop_accepting();
    // Open client connections, for tests and the connection limit.
    size_t connection_count() const;
    // A reload read admin.token_file again (empty: no token needed any more).
    void set_token(std::string token);
    // A reload read admin.users_file again (empty: no Basic authentication any more).
    void set_users(std::vector<config::AdminUser> users);

    class Impl;  // src/admin/server.cpp

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace clb::admin
