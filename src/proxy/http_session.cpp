#include "http_session.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>

#include "contrail_lb/http/responses.hpp"
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

bool idempotent(int method) {
    switch (method) {
        case HTTP_GET:
        case HTTP_HEAD:
        case HTTP_OPTIONS:
        case HTTP_TRACE:
        case HTTP_PUT:
        case HTTP_DELETE:
            return true;
        default:
            return false;
    }
}

void count_status(runtime::StatusCounters& counters, int status) {
    size_t i = (status >= 100 && status < 600) ? static_cast<size_t>(status - 100) : 0;
    counters[i].add();
}

}  // namespace

std::unique_ptr<Session> make_http_session(Worker::Impl& worker, net::Fd fd,
                                           const net::SocketAddress& peer,
                                           const std::string& service,
                                           const std::shared_ptr<const tls::ServerContext>& tls) {
    return std::make_unique<HttpSession>(worker, std::move(fd), peer, service, tls);
}

HttpSession::HttpSession(Worker::Impl& worker, net::Fd fd, const net::SocketAddress& peer,
                         const std::string& service,
                         const std::shared_ptr<const tls::ServerContext>& tls)
    : worker_(worker),
      client_(std::move(fd), tls),
      peer_(peer),
      client_ip_(peer.ip().to_string()),
      service_name_(service),
      connector_(worker, service, balance::hash_client(peer.ip())) {
    const auto* svc = worker_.snapshot()->find(service);
    service_state_ = svc->state;
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
    bool in_flight =
        phase_ == Phase::connecting || phase_ == Phase::exchange || phase_ == Phase::tunnel;
    if (in_flight) {  // the grace period ended under it
        termination_ = Termination::shutdown;
        log_request();
    }
    release_upstream(false);
    worker_.buffers().put(in_.detach());
    service_state_->active_connections.fetch_sub(1, std::memory_order_relaxed);
}

void HttpSession::drain() {
    if (phase_ == Phase::head && in_.empty()) {
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
    if (phase_ == Phase::connecting && (revents & EV_WRITE)) {
        int err = net::take_socket_error(up_->fd());
        if (err) {
            connect_failed(err);
            pump();
            return;
        }
        upstream_ready();
    }
    if ((revents & EV_READ) && up_) read_upstream();
    pump();
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
            spdlog::debug("{}: {}: {}", service_name_, peer_.to_string(), client_.tls_error());
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

void HttpSession::read_upstream() {
    if (up_eof_ || up_->in.full()) return;
    ReadResult r = read_into(up_->fd(), up_->in);
    if (r.n > 0) {
        server_seen_ = now();
        up_->backend()->bytes_in.add(static_cast<uint64_t>(r.n));
    }
    if (r.eof) up_eof_ = true;
    if (r.n < 0) up_error_ = static_cast<int>(-r.n);
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
        case Phase::connecting:
            connect_failed(ETIMEDOUT);
            break;
        case Phase::exchange:
            if (!response_done_ && timeouts_.server.count() > 0 &&
                now() >= server_seen_ + seconds(timeouts_.server)) {
                if (status_ == 0)
                    fail(504, "no response from the backend within " +
                                  config::format_duration(timeouts_.server));
                else
                    abort(Termination::server_timeout, "backend went silent mid-response");
            } else {
                abort(Termination::client_timeout,
                      "client inactive for " + config::format_duration(timeouts_.client));
            }
            break;
        case Phase::tunnel:
            abort(Termination::client_timeout, "tunnel idle");
            break;
        case Phase::error:
        case Phase::linger:
            close();
            break;
        case Phase::closed:
            break;
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
            case Phase::connecting:
                break;
            case Phase::exchange:
                send_request();
                if (phase_ == Phase::exchange) forward_response();
                break;
            case Phase::tunnel:
                relay_tunnel();
                break;
            case Phase::error:
                flush_error();
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
        for (size_t lf = view.find('\n'); lf != std::string_view::npos;
             lf = view.find('\n', lf + 1)) {
            if (lf == 0 || view[lf - 1] != '\r') {
                fail(400, "malformed request: bare LF");
                return false;
            }
        }
        if (in_.full())
            fail(431, "request head larger than " + std::to_string(kBufferSize / 1024) + " KiB");
        else if (client_eof_)
            close();  // the client gave up mid-head
        return false;
    }
    return start_request(end + 4);
}

bool HttpSession::start_request(size_t head_len) {
    reset_request();
    started_ = now();
    std::string_view raw(in_.data(), head_len);
    if (!request_.parse_head(raw.data(), raw.size())) {
        fail(400, "malformed request: " + std::string(request_.error()));
        return false;
    }
    if (!head_.parse(raw)) {
        fail(400, "malformed request: " + std::string(head_.error()));
        return false;
    }
    if (worker_.context().access_log.load(std::memory_order_relaxed))
        request_line_.assign(head_.start_line());
    if (request_.method() == HTTP_CONNECT) {
        fail(501, "CONNECT is not proxied");
        return false;
    }
    if (!connector_.begin()) {
        fail(503, connector_.cause(), connector_.why());
        return false;
    }
    timeouts_ = connector_.service()->config->timeouts;
    client_http10_ = request_.http_minor() == 0;
    close_after_ = close_after_ || !request_.keep_alive() || worker_.draining();
    head_request_ = request_.method() == HTTP_HEAD;
    upgrade_request_ = request_.upgrade();
    request_done_ = request_.message_complete();
    replayable_ = request_done_ && !upgrade_request_ && idempotent(request_.method());
    build_request_head();
    in_.consume(head_len);
    start_upstream();
    return true;
}

void HttpSession::reset_request() {
    connector_.release();
    up_head_sent_ = 0;
    request_ahead_ = 0;
    request_done_ = false;
    replayable_ = replayed_ = false;
    head_request_ = upgrade_request_ = tunnel_pending_ = false;
    request_line_.clear();
    down_head_.clear();
    down_head_sent_ = 0;
    response_ahead_ = 0;
    response_head_done_ = response_done_ = response_started_ = false;
    status_ = 0;
    termination_ = Termination::completed;
    bytes_down_ = 0;
    started_ = 0;
    reason_.clear();
}

// Into up_head_, whose capacity stays from request to request.
void HttpSession::build_request_head() {
    std::string& out = up_head_;
    out.clear();
    out.reserve(head_.start_line().size() + 256 + head_.headers().size() * 32);
    // An HTTP/1.0 request stays 1.0 so that the backend answers without chunked encoding,
    // which a 1.0 client cannot read; it still asks to keep the backend connection.
    out.append(head_.first()).append(" ").append(head_.second());
    out.append(client_http10_ ? " HTTP/1.0\r\nConnection: keep-alive\r\n" : " HTTP/1.1\r\n");
    std::string_view first_forwarded_for;
    std::string more_forwarded_for;  // rare: several X-Forwarded-For lines
    for (const auto& h : head_.headers()) {
        if (http::iequals(h.name, "x-forwarded-for")) {
            if (first_forwarded_for.empty())
                first_forwarded_for = h.value;
            else
                more_forwarded_for.append(", ").append(h.value);
            continue;
        }
        if (http::is_hop_by_hop(h.name) || http::iequals(h.name, "x-forwarded-proto")) continue;
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    out.append("X-Forwarded-For: ");
    if (!first_forwarded_for.empty())
        out.append(first_forwarded_for).append(more_forwarded_for).append(", ");
    out.append(client_ip_).append("\r\n");
    out.append(client_.secure() ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    if (upgrade_request_) {
        const http::Header* upgrade = head_.find("upgrade");
        out.append("Connection: Upgrade\r\nUpgrade: ")
            .append(upgrade ? upgrade->value : std::string_view("websocket"))
            .append("\r\n");
    }
    out.append("\r\n");
}

// ---- backend selection and connection -----------------------------------------------

void HttpSession::start_upstream() {
    up_ = connector_.connect(true);
    if (!up_) return fail(503, connector_.cause(), connector_.why());
    use_upstream();
}

void HttpSession::use_upstream() {
    up_->set_owner(this);
    up_eof_ = false;
    up_error_ = 0;
    up_->backend()->active_connections.fetch_add(1, std::memory_order_relaxed);
    counted_active_ = true;
    server_seen_ = phase_since_ = now();
    if (up_->connected) {
        upstream_ready();
    } else {
        phase_ = Phase::connecting;
        up_->watch(EV_WRITE);
    }
}

void HttpSession::upstream_ready() {
    if (!up_->reused) {
        up_->connected = true;
        up_->backend()->connections_total.add();
    }
    phase_ = Phase::exchange;
    server_seen_ = now();
}

void HttpSession::connect_failed(int error) {
    release_upstream(false);
    connector_.failed(error);
    start_upstream();
}

// The backend finished its part: for leastconn it is no longer busy, even while the last
// bytes are still on their way to the client.
void HttpSession::uncount_active() {
    if (!counted_active_) return;
    counted_active_ = false;
    up_->backend()->active_connections.fetch_sub(1, std::memory_order_relaxed);
}

void HttpSession::release_upstream(bool reusable) {
    if (!up_) return;
    uncount_active();
    if (reusable) {
        up_->reused = false;
        worker_.upstreams().give_back(std::move(up_));
    } else {
        up_.reset();
    }
}

// ---- request and response streaming --------------------------------------------------

bool HttpSession::send_request() {
    for (;;) {
        if (request_ahead_ == 0 && !request_done_ && !in_.empty()) {
            auto step = request_.parse_body(in_.data(), in_.size());
            if (step.error) {
                fail(400, "malformed request body: " + std::string(request_.error()));
                return false;
            }
            request_ahead_ = step.consumed;
            request_done_ = step.complete;
        }
        size_t head_left = up_head_.size() - up_head_sent_;
        if (head_left == 0 && request_ahead_ == 0) break;
        ssize_t n = write2(up_->fd(), up_head_.data() + up_head_sent_, head_left, in_.data(),
                           request_ahead_);
        if (n == 0) break;
        if (n < 0) {
            up_error_ = static_cast<int>(-n);
            break;
        }
        auto written = static_cast<size_t>(n);
        size_t from_head = std::min(written, head_left);
        up_head_sent_ += from_head;
        in_.consume(written - from_head);
        request_ahead_ -= written - from_head;
        up_->backend()->bytes_out.add(written);
        server_seen_ = now();
    }
    // A FIN after a complete request may be a half-close: keep going. A reset may not.
    if (client_error_ || (!request_done_ && client_eof_ && in_.empty())) {
        abort(Termination::client_abort,
              client_error_ ? "client connection failed: " + net::error_text(client_error_)
                            : std::string("client closed the connection mid-request"));
        return false;
    }
    return true;
}

bool HttpSession::forward_response() {
    for (;;) {
        size_t head_left = down_head_.size() - down_head_sent_;
        if (head_left == 0 && response_ahead_ == 0) {
            if (tunnel_pending_) {
                phase_ = Phase::tunnel;
                return true;
            }
            if (response_done_) break;
            // A new head only once the previous one (a 1xx) is out: it reuses down_head_.
            if (!response_head_done_) {
                if (!parse_response_head()) break;
                continue;
            }
        }
        // Frame body bytes even while the head is pending, so both go in one write.
        if (response_head_done_ && !response_done_ && response_ahead_ == 0 && !up_->in.empty()) {
            auto step = up_->parser.parse_body(up_->in.data(), up_->in.size());
            if (step.error) {
                abort(Termination::bad_response, "invalid response body from the backend: " +
                                                     std::string(up_->parser.error()));
                return false;
            }
            response_ahead_ = step.consumed;
            response_done_ = step.complete;
            if (response_done_) uncount_active();
        }
        if (head_left == 0 && response_ahead_ == 0) {
            if (response_done_) continue;  // leaves the loop above, or enters the tunnel
            break;
        }
        ssize_t n = client_.write(down_head_.data() + down_head_sent_, head_left, up_->in.data(),
                                  response_ahead_);
        if (n == 0) break;
        if (n < 0) {
            abort(Termination::client_abort,
                  "client write failed: " + net::error_text(static_cast<int>(-n)));
            return false;
        }
        auto written = static_cast<size_t>(n);
        size_t from_head = std::min(written, head_left);
        down_head_sent_ += from_head;
        up_->in.consume(written - from_head);
        response_ahead_ -= written - from_head;
        bytes_down_ += written;
        response_started_ = true;
        client_seen_ = now();
    }
    bool flushed = down_head_sent_ == down_head_.size() && response_ahead_ == 0;
    if (!response_done_ && up_->in.empty() && (up_eof_ || up_error_)) {
        upstream_closed(up_error_);  // may complete a response delimited by the close
        if (phase_ != Phase::exchange || !response_done_) return false;
    }
    if (response_done_ && flushed) finish_request();
    return true;
}

bool HttpSession::parse_response_head() {
    std::string_view view = up_->in.view();
    size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (up_->in.full())
            fail(502, Termination::bad_response, "response head from the backend too large");
        return false;
    }
    std::string_view raw = view.substr(0, end + 4);
    if (head_request_) up_->parser.expect_no_body();
    if (!up_->parser.parse_head(raw.data(), raw.size()) || !head_.parse(raw)) {
        fail(502, Termination::bad_response,
             "invalid response from the backend: " +
                 std::string(up_->parser.error().empty() ? head_.error() : up_->parser.error()));
        return false;
    }
    int status = up_->parser.status();
    bool interim = status >= 100 && status < 200 && status != 101;
    if (!interim) {
        status_ = status;
        response_head_done_ = true;
        if (status == 101 && !upgrade_request_) {
            fail(502, Termination::bad_response,
                 "backend switched protocols without an Upgrade request");
            return false;
        }
        tunnel_pending_ = status == 101;
        if (up_->parser.body_until_close()) close_after_ = true;
        response_done_ = !tunnel_pending_ && up_->parser.message_complete();
        if (response_done_) uncount_active();
    }
    build_response_head(head_, interim);
    up_->in.consume(raw.size());
    return true;
}

void HttpSession::build_response_head(const http::Head& head, bool interim) {
    down_head_.clear();
    down_head_sent_ = 0;
    down_head_.append(head.start_line()).append("\r\n");
    bool switching = status_ == 101 && !interim;
    for (const auto& h : head.headers()) {
        if (!switching &&
            (http::iequals(h.name, "connection") || http::iequals(h.name, "keep-alive") ||
             http::iequals(h.name, "proxy-connection")))
            continue;
        down_head_.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!interim && !switching) {
        if (close_after_)
            down_head_.append("Connection: close\r\n");
        else if (client_http10_)
            down_head_.append("Connection: keep-alive\r\n");
    }
    down_head_.append("\r\n");
}

void HttpSession::upstream_closed(int error) {
    if (response_head_done_ && error == 0 && up_->parser.body_until_close()) {
        if (up_->parser.finish()) {
            response_done_ = true;
            return;
        }
    }
    if (status_ == 0 && !response_started_ && up_->reused && replayable_ && !replayed_) {
        // The classic keep-alive race: the backend closed an idle connection just as we
        // reused it. Nothing was answered, and the request is safe to send again.
        replayed_ = true;
        release_upstream(false);
        up_head_sent_ = 0;
        up_ = connector_.reconnect();
        if (up_)
            use_upstream();
        else
            start_upstream();
        return;
    }
    std::string why = error ? net::error_text(error) : "connection closed";
    if (status_ == 0 && !response_started_)
        fail(502, "backend failed before answering: " + why);
    else
        abort(Termination::backend_reset, "backend failed mid-response: " + why);
}

void HttpSession::finish_request() {
    if (const auto* backend = connector_.backend())
        count_status(backend->state->responses, status_);
    else
        count_status(service_state_->responses_without_backend, status_);
    service_state_->observe_duration(now() - started_);
    log_request();
    if (!request_done_) close_after_ = true;  // the backend answered before the body ended
    bool reusable = up_ && request_done_ && !up_eof_ && !up_error_ && up_->in.empty() &&
                    up_->parser.keep_alive() && !worker_.draining();
    release_upstream(reusable);
    ++requests_;
    reset_request();
    if (close_after_ || client_eof_ || client_error_) {
        linger();
        return;
    }
    phase_ = Phase::head;
    phase_since_ = now();
    head_first_byte_ = in_.empty() ? 0 : phase_since_;
    if (in_.empty()) worker_.buffers().put(in_.detach());
}

void HttpSession::relay_tunnel() {
    RelayEnd client{client_.fd(), &in_, client_eof_, false, client_error_, &client_};
    RelayEnd server{up_->fd(), &up_->in, up_eof_, false, up_error_};
    client.shut = tunnel_client_shut_;
    server.shut = tunnel_server_shut_;
    RelayProgress p = relay(client, server);
    tunnel_client_shut_ = client.shut;
    tunnel_server_shut_ = server.shut;
    if (p.a_to_b) server_seen_ = now();
    if (p.b_to_a) {
        client_seen_ = now();
        bytes_down_ += p.b_to_a;
    }
    client_error_ = client.error;
    up_error_ = server.error;
    if (relay_done(client, server)) {
        termination_ = client_error_ ? Termination::client_abort
                       : up_error_   ? Termination::backend_reset
                                     : Termination::completed;
        log_request();
        close();
    }
}

// ---- endings -------------------------------------------------------------------------

// The usual cause of an answer from the proxy itself; callers that know better say so.
Termination HttpSession::default_cause(int status) {
    switch (status) {
        case 408:
            return Termination::request_timeout;
        case 502:
            return Termination::backend_reset;
        case 503:
            return Termination::no_backend;
        case 504:
            return Termination::server_timeout;
        default:
            return Termination::bad_request;
    }
}

void HttpSession::fail(int status, std::string why) {
    fail(status, default_cause(status), std::move(why));
}

void HttpSession::fail(int status, Termination cause, std::string why) {
    if (response_started_) {
        abort(cause, why);
        return;
    }
    termination_ = cause;
    status_ = status;
    reason_ = std::move(why);
    if (started_ == 0) started_ = head_first_byte_ ? head_first_byte_ : now();
    release_upstream(false);
    const auto* backend = connector_.backend();
    if (backend && (status == 502 || status == 504))
        count_status(backend->state->responses, status);
    else
        count_status(service_state_->responses_without_backend, status);
    if (connector_.service()) service_state_->observe_duration(now() - started_);
    log_request();
    error_out_ = http::error_response(status);
    error_sent_ = 0;
    close_after_ = true;
    phase_ = Phase::error;
    phase_since_ = now();
}

void HttpSession::flush_error() {
    while (error_sent_ < error_out_.size()) {
        ssize_t n = client_.write(error_out_.data() + error_sent_, error_out_.size() - error_sent_,
                                  nullptr, 0);
        if (n == 0) return;
        if (n < 0) {
            close();
            return;
        }
        error_sent_ += static_cast<size_t>(n);
    }
    linger();
}

// Half-close and read what the client still sends before closing, so the kernel does not
// answer its unread bytes with a RST that could destroy the response in flight.
void HttpSession::linger() {
    client_.shutdown_write();
    phase_ = Phase::linger;
    phase_since_ = now();
    if (client_eof_ || client_error_) close();
}

void HttpSession::abort(Termination cause, std::string_view why) {
    termination_ = cause;
    spdlog::debug("{}: {} {}: closing: {}", service_name_, client_ip_, request_line_, why);
    // A request cut short is logged once, with status 0 when no answer had started.
    if (status_ == 0) reason_ = why;
    if (started_ != 0) log_request();
    close();
}

void HttpSession::close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    ev_io_stop(worker_.loop(), &io_);
    ev_timer_stop(worker_.loop(), &timer_);
    release_upstream(false);
    worker_.close(*this);  // destroyed after this event
}

// ---- plumbing ------------------------------------------------------------------------

void HttpSession::watch_client(int events) {
    watch(worker_.loop(), io_, client_.fd(), events);
}

void HttpSession::update_interest() {
    int client = 0, server = 0;
    switch (phase_) {
        case Phase::head:
            client = EV_READ;
            break;
        case Phase::connecting:
            server = EV_WRITE;
            break;
        case Phase::exchange: {
            if (!client_eof_ && !in_.full()) client |= EV_READ;
            if (down_head_sent_ < down_head_.size() || response_ahead_) client |= EV_WRITE;
            if (!up_eof_ && !up_->in.full()) server |= EV_READ;
            if (up_head_sent_ < up_head_.size() || request_ahead_) server |= EV_WRITE;
            break;
        }
        case Phase::tunnel: {
            RelayEnd c{client_.fd(),        &in_,          client_eof_,
                       tunnel_client_shut_, client_error_, &client_};
            RelayEnd s{up_->fd(), &up_->in, up_eof_, tunnel_server_shut_, up_error_};
            client = relay_events(c, s);
            server = relay_events(s, c);
            break;
        }
        case Phase::error:
            client = EV_WRITE;
            break;
        case Phase::linger:
            client = EV_READ;
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
    if (up_) up_->watch(server);
}

double HttpSession::next_deadline() const {
    auto at = [](double since, config::Duration d) {
        return d.count() > 0 ? since + seconds(d) : 0.;
    };
    auto earliest = [](double a, double b) { return a == 0 ? b : (b == 0 ? a : std::min(a, b)); };
    switch (phase_) {
        case Phase::head:
            if (requests_ == 0) return at(phase_since_, timeouts_.http_request);
            if (in_.empty()) return at(phase_since_, timeouts_.keep_alive);
            return at(head_first_byte_ ? head_first_byte_ : phase_since_, timeouts_.http_request);
        case Phase::connecting:
            return at(phase_since_, timeouts_.connect);
        case Phase::exchange: {
            double d = response_done_ ? 0. : at(server_seen_, timeouts_.server);
            bool waiting_on_client =
                !request_done_ || down_head_sent_ < down_head_.size() || response_ahead_ > 0;
            if (waiting_on_client) d = earliest(d, at(client_seen_, timeouts_.client));
            return d;
        }
        case Phase::tunnel:
            return at(std::max(client_seen_, server_seen_),
                      std::max(timeouts_.client, timeouts_.server));
        case Phase::error:
        case Phase::linger:
            return phase_since_ + kLingerSeconds;
        case Phase::closed:
            return 0;
    }
    return 0;
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

void HttpSession::log_request() {
    service_state_->count(termination_);
    if (!worker_.context().access_log.load(std::memory_order_relaxed)) return;
    const auto* backend = connector_.backend();
    std::string line =
        fmt::format("access: {} {} {} \"{}\" {} {} {:.3f}s {}", peer_.to_string(), service_name_,
                    backend ? std::string_view(backend->state->name) : std::string_view("-"),
                    request_line_.empty() ? std::string_view("-") : std::string_view(request_line_),
                    status_, bytes_down_, now() - started_, runtime::name(termination_));
    if (!reason_.empty()) line += fmt::format(" \"{}\"", reason_);
    worker_.access_log().append(line);
}

}  // namespace clb::proxy
