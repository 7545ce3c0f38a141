// One client connection in http mode, as h2o's http1.c is the server side: requests are
// read one at a time (pipelined ones wait in the buffer), each becomes an HttpExchange
// sent to a backend picked for it (its HttpUpstream), and bodies stream through in both
// directions as they arrive, never buffered whole (its ResponseOut, or a tunnel after a
// 101). The connection's phase is the one state machine; pump() moves it.
//
// The session's code is in four files by concern: http_session.cpp (the connection:
// events, phases, reading, keep-alive, timeouts), http_exchange.cpp (one request: start,
// backend connection and its queue, request out, the end, the access log),
// http_answer.cpp (answers from the proxy itself, aborts) and http_forward.cpp (the
// response back: heads, bodies, splice, tunnel).
#pragma once

#include <ev.h>

#include <memory>
#include <string>

#include "access_log.hpp"
#include "buffer.hpp"
#include "contrail_lb/net/clock.hpp"
#include "http_exchange.hpp"
#include "stream.hpp"
#include "worker_impl.hpp"

namespace clb::proxy {

class HttpSession final : public Session, private UpstreamOwner, private SlotWaiter {
  public:
    HttpSession(Worker::Impl& worker, net::Fd fd, const net::SocketAddress& peer,
                const std::string& service, uint16_t listen_port,
                const std::shared_ptr<const tls::ServerContext>& tls);
    ~HttpSession() override;
    void drain() override;
    // Draining, this response is the connection's last, unless an upgrade hands the
    // connection over once idle (plain HTTP only: a TLS session cannot move).
    bool closes_for_drain() const {
        return worker_.draining() && !(worker_.handing_over_clients() && !client_.secure());
    }

  private:
    enum class Phase { head, queued, connecting, exchange, tunnel, answer, linger, closed };

    // ---- the connection (http_session.cpp)
    static void on_client_io(struct ev_loop*, ev_io* w, int revents);
    static void on_timer(struct ev_loop*, ev_timer* w, int);
    void on_upstream_event(int revents) override;
    void on_timeout();
    void on_exchange_timeout();
    void pump();  // does everything possible without blocking, then sets interest
    void read_client();
    bool read_request_head();
    void linger();
    void close();
    void update_interest();
    int exchange_interest(int& server);
    double next_deadline() const;
    double exchange_deadline() const;
    void arm(double deadline);
    void watch_client(int events);

    // ---- one request (http_exchange.cpp)
    HttpExchange& exchange();  // the request's, taken from the worker's pool when none
    void end_exchange();       // back to the pool: the connection is idle
    bool start_request(size_t head_len);
    void build_request_head();
    void follow_sticky_cookie(std::string_view name);
    void append_cookie_field(std::string& out, std::string_view value);
    void append_sticky_cookie(std::string& out);
    void start_upstream();
    void wait_for_slot();
    bool retry_connect() override;
    void leave_queue();
    void use_upstream(std::unique_ptr<Upstream> conn);
    void upstream_ready();
    void connect_failed(int error, std::string_view detail = {});
    bool frame_request_body();
    bool send_request();
    void finish_request();
    void await_next_request();
    bool upstream_reusable();
    void release_upstream(bool reusable);
    static runtime::Termination default_cause(int status);
    void fail(int status, std::string why);
    void fail(int status, runtime::Termination cause, std::string why);
    std::string_view error_answer(int status);
    void answer_redirect(const config::Redirect& to, size_t head_len);
    void answer(int status, runtime::Termination cause, std::string why, std::string_view response);
    void flush_answer();
    void abort(runtime::Termination cause, std::string_view why);
    void log_request();
    Timers timers() const;
    runtime::Phase exchange_phase() const;

    // ---- the response back (http_forward.cpp)
    void read_upstream();
    bool splice_response();
    bool waiting_on_server() const;
    bool forward_response();
    bool frame_response_body();
    bool write_response();
    bool drain_response_pipe();
    bool parse_response_head();
    void build_response_head(const http::Head& head, int status);
    void upstream_closed(int error);
    void relay_tunnel();

    double now() const { return worker_.now(); }
    // The client asked for the close and sent its whole request: nothing more can come.
    bool client_done() const {
        return x_->request_done && !x_->request.keep_alive() && in_.empty() && !client_.secure();
    }
    net::SocketAddress peer() const { return {client_ip_, client_port_}; }
    const std::string& service_name() const { return service_state_->name; }

    Worker::Impl& worker_;
    Stream client_;
    std::shared_ptr<runtime::Service> service_state_;  // counts this connection; has its name
    net::IpAddress client_ip_;
    uint16_t client_port_;
    uint16_t listen_port_;  // of the listener that accepted: X-Forwarded-Port
    config::Timeouts timeouts_;
    ev_io io_{};
    ev_timer timer_{};
    double timer_at_ = 0;
    double head_first_byte_ = 0;
    double phase_since_ = 0;           // head: first byte or idle start; connecting: connect start
    double client_seen_ = 0;           // last progress on the client side
    IoBuffer in_;                      // holds no memory while the connection is idle
    std::unique_ptr<HttpExchange> x_;  // the request in flight; none while idle
    unsigned requests_ = 0;            // completed on this connection
    int client_error_ = 0;
    Phase phase_ = Phase::head;
    bool client_eof_ = false;
    bool close_after_ = false;  // this response is the connection's last
};

}  // namespace clb::proxy
