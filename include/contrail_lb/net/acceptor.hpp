// Accepts connections from a listening socket; shared by the proxy's, the admin's and
// the BGP speaker's listeners.
//
// When accept(2) fails because this process or the system is out of file descriptors
// (EMFILE, ENFILE) or of socket memory (ENOBUFS, ENOMEM), the connection stays queued and
// the socket stays readable: retrying at once spins a CPU and floods the log. The
// Acceptor stops watching the socket for a short pause, then tries again, until the
// pressure ends. One log line when an episode begins, one when it ends; every pause is
// counted (contrail_lb_accept_pauses_total{listener}).
#pragma once

#include <ev.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::net {

class Acceptor {
  public:
    using OnAccept = std::function<void(Fd fd, const SocketAddress& peer)>;
    static constexpr double kPause = 0.1;  // seconds; short enough to be invisible to clients
    static constexpr int kBurst = 64;      // accepts per readiness event, for fairness
    // An episode ends with an accept this long after its last pause: fds freed one at a
    // time under pressure do not make an episode (and two log lines) each.
    static constexpr double kQuiet = 1.0;

    // `label` names the listener in the log ("proxy listener 127.0.0.1:8082"); `pauses`
    // (may be null) counts pauses, from any thread.
    Acceptor(struct ev_loop* loop, std::string label, OnAccept on_accept,
             std::atomic<uint64_t>* pauses = nullptr);
    ~Acceptor();
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    void start(int listen_fd);  // the socket stays owned by the caller
    void stop();
    bool paused() const { return ev_is_active(&resume_); }

  private:
    static void on_readable(struct ev_loop*, ev_io* w, int);
    static void on_resume(struct ev_loop*, ev_timer* w, int);
    void accept_burst();
    void pause(int error);
    void end_episode();

    struct ev_loop* loop_;
    std::string label_;
    OnAccept on_accept_;
    std::atomic<uint64_t>* pauses_;
    ev_io io_{};
    ev_timer resume_{};
    int fd_ = -1;
    // The current episode of exhaustion: since when, how many pauses, the last one.
    double episode_since_ = 0;
    double last_pause_ = 0;
    uint64_t episode_pauses_ = 0;
};

// True for the accept(2) errors that mean "out of a local resource, try later".
bool accept_exhausted(int error);

}  // namespace clb::net
