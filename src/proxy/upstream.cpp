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
    : Upstream(loop, Stream::to_backend(std::move(fd), nullptr), std::move(backend), buffers,
               nullptr) {}

Upstream::Upstream(struct ev_loop* loop, Stream stream, std::shared_ptr<runtime::Backend> backend,
                   BufferPool& buffers, std::shared_ptr<const tls::ClientContext> tls)
    : in(buffers.get()),
      loop_(loop),
      stream_(std::move(stream)),
      tls_context_(std::move(tls)),
      backend_(std::move(backend)),
      buffers_(buffers) {
    ev_io_init(&io_, &Upstream::on_io, stream_.fd(), EV_WRITE);
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
    proxy::watch(loop_, io_, stream_.fd(), events);
}

void Upstream::want(bool reading, bool writing) {
    watch(stream_.events(reading, writing));
    if (reading && stream_.pending()) ev_feed_event(loop_, &io_, EV_READ);
}

Upstream::Progress Upstream::advance_connect() {
    if (!tcp_done_) {
        if (int err = net::take_socket_error(stream_.fd()); err != 0) {
            error_ = err;
            return Progress::failed;
        }
        tcp_done_ = true;
    }
    bool failed = false;
    if (stream_.ready(failed)) return Progress::done;
    if (!failed) return Progress::waiting;
    error_ = EPROTO;
    connect_error_ = stream_.tls_error();
    return Progress::failed;
}

Upstream::Leftover Upstream::leftover() const {
    if (!in.empty() || stream_.buffered()) return Leftover::bytes;
    // A short read emptied the socket; only after a read that filled its room (always the
    // case at the end of a spliced body; always assumed over TLS, whose reads stop at a
    // record's end) can more be waiting. A peek costs a syscall, so the common small plain
    // response pays nothing.
    if (!may_hold_more) return Leftover::none;
    char byte;
    ssize_t n = ::recv(stream_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
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

std::unique_ptr<Upstream> UpstreamPool::take(const runtime::Backend& backend,
                                             const std::shared_ptr<const tls::ClientContext>& tls) {
    auto it = idle_.find(&backend);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    while (!list.empty()) {
        auto up = std::move(list.back());  // most recently used: least likely timed out
        list.pop_back();
        --idle_count_;
        // Made before a reload changed backend_tls (another CA, or none): not for new
        // requests, which must be checked against what is configured now.
        if (up->tls_context() != tls) continue;
        // Readable in this loop pass, before its idle watcher ran: the backend closed it
        // or sent bytes nobody asked for. Either way it is not for the next request.
        if (ev_clear_pending(loop_, &up->io_) & EV_READ) continue;
        up->pool_ = nullptr;
        up->reused = true;
        up->in.attach(buffers_.get());
        return up;
    }
    return nullptr;
}

std::unique_ptr<Upstream> UpstreamPool::connect(
    const std::shared_ptr<runtime::Backend>& backend,
    const std::shared_ptr<const tls::ClientContext>& tls, int& error) {
    net::Fd fd = net::connect_tcp(backend->address, error);
    if (!fd) return nullptr;
    std::unique_ptr<tls::Connection> session;
    if (tls) {
        try {
            session = std::make_unique<tls::Connection>(
                *tls, fd.get(), backend->address.ip().to_string(), session_slot(backend, tls));
        } catch (const std::exception&) {
            error = ENOMEM;  // SSL_new failed: a local fault, like running out of fds
            return nullptr;
        }
    }
    return std::make_unique<Upstream>(loop_, Stream::to_backend(std::move(fd), std::move(session)),
                                      backend, buffers_, tls);
}

std::shared_ptr<tls::SessionSlot> UpstreamPool::session_slot(
    const std::shared_ptr<runtime::Backend>& backend,
    const std::shared_ptr<const tls::ClientContext>& tls) {
    Sessions& entry = sessions_[backend.get()];
    // A session made under another context is not resumed: it skipped today's CA.
    if (!entry.slot || entry.context != tls || entry.backend != backend)
        entry = {backend, tls, std::make_shared<tls::SessionSlot>()};
    return entry.slot;
}

void UpstreamPool::give_back(std::unique_ptr<Upstream> up) {
    auto& list = idle_[up->backend().get()];
    if (list.size() >= kMaxIdlePerBackend) return;  // closes it
    if (!up->in.empty()) return;  // HttpUpstream::reuse refuses it first; never lose bytes
    up->owner_ = nullptr;
    up->pool_ = this;
    up->idle_since = net::monotonic_seconds();
    up->watch(EV_READ);
    // Nothing is pending in it (HttpUpstream::reuse): an idle connection holds no buffer.
    buffers_.put(up->in.detach());
    list.push_back(std::move(up));
    ++idle_count_;
    if (!ev_is_active(&sweep_timer_)) ev_timer_start(loop_, &sweep_timer_);
}

void UpstreamPool::drop(Upstream* up) {
    auto& list = idle_[up->backend().get()];
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.get() == up; });
    if (it == list.end()) return;
    list.erase(it);
    --idle_count_;
}

void UpstreamPool::on_sweep(struct ev_loop*, ev_timer* t, int) {
    static_cast<UpstreamPool*>(t->data)->sweep();
}

void UpstreamPool::sweep() {
    double now = net::monotonic_seconds();
    bool any = false;
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        idle_count_ -= std::erase_if(
            list, [&](const auto& up) { return now - up->idle_since > kIdleTimeout; });
        any |= !list.empty();
        it = list.empty() ? idle_.erase(it) : std::next(it);
    }
    if (!any) ev_timer_stop(loop_, &sweep_timer_);
}

void UpstreamPool::retain_only(const runtime::Snapshot& snapshot) {
    auto present = [&](const runtime::Backend* backend) {
        for (const auto& svc : snapshot.services)
            for (const auto& b : svc.backends)
                if (b.state.get() == backend) return true;
        return false;
    };
    std::erase_if(idle_, [&](const auto& entry) {
        if (present(entry.first)) return false;
        idle_count_ -= entry.second.size();
        return true;
    });
    std::erase_if(sessions_, [&](const auto& entry) { return !present(entry.first); });
}

void UpstreamPool::clear() {
    idle_.clear();
    idle_count_ = 0;
    sessions_.clear();
}

}  // namespace clb::proxy
