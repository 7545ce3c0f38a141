#include "upstream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "io.hpp"

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::proxy {

Upstream::Upstream(struct ev_loop* loop, net::Fd fd, std::shared_ptr<runtime::Backend> backend,
                   BufferPool& buffers)
    : in(buffers.get()),
      loop_(loop),
      fd_(std::move(fd)),
      backend_(std::move(backend)),
      buffers_(buffers) {
    ev_io_init(&io_, &Upstream::on_io, fd_.get(), EV_WRITE);
    // Responses before new requests in each loop iteration: a response that completes
    // returns its connection to the pool in time for the requests read in the same
    // iteration, so backend connections are shared across clients instead of one being
    // opened per client connection in flight.
    ev_set_priority(&io_, EV_MAXPRI);
    io_.data = this;
    ev_io_start(loop_, &io_);
}

Upstream::~Upstream() {
    ev_io_stop(loop_, &io_);
    buffers_.put(in.detach());
}

void Upstream::watch(int events) {
    proxy::watch(loop_, io_, fd_.get(), events);
}

Upstream::Leftover Upstream::leftover() const {
    if (!in.empty()) return Leftover::bytes;
    // A short read emptied the socket; only after a read that filled its room (always the
    // case at the end of a spliced body) can more be waiting. A peek costs a syscall, so
    // the common small response pays nothing.
    if (!may_hold_more) return Leftover::none;
    char byte;
    ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Leftover::bytes;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Leftover::none;
    return Leftover::closed;  // a FIN or an error: not worth pooling either
}

void Upstream::on_io(struct ev_loop*, ev_io* w, int revents) {
    auto* self = static_cast<Upstream*>(w->data);
    if (self->pool_) {
        self->pool_->drop(self);  // idle: any event is the backend closing it (or garbage)
        return;
    }
    if (self->owner_) self->owner_->on_upstream_event(revents);
}

UpstreamPool::UpstreamPool(struct ev_loop* loop, BufferPool& buffers)
    : loop_(loop), buffers_(buffers) {
    ev_timer_init(&sweep_timer_, &UpstreamPool::on_sweep, 1., 1.);
    sweep_timer_.data = this;
}

UpstreamPool::~UpstreamPool() {
    ev_timer_stop(loop_, &sweep_timer_);
    clear();
}

std::unique_ptr<Upstream> UpstreamPool::take(const runtime::Backend& backend) {
    auto it = idle_.find(&backend);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    while (!list.empty()) {
        auto up = std::move(list.back());  // most recently used: least likely timed out
        list.pop_back();
        // Readable in this loop pass, before its idle watcher ran: the backend closed it
        // or sent bytes nobody asked for. Either way it is not for the next request.
        if (ev_clear_pending(loop_, &up->io_) & EV_READ) continue;
        up->pool_ = nullptr;
        up->reused = true;
        return up;
    }
    return nullptr;
}

std::unique_ptr<Upstream> UpstreamPool::connect(const std::shared_ptr<runtime::Backend>& backend,
                                                int& error) {
    net::Fd fd = net::connect_tcp(backend->address, error);
    if (!fd) return nullptr;
    return std::make_unique<Upstream>(loop_, std::move(fd), backend, buffers_);
}

void UpstreamPool::give_back(std::unique_ptr<Upstream> up) {
    auto& list = idle_[up->backend().get()];
    if (list.size() >= kMaxIdlePerBackend) return;  // closes it
    up->owner_ = nullptr;
    up->pool_ = this;
    up->idle_since = net::monotonic_seconds();
    up->watch(EV_READ);
    list.push_back(std::move(up));
    if (!ev_is_active(&sweep_timer_)) ev_timer_start(loop_, &sweep_timer_);
}

void UpstreamPool::drop(Upstream* up) {
    auto& list = idle_[up->backend().get()];
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.get() == up; });
    if (it != list.end()) list.erase(it);
}

void UpstreamPool::on_sweep(struct ev_loop*, ev_timer* t, int) {
    static_cast<UpstreamPool*>(t->data)->sweep();
}

void UpstreamPool::sweep() {
    double now = net::monotonic_seconds();
    bool any = false;
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        std::erase_if(list, [&](const auto& up) { return now - up->idle_since > kIdleTimeout; });
        any |= !list.empty();
        it = list.empty() ? idle_.erase(it) : std::next(it);
    }
    if (!any) ev_timer_stop(loop_, &sweep_timer_);
}

void UpstreamPool::retain_only(const runtime::Snapshot& snapshot) {
    for (auto it = idle_.begin(); it != idle_.end();) {
        bool present = false;
        for (const auto& svc : snapshot.services)
            for (const auto& b : svc.backends)
                present |= b.state.get() == it->first;
        it = present ? std::next(it) : idle_.erase(it);
    }
}

void UpstreamPool::clear() {
    idle_.clear();
}

}  // namespace clb::proxy
