// The backend side of one HTTP exchange, as h2o's http1client.c is: the connection (new
// or pooled), the request head going out with the body bytes the client side framed, the
// response bytes coming in (into the connection's buffer, or a splice pipe), and whether
// the connection may carry another request afterwards. It knows nothing of the client.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "buffer.hpp"
#include "io.hpp"
#include "pipe.hpp"
#include "upstream.hpp"

namespace clb::proxy {

class HttpUpstream {
  public:
    // Takes `conn` for this exchange with the backend slot the Connector took for it
    // (busy for leastconn and max_connections) until uncount_active(); its events go to
    // `owner`.
    void attach(std::unique_ptr<Upstream> conn, UpstreamOwner& owner, double now);
    bool attached() const { return conn_ != nullptr; }
    Upstream& conn() const { return *conn_; }
    runtime::Backend& backend() const { return *conn_->backend(); }
    int fd() const { return conn_->fd(); }
    http::MessageParser& parser() const { return conn_->parser; }
    IoBuffer& in() const { return conn_->in; }

    // The request head as it goes to the backend; its capacity stays across requests.
    std::string& head() { return head_; }
    void resend() { head_sent_ = 0; }  // the same request on a fresh connection
    bool wants_write(size_t body_ahead) const {
        return head_sent_ < head_.size() || body_ahead > 0;
    }

    struct Sent {
        size_t bytes = 0;            // head and body
        bool head_finished = false;  // the last byte of the head went with these
    };
    // Writes what is left of the head, then up to `body_ahead` bytes at the front of
    // `body`, as far as the socket takes them; consumes them there. A failed write is
    // kept in error().
    Sent send(IoBuffer& body, size_t& body_ahead);
    // Reads response bytes into the connection's buffer, or into `pipe` (a spliced body).
    ReadResult read(SplicePipe* pipe);
    // Worth reading: room in the buffer, or in the pipe for the rest of the body.
    bool has_room(const SplicePipe* pipe) const;

    bool eof() const { return eof_; }
    int error() const { return error_; }
    void set_error(int error) { error_ = error; }
    double seen() const { return seen_; }  // last progress: timeouts.server counts from it
    void touch(double now) { seen_ = now; }

    // The backend finished its part: for leastconn it is no longer busy, even while the
    // last bytes are still on their way to the client.
    void uncount_active();

    enum class Reuse { yes, no, surplus };
    // Whether the connection may carry another request now that the response is complete:
    // never with a byte pending, in the buffer or the kernel (`surplus`: the backend sent
    // more than it framed, a protocol error on its side).
    Reuse reuse(bool request_done, bool draining) const;
    // Back to `pool` when `keep`, else closed; detached either way.
    void release(UpstreamPool& pool, bool keep);

    // A pooled exchange keeps the head's capacity.
    void reset();

  private:
    std::unique_ptr<Upstream> conn_;
    std::string head_;
    size_t head_sent_ = 0;
    double seen_ = 0;
    int error_ = 0;
    bool eof_ = false;
    bool counted_active_ = false;
};

}  // namespace clb::proxy
