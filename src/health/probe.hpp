// One active check of one backend: a non-blocking connection on the control loop, and for
// `type: http` one request and the status of its response. The whole exchange (connect,
// send, response headers) is bounded by the check's timeout. The fd, the watcher and the
// deadline timer live as long as the Probe and are reused check after check, so the
// completion callback may start the next check right away. With the service's backend_tls
// the check speaks TLS as traffic does: a failed handshake or certificate fails it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/tls/tls.hpp"
#include "health/response_parser.hpp"

namespace clb::health {

// "connection refused", "connection reset", ...: errno as a log reads best.
std::string describe_error(int error);

// "GET /path HTTP/1.1" with Host set to the backend's address.
std::string make_request(const std::string& path, const net::SocketAddress& target);

class Probe {
  public:
    // passed or failed; inconclusive when this process could not run the check (out of
    // fds, of source ports: a local fault says nothing about the backend).
    enum class Verdict { passed, failed, inconclusive };
    // `reason`: "connected", "status 200", "timeout after 1s", ...
    using Done = std::function<void(Verdict verdict, const std::string& reason)>;

    Probe(struct ev_loop* loop, Done done);
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    // Starts a check (a running one is cancelled first). `done` runs exactly once per
    // started check, always from a loop callback, never from inside start().
    // With `tls`, the connection speaks TLS (resuming the probe's last session).
    void start(const net::SocketAddress& target, const config::HealthCheck& settings,
               std::shared_ptr<const tls::ClientContext> tls = nullptr);
    // Abandons the running check, if any, without calling `done`.
    void cancel();
    bool running() const { return running_; }

  private:
    enum class Phase { connecting, handshaking, sending, receiving };

    void on_io(int revents);
    void on_deadline();
    void on_connected();
    void handshake();
    void connection_ready();
    // Plain or TLS: > 0 bytes, 0 would block (the watcher is set), < 0 finished (failed).
    ssize_t send_some(const char* data, size_t len);
    ssize_t receive_some(char* buf, size_t len, bool& eof);
    void send_request();
    void receive_response();
    void finish(bool ok, const std::string& reason);
    void finish_with_error(int error);

    Done done_;
    net::Fd fd_;
    std::shared_ptr<const tls::ClientContext> tls_context_;
    std::unique_ptr<tls::Connection> tls_;
    std::shared_ptr<tls::SessionSlot> sessions_ = std::make_shared<tls::SessionSlot>();
    net::IoWatcher io_;
    net::Timer deadline_;
    ResponseParser parser_;
    config::HealthCheck settings_;
    std::string request_;
    std::string target_ip_;  // what the backend's certificate must name (without sni)
    size_t sent_ = 0;
    size_t received_ = 0;
    int early_error_ = 0;  // connect() failed at once; reported by the deadline timer at 0 s
    Phase phase_ = Phase::connecting;
    bool running_ = false;
};

}  // namespace clb::health
