// The per-request state of an HTTP session, apart from the connection that carries it.
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
#include "pipe.hpp"
#include "upstream.hpp"

namespace clb::proxy {

// When each step of an exchange happened (monotonic seconds; 0 = not reached): the
// access log's timers and the backend's connect and response histograms.
struct Timeline {
    double head_done = 0;      // the request head was parsed
    double connect_start = 0;  // the attempt that got the backend connection began
    double connected = 0;      // its handshake completed, or it came from the pool
    double request_sent = 0;   // the request head was on the wire
    double response_head = 0;  // the final response head was parsed
};

// Everything one request needs from its head to the end of its response. An idle
// keep-alive connection holds none of it: exchanges come from a per-worker pool, so their
// strings keep their capacity from request to request and the request path allocates
// nothing once warm.
struct HttpExchange {
    void reset();

    http::MessageParser request{http::Kind::request};
    http::Head head;
    std::optional<Connector> connector;  // bound to the session that holds the exchange
    std::unique_ptr<Upstream> up;
    // A large Content-Length response body's path, socket to socket, on plain TCP.
    std::unique_ptr<SplicePipe> response_pipe;
    std::string up_head;       // request head as sent to the backend
    std::string down_head;     // response head as sent to the client
    std::string request_line;  // for the access log
    std::string reason;        // why the proxy answered itself, for the access log
    std::string_view error_out;
    size_t error_sent = 0;
    size_t up_head_sent = 0;
    size_t request_ahead = 0;  // body bytes framed by the parser, not yet sent
    size_t down_head_sent = 0;
    size_t response_ahead = 0;
    uint64_t bytes_down = 0;
    uint64_t bytes_up = 0;
    double started = 0;  // the request head's first byte
    Timeline at;
    bool reused_upstream = false;  // the backend connection came from the pool
    double server_seen = 0;        // last progress on the backend side
    int up_error = 0;
    int status = 0;
    runtime::Termination termination = runtime::Termination::completed;
    bool counted_active = false;  // in the backend's active_connections
    bool up_eof = false;
    bool replayed = false;
    bool client_http10 = false;
    bool tunnel_pending = false;
    bool tunnel_client_shut = false;
    bool tunnel_server_shut = false;  // switch to a byte relay once the 101 head is out
    bool request_done = false;
    bool replayable = false;  // idempotent and bodiless: safe to send again
    bool head_request = false;
    bool upgrade_request = false;
    bool response_head_done = false;  // the final (non-1xx) head was parsed
    bool response_done = false;
    bool response_started = false;  // a byte of the response went to the client
};

// A per-worker free list for objects that churn per request and are worth keeping warm.
template <class T, size_t kMaxFree>
class ObjectPool {
  public:
    std::unique_ptr<T> get() {
        if (free_.empty()) return std::make_unique<T>();
        auto object = std::move(free_.back());
        free_.pop_back();
        return object;
    }
    void put(std::unique_ptr<T> object) {
        if (object && free_.size() < kMaxFree) free_.push_back(std::move(object));
    }

  private:
    std::vector<std::unique_ptr<T>> free_;
};

// Sized for the requests one worker has in flight at once on a busy node.
using ExchangePool = ObjectPool<HttpExchange, 1024>;

}  // namespace clb::proxy
