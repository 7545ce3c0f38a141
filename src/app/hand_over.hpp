// Upgrade, the running process's side: it listens for `--take-over` on Unix sockets,
// hands its state and sockets to the one process that asks, and commits only when that
// process reports ready. Until then it keeps every socket and keeps serving, so a new
// process that fails, hangs or disconnects leaves it as it was (docs/operations.md
// "Upgrade").
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/upgrade/channel.hpp"
#include "contrail_lb/upgrade/messages.hpp"

namespace clb::app {

enum class UpgradeState { idle, in_progress, failed };
const char* to_string(UpgradeState state);

struct UpgradeStatus {
    UpgradeState state = UpgradeState::idle;
    std::string last_result;  // "", "ok", "failed"
    std::string last_reason;
    int last_pid = 0;
};

class HandOver {
  public:
    static constexpr double kReadyTimeout = 10;  // seconds for the new process to be ready

    struct Hooks {
        // The state to send and its descriptors, in the order the state lists them.
        std::function<upgrade::State(std::vector<int>& fds)> export_state;
        // The new process is ready: stop accepting (it accepts now) and give up the BGP
        // sessions. `summary` is for the log ("2 listeners, 1 BGP sessions, 0 BFD sessions").
        std::function<bgp::SpeakerHandOver(std::string& summary)> stop_serving;
        // After the commit is sent: drain and exit.
        std::function<void()> drain;
        // Every outcome (ok: pid of the new process; else the reason).
        std::function<void(bool ok, int pid, const std::string& reason)> finished;
    };

    HandOver(struct ev_loop* loop, Hooks hooks);
    ~HandOver();
    HandOver(const HandOver&) = delete;
    HandOver& operator=(const HandOver&) = delete;

    // Listens on `path` too (global.upgrade_socket, or the supervisor's internal socket).
    // False, logged, when it cannot.
    bool listen(const std::string& path);
    // Closes and removes every listening socket (the commit: the new process binds them).
    void close_listeners();
    // SIGUSR2 / POST /api/v1/upgrade without a supervisor: starts `argv` (the binary at the
    // path it was started from) with --take-over on one of our sockets. False and
    // `error` when an upgrade is running or it cannot start.
    bool start_successor(const std::vector<std::string>& argv, std::string& error);

    // During the drain after a commit: an idle keep-alive client goes to the new process.
    // False when the new process no longer listens (the caller's fd then closes).
    bool send_client(const upgrade::Client& client, int fd);
    // The drain is over: the channel to the new process closes.
    void end() { end_session(); }

    const UpgradeStatus& status() const { return status_; }
    bool busy() const { return status_.state == UpgradeState::in_progress; }

  private:
    struct Endpoint {
        std::string path;
        net::Fd fd;
        std::unique_ptr<net::IoWatcher> watcher;
    };
    void on_accept(Endpoint& endpoint);
    void on_readable();
    void on_message(const upgrade::Message& message);
    bool send_state();
    bool send_fds(const std::vector<int>& fds, std::string& error);
    void commit();
    void fail(const std::string& reason);
    void end_session();
    static void on_child(struct ev_loop*, ev_child* w, int);

    struct ev_loop* loop_;
    Hooks hooks_;
    std::vector<std::unique_ptr<Endpoint>> endpoints_;
    UpgradeStatus status_;
    // The one hand-over in progress.
    net::Fd peer_;
    net::IoWatcher peer_watcher_;
    upgrade::FrameReader reader_;
    bool sent_state_ = false;
    bool committed_ = false;
    int peer_pid_ = 0;
    double started_ = 0;
    net::Timer timeout_;
    // A successor we started ourselves: watched, killed if it hangs.
    pid_t child_ = 0;
    ev_child child_watcher_{};
};

}  // namespace clb::app
