// The client connection of an HttpSession: events, the phase machine, reading requests,
// keep-alive, lingering closes, interest and timeouts (http_session.hpp).
#include "http_session.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>

#include "contrail_lb/net/socket.hpp"
#include "io.hpp"
#include "relay.hpp"
#include "sessions.hpp"

namespace clb::proxy {

using runtime::Termination;

namespace {

constexpr double kLingerSeconds = 2.0;  // reading what a closed client still sends

double seconds(config::Duration d) {
    return static_cast<double>(d.count()) / 1000.;
}

// `since` + `d`, or 0 (no deadline) when the timeout is off.
double deadline_after(double since, config::Duration d) {
    return d.count() > 0 ? since + seconds(d) : 0.;
}

double earliest(double a, double b) {
    return a == 0 ? b : (b == 0 ? a : std::min(a, b));
}

}  // namespace

std::unique_ptr<Session> make_http_session(Worker::Impl& worker, net::Fd fd,
                                           const net::SocketAddress& peer,
                                           const std::string& service, uint16_t listen_port,
                                           const std::shared_ptr<const tls::ServerContext>& tls) {
    return std::make_unique<HttpSession>(worker, std::move(fd), peer, service, listen_port, tls);
}

HttpSession::HttpSession(Worker::Impl& worker, net::Fd fd, const net::SocketAddress& peer,
                         const std::string& service, uint16_t listen_port,
                         const std::shared_ptr<const tls::ServerContext>& tls)
    : worker_(worker),
      client_(std::move(fd), tls),
      service_state_(worker_.snapshot()->find(service)->state),
      client_ip_(peer.ip()),
      client_port_(peer.port()),
      listen_port_(listen_port) {
    const auto* svc = worker_.snapshot()->find(service);
    timeouts_ = svc->config->timeouts;
    service_state_->active_connections.fetch_add(1, std::memory_order_relaxed);
    service_state_->connections_total.add();
    ev_io_init(&io_, &HttpSession::on_client_io, client_.fd(), EV_READ);
    io_.data = this;
    ev_init(&timer_, &HttpSession::on_timer);
    timer_.data = this;
    phase_since_ = client_seen_ = now();
    watch_client(EV_READ);
    arm(next_deadline());
}

HttpSession::~HttpSession() {
    ev_io_stop(worker_.loop(), &io_);
    ev_timer_stop(worker_.loop(), &timer_);
    bool in_flight = phase_ == Phase::queued || phase_ == Phase::connecting ||
                     phase_ == Phase::exchange || phase_ == Phase::tunnel;
    worker_.stop_waiting(*this);
    if (in_flight) {  // the grace period ended under it
        x_->termination = Termination::shutdown;
        log_request();
    }
    end_exchange();
    worker_.buffers().put(in_.detach());
    service_state_->active_connections.fetch_sub(1, std::memory_order_relaxed);
}

void HttpSession::drain() {
    // An idle keep-alive connection closes (a client retries a reused connection closed
    // before any answer); a new one gets its first request answered, with Connection:
    // close: its client has just connected and cannot tell a close from a failure.
    if (phase_ == Phase::head && in_.empty() && requests_ > 0) {
        // Upgrade: a plain connection goes on in the next process, between two requests.
        if (worker_.handing_over_clients() && !client_.secure()) {
            net::SocketAddress peer(client_ip_, client_port_);
            worker_.hand_client({client_.take_fd(), peer, service_name(), listen_port_});
        }
        close();
        return;
    }
    close_after_ = true;  // the response in flight says Connection: close
}

// ---- events ------------------------------------------------------------------------

void HttpSession::on_client_io(struct ev_loop*, ev_io* w, int revents) {
    auto* self = static_cast<HttpSession*>(w->data);
    // TLS may need a write to make a read progress (and the reverse): try on any event.
    if ((revents & EV_READ) || self->client_.secure()) self->read_client();
    self->pump();
}

void HttpSession::on_upstream_event(int revents) {
    if (phase_ == Phase::connecting) {
        // TCP, then TLS with backend_tls: both within timeouts.connect.
        Upstream& conn = x_->upstream.conn();
        switch (conn.advance_connect()) {
            case Upstream::Progress::waiting:
                pump();
                return;
            case Upstream::Progress::failed:
                connect_failed(conn.error(), conn.connect_error());
                pump();
                return;
            case Upstream::Progress::done:
                upstream_ready();
                break;
        }
    }
    // TLS may need a write to make a read progress (and the reverse): try on any event.
    bool read =
        (revents & EV_READ) || (x_ && x_->upstream.attached() && x_->upstream.conn().secure());
    if (read && x_ && x_->upstream.attached()) read_upstream();
    pump();
}

void HttpSession::on_timer(struct ev_loop*, ev_timer* w, int) {
    auto* self = static_cast<HttpSession*>(w->data);
    self->timer_at_ = 0;
    double deadline = self->next_deadline();
    if (deadline > 0 && deadline <= self->now() + 0.0005) {
        self->on_timeout();
        if (self->phase_ != Phase::closed) self->pump();
    } else {
        self->arm(deadline);
    }
}

void HttpSession::on_timeout() {
    switch (phase_) {
        case Phase::head:
            if (in_.empty()) {
                close();  // idle keep-alive connection: nothing to answer
            } else {
                fail(408, "request head not complete after " +
                              config::format_duration(timeouts_.http_request));
            }
            break;
        case Phase::queued:  // logged as ended in the queue: not dequeued
            worker_.stop_waiting(*this);
            service_state_->queue_wait.observe(now() - x_->at.queued);
            service_state_->queue_timeouts.add();
            fail(503, Termination::queue_timeout,
                 "every backend stayed at its max_connections for " +
                     config::format_duration(timeouts_.queue));
            break;
        case Phase::connecting:
            connect_failed(ETIMEDOUT);
            break;
        case Phase::exchange:
            on_exchange_timeout();
            break;
        case Phase::tunnel:
            abort(Termination::client_timeout, "tunnel idle");
            break;
        case Phase::answer:
        case Phase::linger:
            close();
            break;
        case Phase::closed:
            break;
    }
}

// Whichever side the exchange waited on was silent too long.
void HttpSession::on_exchange_timeout() {
    if (waiting_on_server() && timeouts_.server.count() > 0 &&
        now() >= x_->upstream.seen() + seconds(timeouts_.server)) {
        if (x_->status == 0)
            fail(504, "no response from the backend within " +
                          config::format_duration(timeouts_.server));
        else
            abort(Termination::server_timeout, "backend went silent mid-response");
    } else {
        abort(Termination::client_timeout,
              "client inactive for " + config::format_duration(timeouts_.client));
    }
}

// ---- the state machine ---------------------------------------------------------------

void HttpSession::pump() {
    for (int round = 0; round < 32; ++round) {
        Phase before = phase_;
        switch (phase_) {
            case Phase::head:
                read_request_head();
                break;
            case Phase::queued:
                // A FIN after a complete request may be a half-close; a reset is not.
                if (client_error_ || (!x_->request_done && client_eof_ && in_.empty()))
                    abort(Termination::client_abort, "client gone while waiting for a slot");
                break;
            case Phase::connecting:
                break;
            case Phase::exchange:
                send_request();
                if (phase_ == Phase::exchange) forward_response();
                break;
            case Phase::tunnel:
                relay_tunnel();
                break;
            case Phase::answer:
                flush_answer();
                break;
            case Phase::linger:
            case Phase::closed:
                break;
        }
        if (phase_ == Phase::closed) return;
        if (phase_ == before) break;
    }
    update_interest();
    arm(next_deadline());
}

void HttpSession::read_client() {
    if (phase_ == Phase::linger) {
        char sink[4096];
        ssize_t n;
        while ((n = ::read(client_.fd(), sink, sizeof sink)) > 0) {
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) close();
        return;
    }
    bool failed = false;
    if (!client_.ready(failed)) {
        if (failed) {
            spdlog::debug("{}: {}: {}", service_name(), peer().to_string(), client_.tls_error());
            close();
        }
        return;
    }
    if (client_eof_ || in_.full()) return;
    // Idle connections hold no buffer (HAProxy does the same): take one to read into.
    if (!in_.allocated()) in_.attach(worker_.buffers().get());
    ReadResult r = client_.read(in_);
    if (r.n > 0) {
        client_seen_ = now();
        if (phase_ == Phase::head && head_first_byte_ == 0) head_first_byte_ = client_seen_;
    }
    if (r.eof) client_eof_ = true;
    if (r.n < 0) client_error_ = static_cast<int>(-r.n);
}

bool HttpSession::read_request_head() {
    // RFC 9112 §2.2: ignore empty lines before a request line.
    while (in_.size() >= 2 && in_.data()[0] == '\r' && in_.data()[1] == '\n')
        in_.consume(2);
    if (client_error_ || (client_eof_ && in_.empty())) {
        close();
        return false;
    }
    std::string_view view = in_.view();
    size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        // A head that can never end in CRLFCRLF is refused now, not after a timeout.
        if (http::has_bare_lf(view)) {
            fail(400, "malformed request: bare LF");
            return false;
        }
        if (in_.full())
            fail(431, "request head larger than " + std::to_string(kBufferSize / 1024) + " KiB");
        else if (client_eof_)
            close();  // the client gave up mid-head
        return false;
    }
    return start_request(end + 4);
}

// Half-close and read what the client still sends before closing, so the kernel does not
// answer its unread bytes with a RST that could destroy the response in flight.
void HttpSession::linger() {
    client_.shutdown_write();
    phase_ = Phase::linger;
    phase_since_ = now();
    if (client_eof_ || client_error_) close();
}

void HttpSession::close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    ev_io_stop(worker_.loop(), &io_);
    ev_timer_stop(worker_.loop(), &timer_);
    worker_.stop_waiting(*this);
    release_upstream(false);
    worker_.close(*this);  // destroyed after this event
}

// ---- interest and deadlines ----------------------------------------------------------

void HttpSession::watch_client(int events) {
    watch(worker_.loop(), io_, client_.fd(), events);
}

void HttpSession::update_interest() {
    int client = 0, server = 0;
    switch (phase_) {
        case Phase::head:
        case Phase::queued:  // a client that resets while it waits is noticed
        case Phase::linger:
            client = EV_READ;
            break;
        case Phase::connecting:
            server = x_->upstream.conn().connect_events();
            break;
        case Phase::exchange:
        case Phase::tunnel:
            client = exchange_interest(server);
            break;
        case Phase::answer:
            client = EV_WRITE;
            break;
        case Phase::closed:
            return;
    }
    if (client_.secure()) {
        client |= client_.tls_wants();
        // Decrypted bytes already inside OpenSSL raise no socket event: deliver one.
        if ((client & EV_READ) && client_.pending()) ev_feed_event(worker_.loop(), &io_, EV_READ);
    }
    watch_client(client);
    if (!x_ || !x_->upstream.attached()) return;
    if (phase_ == Phase::connecting)
        x_->upstream.conn().watch(server);
    else
        x_->upstream.conn().want(server & EV_READ, server & EV_WRITE);
}

// The client's events while an exchange (or its tunnel) runs; the server's in `server`.
int HttpSession::exchange_interest(int& server) {
    if (phase_ == Phase::tunnel) {
        RelayEnd c{client_.fd(),           &in_,          client_eof_,
                   x_->tunnel_client_shut, client_error_, &client_};
        RelayEnd s{x_->upstream.fd(),      &x_->upstream.in(),   x_->upstream.eof(),
                   x_->tunnel_server_shut, x_->upstream.error(), &x_->upstream.conn().stream()};
        server = relay_events(s, c);
        return relay_events(c, s);
    }
    int client = 0;
    if (!client_eof_ && !in_.full()) client |= EV_READ;
    if (x_->response.pending()) client |= EV_WRITE;
    if (!x_->upstream.eof() && x_->upstream.has_room(x_->response.pipe.get())) server |= EV_READ;
    if (x_->upstream.wants_write(x_->request_ahead)) server |= EV_WRITE;
    return client;
}

double HttpSession::next_deadline() const {
    switch (phase_) {
        case Phase::head:
            if (requests_ == 0) return deadline_after(phase_since_, timeouts_.http_request);
            if (in_.empty()) return deadline_after(phase_since_, timeouts_.keep_alive);
            return deadline_after(head_first_byte_ ? head_first_byte_ : phase_since_,
                                  timeouts_.http_request);
        case Phase::queued:
            return deadline_after(phase_since_, timeouts_.queue);
        case Phase::connecting:
            return deadline_after(phase_since_, timeouts_.connect);
        case Phase::exchange:
            return exchange_deadline();
        case Phase::tunnel:
            return deadline_after(std::max(client_seen_, x_->upstream.seen()),
                                  std::max(timeouts_.client, timeouts_.server));
        case Phase::answer:
        case Phase::linger:
            return phase_since_ + kLingerSeconds;
        case Phase::closed:
            return 0;
    }
    return 0;
}

// timeouts.server while the proxy waits on the backend, timeouts.client while it waits on
// the client (the rest of the request, or room for the response), whichever comes first.
double HttpSession::exchange_deadline() const {
    double d = waiting_on_server() ? deadline_after(x_->upstream.seen(), timeouts_.server) : 0.;
    bool waiting_on_client = !x_->request_done || x_->response.pending();
    if (waiting_on_client) d = earliest(d, deadline_after(client_seen_, timeouts_.client));
    return d;
}

void HttpSession::arm(double deadline) {
    if (deadline <= 0 || phase_ == Phase::closed) return;
    // A timer that fires early re-evaluates and re-arms, so only move it earlier.
    if (ev_is_active(&timer_) && timer_at_ <= deadline) return;
    ev_timer_stop(worker_.loop(), &timer_);
    ev_timer_set(&timer_, std::max(0., deadline - now()), 0.);
    ev_timer_start(worker_.loop(), &timer_);
    timer_at_ = deadline;
}

}  // namespace clb::proxy
