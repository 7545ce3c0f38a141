// Connections to backends and the per-worker pool of idle keep-alive ones.
#pragma once

#include <ev.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "buffer.hpp"
#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::proxy {

// Whoever currently uses an upstream connection gets its socket events.
class UpstreamOwner {
  public:
    virtual void on_upstream_event(int revents) = 0;

  protected:
    ~UpstreamOwner() = default;
};

class UpstreamPool;

class Upstream {
  public:
    Upstream(struct ev_loop* loop, net::Fd fd, std::shared_ptr<runtime::Backend> backend,
             BufferPool& buffers);
    ~Upstream();
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;

    int fd() const { return fd_.get(); }
    const std::shared_ptr<runtime::Backend>& backend() const { return backend_; }
    void set_owner(UpstreamOwner* owner) { owner_ = owner; }
    // Watch for `events` (EV_READ | EV_WRITE); cheap when unchanged.
    void watch(int events);

    // What the backend sent after the response that just ended. A connection goes back to
    // the pool only with nothing at all pending, in our buffer or in the kernel: a byte
    // left there would be read as the answer to the next request, maybe another client's.
    enum class Leftover { none, closed, bytes };
    Leftover leftover() const;

    IoBuffer in;  // bytes from the backend
    http::MessageParser parser{http::Kind::response};
    bool connected = false;  // the TCP handshake completed
    bool reused = false;     // came from the pool: may have been closed by the backend meanwhile
    bool may_hold_more = false;  // the last read took all it could: the kernel may hold more
    double idle_since = 0;

  private:
    friend class UpstreamPool;
    static void on_io(struct ev_loop*, ev_io* w, int revents);

    struct ev_loop* loop_;
    net::Fd fd_;
    ev_io io_{};
    std::shared_ptr<runtime::Backend> backend_;
    BufferPool& buffers_;
    UpstreamOwner* owner_ = nullptr;
    UpstreamPool* pool_ = nullptr;  // set while idle in the pool
};

class UpstreamPool {
  public:
    UpstreamPool(struct ev_loop* loop, BufferPool& buffers);
    ~UpstreamPool();
    UpstreamPool(const UpstreamPool&) = delete;
    UpstreamPool& operator=(const UpstreamPool&) = delete;

    // An idle connection to `backend`, or null.
    std::unique_ptr<Upstream> take(const runtime::Backend& backend);
    // A new connection (connect in progress); null with `error` set on immediate failure.
    std::unique_ptr<Upstream> connect(const std::shared_ptr<runtime::Backend>& backend, int& error);
    // Keep a connection whose last exchange ended cleanly.
    void give_back(std::unique_ptr<Upstream> up);
    // Close idle connections to backends that are not in `snapshot` any more.
    void retain_only(const runtime::Snapshot& snapshot);
    void clear();

  private:
    friend class Upstream;
    void drop(Upstream* up);  // the backend closed an idle connection
    void sweep();             // closes connections idle longer than kIdleTimeout
    static void on_sweep(struct ev_loop*, ev_timer* t, int);

    // Shorter than common backend keep-alive timeouts (Apache: 5 s) so that we rarely
    // reuse a connection the backend is closing at the same moment.
    static constexpr double kIdleTimeout = 4.0;
    static constexpr size_t kMaxIdlePerBackend = 256;

    struct ev_loop* loop_;
    BufferPool& buffers_;
    ev_timer sweep_timer_{};
    std::unordered_map<const runtime::Backend*, std::vector<std::unique_ptr<Upstream>>> idle_;
};

}  // namespace clb::proxy
