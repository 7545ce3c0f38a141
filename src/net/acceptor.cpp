#include "contrail_lb/net/acceptor.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cerrno>

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::net {

bool accept_exhausted(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

Acceptor::Acceptor(struct ev_loop* loop, std::string label, OnAccept on_accept,
                   std::atomic<uint64_t>* pauses)
    : loop_(loop), label_(std::move(label)), on_accept_(std::move(on_accept)), pauses_(pauses) {
    ev_init(&io_, &Acceptor::on_readable);
    io_.data = this;
    ev_init(&resume_, &Acceptor::on_resume);
    resume_.data = this;
}

Acceptor::~Acceptor() {
    stop();
}

void Acceptor::start(int listen_fd) {
    stop();
    fd_ = listen_fd;
    ev_io_set(&io_, fd_, EV_READ);
    ev_io_start(loop_, &io_);
}

void Acceptor::stop() {
    ev_io_stop(loop_, &io_);
    ev_timer_stop(loop_, &resume_);
    fd_ = -1;
}

void Acceptor::on_readable(struct ev_loop*, ev_io* w, int) {
    static_cast<Acceptor*>(w->data)->accept_burst();
}

void Acceptor::on_resume(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<Acceptor*>(w->data);
    ev_io_start(self->loop_, &self->io_);
    self->accept_burst();
}

void Acceptor::accept_burst() {
    for (int i = 0; i < kBurst && fd_ >= 0; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        Fd fd(::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            // EAGAIN: nothing left. ECONNABORTED and the like: that client gave up; the
            // next readiness event goes on with the others.
            if (accept_exhausted(errno)) pause(errno);
            return;
        }
        if (episode_pauses_ && monotonic_seconds() - last_pause_ >= kQuiet) end_episode();
        on_accept_(std::move(fd),
                   SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len));
    }
}

void Acceptor::pause(int error) {
    if (episode_pauses_ == 0) {
        episode_since_ = monotonic_seconds();
        spdlog::error(
            "{}: cannot accept: {}; pausing accepts for {}ms at a time until it "
            "clears (raise the fd limit?)",
            label_, error_text(error), static_cast<int>(kPause * 1000));
    }
    ++episode_pauses_;
    last_pause_ = monotonic_seconds();
    if (pauses_) pauses_->fetch_add(1, std::memory_order_relaxed);
    ev_io_stop(loop_, &io_);
    ev_timer_set(&resume_, kPause, 0.);
    ev_timer_start(loop_, &resume_);
}

void Acceptor::end_episode() {
    spdlog::warn("{}: accepting again since {:.1f}s ({} pauses of {}ms)", label_,
                 last_pause_ + kPause - episode_since_, episode_pauses_,
                 static_cast<int>(kPause * 1000));
    episode_pauses_ = 0;
}

}  // namespace clb::net
