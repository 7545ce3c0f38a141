#include "hand_over.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"
#include "spawn.hpp"

namespace clb::app {

const char* to_string(UpgradeState state) {
    switch (state) {
        case UpgradeState::idle:
            return "idle";
        case UpgradeState::in_progress:
            return "in_progress";
        case UpgradeState::failed:
            return "failed";
    }
    return "idle";
}

namespace {

// Best effort: the other side may already be gone.
void send_refusal(int fd, const std::string& reason) {
    std::string error;
    upgrade::send_frame(fd, upgrade::encode_refused(reason), {}, error);
}

}  // namespace

HandOver::HandOver(struct ev_loop* loop, Hooks hooks)
    : loop_(loop),
      hooks_(std::move(hooks)),
      peer_watcher_(loop, [this](int) { on_readable(); }),
      timeout_(loop, [this] {
          const std::string limit = std::to_string(static_cast<int>(kReadyTimeout)) + "s";
          fail((peer_ ? "not ready within " : "did not connect within ") + limit);
      }) {
    ev_child_init(&child_watcher_, on_child, 0, 0);
    child_watcher_.data = this;
}

HandOver::~HandOver() {
    ev_child_stop(loop_, &child_watcher_);
}

bool HandOver::listen(const std::string& path) {
    int error = 0;
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->path = path;
    endpoint->fd = upgrade::listen_unix(path, error);
    if (!endpoint->fd) {
        spdlog::error("upgrade: cannot listen on {}: {}", path, net::error_text(error));
        return false;
    }
    Endpoint* raw = endpoint.get();
    endpoint->watcher =
        std::make_unique<net::IoWatcher>(loop_, [this, raw](int) { on_accept(*raw); });
    endpoint->watcher->start(endpoint->fd.get(), EV_READ);
    spdlog::info("upgrade: listening on {}", path);
    endpoints_.push_back(std::move(endpoint));
    return true;
}

void HandOver::close_listeners() {
    for (auto& e : endpoints_) {
        e->watcher->stop();
        upgrade::unlink_unix(e->path);
    }
    endpoints_.clear();
}

void HandOver::on_accept(Endpoint& endpoint) {
    net::Fd fd(::accept4(endpoint.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) return;
    auto uid = upgrade::peer_uid(fd.get());
    if (!uid || !upgrade::peer_allowed(*uid, ::getuid())) {
        std::string who = uid ? "uid " + std::to_string(*uid) : "an unknown user";
        spdlog::warn("upgrade: refused a take-over on {} from {}: only uid {} or root may ask",
                     endpoint.path, who, ::getuid());
        send_refusal(fd.get(), "permission denied: " + who + " is not uid " +
                                   std::to_string(::getuid()) + " or root");
        return;
    }
    if (peer_ || committed_) {
        spdlog::warn("upgrade: refused a take-over on {}: an upgrade is already running",
                     endpoint.path);
        send_refusal(fd.get(), "an upgrade is already running");
        return;
    }
    // Replies are small frames; a peer that stops reading is cut by the send timeout.
    timeval tv{2, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    net::set_nonblocking(fd.get());
    peer_ = std::move(fd);
    reader_ = {};
    sent_state_ = false;
    peer_pid_ = 0;
    status_.state = UpgradeState::in_progress;
    if (!timeout_.active()) started_ = net::monotonic_seconds();
    timeout_.start(kReadyTimeout);
    peer_watcher_.start(peer_.get(), EV_READ);
}

void HandOver::on_readable() {
    std::string error;
    auto status = reader_.read_some(peer_.get(), error);
    if (status == upgrade::FrameReader::Status::again) return;
    if (committed_) {  // only its close matters now
        if (status != upgrade::FrameReader::Status::frame) end_session();
        return;
    }
    if (status == upgrade::FrameReader::Status::closed) {
        fail("it closed the connection before it was ready");
        return;
    }
    if (status == upgrade::FrameReader::Status::error) {
        fail("reading from it: " + error);
        return;
    }
    for (;;) {
        bool bad = false;
        auto frame = reader_.next(error, bad);
        if (bad) return fail(error);
        if (!frame) return;
        auto message = upgrade::decode(frame->json, error);
        if (!message) {
            send_refusal(peer_.get(), error);
            return fail(error);
        }
        on_message(*message);
        if (!peer_) return;  // ended
    }
}

void HandOver::on_message(const upgrade::Message& m) {
    using upgrade::MessageType;
    if (m.type == MessageType::hello && !sent_state_) {
        peer_pid_ = m.pid;
        spdlog::info("upgrade: handing over to pid {}", peer_pid_);
        if (!send_state()) return;
        sent_state_ = true;
        return;
    }
    if (m.type == MessageType::ready && sent_state_) return commit();
    if (m.type == MessageType::abort) return fail(m.reason);
    fail("an unexpected message");
}

bool HandOver::send_state() {
    std::vector<int> fds;
    upgrade::State state = hooks_.export_state(fds);
    state.pid = ::getpid();
    std::string error;
    bool ok = upgrade::send_frame(peer_.get(), upgrade::encode_state(state), {}, error);
    ok = ok && send_fds(fds, error);
    if (!ok) fail("sending the state: " + error);
    return ok;
}

// Descriptors in `fds` frames of at most kMaxFdsPerMessage each.
bool HandOver::send_fds(const std::vector<int>& fds, std::string& error) {
    for (size_t i = 0; i < fds.size(); i += upgrade::kMaxFdsPerMessage) {
        size_t n = std::min(upgrade::kMaxFdsPerMessage, fds.size() - i);
        std::vector<int> batch(fds.begin() + static_cast<long>(i),
                               fds.begin() + static_cast<long>(i + n));
        if (!upgrade::send_frame(peer_.get(), upgrade::encode_fds(n), batch, error)) return false;
    }
    return true;
}

// The new process runs its loops with everything adopted: from here on it serves, and
// this process only finishes what it has.
void HandOver::commit() {
    committed_ = true;
    timeout_.stop();
    std::string summary;
    auto speaker = hooks_.stop_serving(summary);
    close_listeners();
    std::string error;
    std::vector<int> fds = upgrade::speaker_fds(speaker);
    bool sent = upgrade::send_frame(peer_.get(), upgrade::encode_committed(::getpid(), speaker), {},
                                    error) &&
                send_fds(fds, error);
    if (!sent)
        spdlog::warn("upgrade: pid {} did not get the commit ({}); it gives up on its own",
                     peer_pid_, error);
    double ms = (net::monotonic_seconds() - started_) * 1000;
    spdlog::info("upgrade: handed over {} to pid {} in {:.0f} ms; draining", summary, peer_pid_,
                 ms);
    int pid = peer_pid_;
    status_.state = UpgradeState::idle;
    status_.last_result = "ok";
    status_.last_reason.clear();
    status_.last_pid = pid;
    ev_child_stop(loop_, &child_watcher_);
    child_ = 0;
    hooks_.finished(true, pid, "");
    hooks_.drain();
}

void HandOver::fail(const std::string& reason) {
    int pid = peer_pid_ ? peer_pid_ : child_;
    spdlog::error("upgrade: pid {} failed: {}; still serving", pid, reason);
    end_session();
    if (child_) {
        // Ours and not ready: it must not start serving later on its own.
        ::kill(child_, SIGKILL);
    }
    timeout_.stop();
    status_.state = UpgradeState::failed;
    status_.last_result = "failed";
    status_.last_reason = reason;
    status_.last_pid = pid;
    hooks_.finished(false, pid, reason);
}

void HandOver::end_session() {
    peer_watcher_.stop();
    peer_.reset();
    peer_pid_ = 0;
}

bool HandOver::send_client(const upgrade::Client& client, int fd) {
    if (!peer_) return false;
    std::string error;
    if (upgrade::send_frame(peer_.get(), upgrade::encode_client(client), {fd}, error)) return true;
    spdlog::warn("upgrade: cannot hand a client connection to pid {}: {}", peer_pid_, error);
    end_session();
    return false;
}

bool HandOver::start_successor(const std::vector<std::string>& argv, std::string& error) {
    if (busy() || committed_) {
        error = "an upgrade is already running";
        return false;
    }
    if (endpoints_.empty() && !listen("@contrail-lb-" + std::to_string(::getpid()) + "-upgrade")) {
        error = "cannot open a socket for the new process";
        return false;
    }
    pid_t pid = spawn(successor_arguments(argv, endpoints_.front()->path), error);
    if (!pid) return false;
    spdlog::info("upgrade: started pid {} ({}) to take over", pid, argv[0]);
    child_ = pid;
    ev_child_set(&child_watcher_, pid, 0);
    ev_child_start(loop_, &child_watcher_);
    status_.state = UpgradeState::in_progress;
    started_ = net::monotonic_seconds();
    timeout_.start(kReadyTimeout);
    return true;
}

void HandOver::on_child(struct ev_loop* loop, ev_child* w, int) {
    auto* self = static_cast<HandOver*>(w->data);
    ev_child_stop(loop, w);
    pid_t pid = self->child_;
    self->child_ = 0;
    if (self->committed_ || !self->busy()) return;
    self->peer_pid_ = pid;
    self->fail("it " + describe_exit(w->rstatus) + " before it was ready");
}

}  // namespace clb::app
