// One active check of one backend: a non-blocking connection on the control loop, and for
// `type: http` one request and the status of its response. The whole exchange (connect,
// send, response headers) is bounded by the check's timeout. The fd, the watcher and the
// deadline timer live as long as the Probe and are reused check after check, so the
// completion callback may start the next check right away.
#pragma once

#include <functional>
#include <string>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
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
    void start(const net::SocketAddress& target, const config::HealthCheck& settings);
    // Abandons the running check, if any, without calling `done`.
    void cancel();
    bool running() const { return running_; }

  private:
    enum class Phase { connecting, sending, receiving };

    void on_io(int revents);
    void on_deadline();
    void on_connected();
    void send_request();
    void receive_response();
    void finish(bool ok, const std::string& reason);
    void finish_with_error(int error);

    Done done_;
    net::Fd fd_;
    net::IoWatcher io_;
    net::Timer deadline_;
    ResponseParser parser_;
    config::HealthCheck settings_;
    std::string request_;
    size_t sent_ = 0;
    size_t received_ = 0;
    int early_error_ = 0;  // connect() failed at once; reported by the deadline timer at 0 s
    Phase phase_ = Phase::connecting;
    bool running_ = false;
};

}  // namespace clb::health
