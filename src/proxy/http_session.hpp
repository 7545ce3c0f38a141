// One client connection in http mode: requests are read one at a time (pipelined ones
// wait in the buffer), each is sent to a backend picked for it, and bodies stream through
// in both directions as they arrive, never buffered whole.
#pragma once

#include <ev.h>

#include <memory>
#include <string>
#include <vector>

#include "buffer.hpp"
#include "client_stream.hpp"
#include "connector.hpp"
#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"
#include "upstream.hpp"
#include "worker_impl.hpp"

namespace clb::proxy {

class HttpSession final : public Session, private UpstreamOwner {
  public:
    HttpSession(Worker::Impl& worker, net::Fd fd, const net::SocketAddress& peer,
                const std::string& service, const std::shared_ptr<const tls::ServerContext>& tls);
    ~HttpSession() override;
    void drain() override;

  private:
    enum class Phase { head, connecting, exchange, tunnel, error, linger, closed };

    // Events
    static void on_client_io(struct ev_loop*, ev_io* w, int revents);
    static void on_timer(struct ev_loop*, ev_timer* w, int);
    void on_upstream_event(int revents) override;
    void on_timeout();

    // The state machine: does everything possible without blocking, then sets interest.
    void pump();
    bool read_request_head();
    bool start_request(size_t head_len);
    void start_upstream();
    void connect_failed(int error);
    void upstream_ready();
    bool send_request();
    bool forward_response();
    bool parse_response_head();
    void upstream_closed(int error);
    void finish_request();
    void relay_tunnel();
    void flush_error();
    void linger();
    void read_client();
    void read_upstream();
    void use_upstream();
    void reset_request();
    double now() const { return ev_now(worker_.loop()); }
    static runtime::Termination default_cause(int status);
    void fail(int status, std::string why);
    void fail(int status, runtime::Termination cause, std::string why);
    void abort(runtime::Termination cause, std::string_view why);
    void close();
    void release_upstream(bool reusable);
    void uncount_active();
    void update_interest();
    void arm(double deadline);
    double next_deadline() const;
    void log_request();

    void build_request_head();
    void build_response_head(const http::Head& head, bool interim);
    void watch_client(int events);

    Worker::Impl& worker_;
    ClientStream client_;
    net::SocketAddress peer_;
    std::string client_ip_;
    std::string service_name_;
    Connector connector_;                              // pins the routing of the request in flight
    std::shared_ptr<runtime::Service> service_state_;  // counts this connection
    config::Timeouts timeouts_;
    int client_error_ = 0;
    double head_first_byte_ = 0;
    ev_io io_{};
    ev_timer timer_{};
    double timer_at_ = 0;
    IoBuffer in_;
    http::MessageParser request_{http::Kind::request};
    http::Head head_;
    Phase phase_ = Phase::head;
    bool client_eof_ = false;
    bool close_after_ = false;  // this response is the connection's last
    unsigned requests_ = 0;     // completed on this connection
    double phase_since_ = 0;    // head: first byte or idle start; connecting: connect start
    double client_seen_ = 0;    // last progress on the client side
    double server_seen_ = 0;    // last progress on the backend side

    // The request in flight.
    std::unique_ptr<Upstream> up_;
    bool counted_active_ = false;  // in the backend's active_connections
    bool up_eof_ = false;
    int up_error_ = 0;
    bool replayed_ = false;
    bool client_http10_ = false;
    bool tunnel_pending_ = false;
    bool tunnel_client_shut_ = false;
    bool tunnel_server_shut_ = false;  // switch to a byte relay once the 101 head is out
    std::string reason_;               // why the proxy answered itself, for the access log
    std::string up_head_;              // request head as sent to the backend
    size_t up_head_sent_ = 0;
    size_t request_ahead_ = 0;  // body bytes framed by the parser, not yet sent
    bool request_done_ = false;
    bool replayable_ = false;  // idempotent and bodiless: safe to send again
    bool head_request_ = false;
    bool upgrade_request_ = false;
    std::string request_line_;  // for the access log
    std::string down_head_;     // response head as sent to the client
    size_t down_head_sent_ = 0;
    size_t response_ahead_ = 0;
    bool response_head_done_ = false;  // the final (non-1xx) head was parsed
    bool response_done_ = false;
    bool response_started_ = false;  // a byte of the response went to the client
    int status_ = 0;
    runtime::Termination termination_ = runtime::Termination::completed;
    uint64_t bytes_down_ = 0;
    double started_ = 0;
    std::string_view error_out_;
    size_t error_sent_ = 0;
};

}  // namespace clb::proxy
