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
#include "contrail_lb/tls/tls.hpp"
#include "stream.hpp"

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
    // A plain connection.
    Upstream(struct ev_loop* loop, net::Fd fd, std::shared_ptr<runtime::Backend> backend,
             BufferPool& buffers);
    // Over `stream`, TLS when made with `tls` (the service's backend_tls).
    Upstream(struct ev_loop* loop, Stream stream, std::shared_ptr<runtime::Backend> backend,
             BufferPool& buffers, std::shared_ptr<const tls::ClientContext> tls);
    ~Upstream();
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;

    int fd() const { return stream_.fd(); }
    Stream& stream() { return stream_; }
    bool secure() const { return stream_.secure(); }
    const std::shared_ptr<const tls::ClientContext>& tls_context() const { return tls_context_; }
    const std::shared_ptr<runtime::Backend>& backend() const { return backend_; }
    void set_owner(UpstreamOwner* owner) { owner_ = owner; }
    // Watch for `events` (EV_READ | EV_WRITE); cheap when unchanged.
    void watch(int events);
    // Sets interest for a session that wants to read and/or write (TLS may need the
    // other direction), and delivers an event for decrypted bytes waiting inside OpenSSL.
    void want(bool reading, bool writing);

    // Connecting: the TCP handshake, then the TLS one. `connected` is set once both are
    // done; a failure sets error() (EPROTO for TLS, with connect_error() saying why).
    enum class Progress { waiting, done, failed };
    Progress advance_connect();
    int connect_events() const { return tcp_done_ ? stream_.tls_wants() : EV_WRITE; }
    int error() const { return error_; }
    const std::string& connect_error() const { return connect_error_; }

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
    Stream stream_;
    std::shared_ptr<const tls::ClientContext> tls_context_;  // what it was made with
    ev_io io_{};
    bool tcp_done_ = false;
    int error_ = 0;
    std::string connect_error_;
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

    // An idle connection to `backend` made with the `tls` context (null: plain), or null. A
    // connection made under another context (a reload changed backend_tls) is closed.
    std::unique_ptr<Upstream> take(const runtime::Backend& backend,
                                   const std::shared_ptr<const tls::ClientContext>& tls = nullptr);
    // A new connection (connect in progress), TLS with `tls` (resuming this worker's last
    // session with the backend); null with `error` set on immediate failure.
    std::unique_ptr<Upstream> connect(const std::shared_ptr<runtime::Backend>& backend,
                                      const std::shared_ptr<const tls::ClientContext>& tls,
                                      int& error);
    std::unique_ptr<Upstream> connect(const std::shared_ptr<runtime::Backend>& backend,
                                      int& error) {
        return connect(backend, nullptr, error);
    }
    // Keep a connection whose last exchange ended cleanly.
    void give_back(std::unique_ptr<Upstream> up);
    // Close idle connections to backends that are not in `snapshot` any more.
    void retain_only(const runtime::Snapshot& snapshot);
    void clear();
    // Idle connections, all backends (contrail_lb_idle_backend_connections).
    size_t idle_count() const { return idle_count_; }

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
    size_t idle_count_ = 0;
    // The last TLS session of each backend, for the context it was made under.
    struct Sessions {
        std::shared_ptr<runtime::Backend> backend;  // pins the key's address
        std::shared_ptr<const tls::ClientContext> context;
        std::shared_ptr<tls::SessionSlot> slot;
    };
    std::unordered_map<const runtime::Backend*, Sessions> sessions_;
    std::shared_ptr<tls::SessionSlot> session_slot(
        const std::shared_ptr<runtime::Backend>& backend,
        const std::shared_ptr<const tls::ClientContext>& tls);
};

}  // namespace clb::proxy
