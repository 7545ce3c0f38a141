// One HTTP exchange: a request and its response, from the request head to the last byte
// of the response, apart from the client connection that carries it. The backend side is
// an HttpUpstream, the way out to the client a ResponseOut; the rest is the request's own
// state and its story (timeline, cause, bytes) for the access log and the metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connector.hpp"
#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/runtime/state.hpp"
#include "contrail_lb/runtime/termination.hpp"
#include "free_list.hpp"
#include "http_response.hpp"
#include "http_upstream.hpp"

namespace clb::proxy {

// When each step of an exchange happened (monotonic seconds; 0 = not reached): the
// access log's timers and the backend's connect and response histograms.
struct Timeline {
    double head_done = 0;      // the request head was parsed
    double connect_start = 0;  // the attempt that got the backend connection began
    double connected = 0;      // its handshake completed, or it came from the pool
    double queued = 0;         // it started waiting for a backend slot (max_connections)
    double dequeued = 0;       // it stopped waiting
    double request_sent = 0;   // the request head was on the wire
    double response_head = 0;  // the final response head was parsed
};

// The exchange's plain values: a new exchange is `ExchangeState{}`, so a pooled one
// starts as a new one would without a hand-kept list of fields to reset.
struct ExchangeState {
    // The request
    size_t request_ahead = 0;  // body bytes framed by the parser, not yet sent
    bool request_done = false;
    bool replayable = false;  // idempotent and bodiless: safe to send again
    bool replayed = false;
    bool client_http10 = false;
    bool head_request = false;
    bool upgrade_request = false;
    bool sticky = false;                               // the service persists clients with a cookie
    const runtime::Backend* sticky_backend = nullptr;  // the one the request's cookie names
    // The response
    int status = 0;
    bool response_head_done = false;  // the final (non-1xx) head was parsed
    bool response_done = false;
    bool response_started = false;  // a byte of the response went to the client
    bool tunnel_pending = false;    // switch to a byte relay once the 101 head is out
    bool tunnel_client_shut = false;
    bool tunnel_server_shut = false;
    // An answer from the proxy itself (error page, redirect)
    std::string_view answer_out;
    size_t answer_sent = 0;
    // The story
    double started = 0;  // the request head's first byte
    Timeline at;
    uint64_t bytes_up = 0;
    uint64_t bytes_down = 0;
    bool reused_upstream = false;  // the backend connection came from the pool
    runtime::Termination termination = runtime::Termination::completed;
};

// Exchanges come from a per-worker pool, so their strings keep their capacity from
// request to request and the request path allocates nothing once warm. An idle
// keep-alive connection holds none.
struct HttpExchange : ExchangeState {
    // Starts over as a new exchange, keeping capacities; an empty pipe goes to `pipes`.
    void reset(PipePool& pipes);

    http::MessageParser request{http::Kind::request};
    http::Head head;                     // the request's, then each response head in turn
    std::optional<Connector> connector;  // bound to the session that holds the exchange
    HttpUpstream upstream;
    ResponseOut response;
    std::string answer;        // the proxy's own answer when it is not a constant
    std::string request_line;  // for the access log
    std::string reason;        // why the proxy answered or cut it, for the access log
};

// A per-worker free list for objects that churn per request and are worth keeping warm;
// trim() lets go of those a burst needed and the steady load does not.
template <class T, size_t kMaxFree>
class ObjectPool {
  public:
    std::unique_ptr<T> get() {
        return free_.get([] { return std::make_unique<T>(); });
    }
    void put(std::unique_ptr<T> object) { free_.put(std::move(object)); }
    size_t trim() { return free_.trim(); }
    size_t size() const { return free_.size(); }

  private:
    FreeList<std::unique_ptr<T>, kMaxFree> free_;
};

// Sized for the requests one worker has in flight at once on a busy node.
using ExchangePool = ObjectPool<HttpExchange, 1024>;

}  // namespace clb::proxy
