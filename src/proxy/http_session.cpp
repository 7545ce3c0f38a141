#include "http_session.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <charconv>

#include "contrail_lb/http/responses.hpp"
#include "contrail_lb/net/socket.hpp"
#include "io.hpp"
#include "relay.hpp"
#include "sessions.hpp"

namespace clb::proxy {

using runtime::Termination;

namespace {

constexpr double kLingerSeconds = 2.0;  // reading what a closed client still sends
// Bodies shorter than this are cheaper copied through the buffer than spliced.
constexpr uint64_t kSpliceMin = 16 * 1024;

bool holds_bytes(const std::unique_ptr<SplicePipe>& pipe) {
    return pipe && !pipe->empty();
}

// Worth reading from the socket that feeds `buffer`, or `pipe` while the body is spliced.
bool has_room(const std::unique_ptr<SplicePipe>& pipe, const http::MessageParser& parser,
              const IoBuffer& buffer) {
    return pipe ? !pipe->blocked() && parser.length_left() > 0 : !buffer.full();
}

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
    bool in_flight =
        phase_ == Phase::connecting || phase_ == Phase::exchange || phase_ == Phase::tunnel;
    if (in_flight) {  // the grace period ended under it
        x_->termination = Termination::shutdown;
        log_request();
    }
    end_exchange();
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
        int err = net::take_socket_error(x_->up->fd());
        if (err) {
            connect_failed(err);
            pump();
            return;
        }
        upstream_ready();
    }
    if ((revents & EV_READ) && x_ && x_->up) read_upstream();
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

void HttpSession::read_upstream() {
    if (x_->up_eof) return;
    ReadResult r = splice_response() ? fill_body(*x_->response_pipe, x_->up->fd(), x_->up->parser)
                                     : read_into(x_->up->fd(), x_->up->in);
    if (r.n > 0) {
        x_->server_seen = now();
        x_->up->backend()->bytes_in.add(static_cast<uint64_t>(r.n));
    }
    x_->up->may_hold_more = r.filled;
    if (r.eof) x_->up_eof = true;
    if (r.n < 0) x_->up_error = static_cast<int>(-r.n);
}

// The rest of a large Content-Length response body goes from socket to socket through a
// pipe, once everything buffered before it has gone to the client. Chunked bodies keep the
// buffer: their framing is checked byte by byte (docs/http-framing.md); TLS needs the
// bytes themselves. Request bodies keep it too: spliced from the client's socket they
// cost the proxy, the client and the backend more CPU, not less (docs/benchmarks.md).
bool HttpSession::splice_response() {
    if (x_->response_pipe) return true;
    if (client_.secure() || !worker_.context().splice.load(std::memory_order_relaxed) ||
        !x_->response_head_done || x_->response_done || !x_->up->in.empty() ||
        x_->up->parser.length_left() < kSpliceMin)
        return false;
    x_->response_pipe = worker_.pipes().get();
    return x_->response_pipe != nullptr;
}

// Body bytes held back for a slow client (a full buffer or pipe) are not the backend's
// silence: timeouts.server runs only while the proxy has room for more of the response,
// and counts from the moment the client made that room.
bool HttpSession::waiting_on_server() const {
    return !x_->response_done && has_room(x_->response_pipe, x_->up->parser, x_->up->in);
}

void HttpSession::body_went_to_client() {
    x_->server_seen = now();
}

// False when the client failed: the session is aborted.
bool HttpSession::drain_response_pipe() {
    auto [moved, error] = x_->response_pipe->drain(client_.fd());
    if (moved) {
        x_->bytes_down += moved;
        x_->response_started = true;
        client_seen_ = now();
        body_went_to_client();
    }
    if (error) {
        abort(Termination::client_abort, "client write failed: " + net::error_text(error));
        return false;
    }
    // The body is through once the parser has seen its last byte and the pipe is empty.
    if (x_->response_pipe->empty() && x_->up->parser.message_complete()) {
        worker_.pipes().put(std::move(x_->response_pipe));
        x_->response_done = true;
        uncount_active();
    }
    return true;
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
            if (waiting_on_server() && timeouts_.server.count() > 0 &&
                now() >= x_->server_seen + seconds(timeouts_.server)) {
                if (x_->status == 0)
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

bool HttpSession::start_request(size_t head_len) {
    end_exchange();  // a fresh one for each request
    exchange().at.head_done = now();
    x_->started = head_first_byte_ ? head_first_byte_ : x_->at.head_done;
    std::string_view raw(in_.data(), head_len);
    if (!x_->request.parse_head(raw.data(), raw.size())) {
        fail(400, "malformed request: " + std::string(x_->request.error()));
        return false;
    }
    if (!x_->head.parse(raw)) {
        fail(400, "malformed request: " + std::string(x_->head.error()));
        return false;
    }
    if (std::string_view why = x_->head.semantic_error(); !why.empty()) {
        fail(400, "malformed request: " + std::string(why));
        return false;
    }
    if (worker_.context().access_log.load(std::memory_order_relaxed))
        x_->request_line.assign(x_->head.start_line());
    if (x_->request.method() == HTTP_CONNECT) {
        fail(501, "CONNECT is not proxied");
        return false;
    }
    if (!x_->connector->begin()) {
        fail(503, x_->connector->cause(), x_->connector->why());
        return false;
    }
    if (const auto& redirect = x_->connector->service()->config->redirect) {
        answer_redirect(*redirect, head_len);
        return false;
    }
    timeouts_ = x_->connector->service()->config->timeouts;
    x_->client_http10 = x_->request.http_minor() == 0;
    close_after_ = close_after_ || !x_->request.keep_alive() || worker_.draining();
    x_->head_request = x_->request.method() == HTTP_HEAD;
    x_->upgrade_request = x_->request.upgrade();
    x_->request_done = x_->request.message_complete();
    x_->replayable = x_->request_done && !x_->upgrade_request && idempotent(x_->request.method());
    build_request_head();
    in_.consume(head_len);
    // Body bytes that came with the head are checked before a backend is even chosen.
    if (!frame_request_body()) return false;
    start_upstream();
    return true;
}

// A pooled exchange starts as a new one would, but keeps its strings' capacity.
void HttpExchange::reset() {
    request.reset();
    up.reset();
    up_head.clear();
    down_head.clear();
    request_line.clear();
    reason.clear();
    error_out = {};
    error_sent = up_head_sent = request_ahead = down_head_sent = response_ahead = 0;
    bytes_down = bytes_up = 0;
    started = server_seen = 0;
    at = {};
    reused_upstream = false;
    up_error = status = 0;
    termination = runtime::Termination::completed;
    counted_active = up_eof = replayed = client_http10 = false;
    tunnel_pending = tunnel_client_shut = tunnel_server_shut = false;
    request_done = replayable = head_request = upgrade_request = false;
    response_head_done = response_done = response_started = false;
}

HttpExchange& HttpSession::exchange() {
    if (x_) return *x_;
    x_ = worker_.exchanges().get();
    uint64_t client_hash = balance::hash_client(client_ip_);
    if (x_->connector)
        x_->connector->rebind(service_name(), client_hash);
    else
        x_->connector.emplace(worker_, service_name(), client_hash);
    return *x_;
}

// The request is over: its Routing and exchange are let go.
void HttpSession::end_exchange() {
    if (!x_) return;
    worker_.pipes().put(std::move(x_->response_pipe));  // kept only when empty
    x_->connector->release();
    release_upstream(false);
    x_->reset();
    worker_.exchanges().put(std::move(x_));
}

// Into x_->up_head, whose capacity stays from request to request.
void HttpSession::build_request_head() {
    std::string& out = x_->up_head;
    out.clear();
    out.reserve(x_->head.start_line().size() + 256 + x_->head.headers().size() * 32);
    // An HTTP/1.0 request stays 1.0 so that the backend answers without chunked encoding,
    // which a 1.0 client cannot read; it still asks to keep the backend connection.
    out.append(x_->head.first()).append(" ").append(x_->head.second());
    out.append(x_->client_http10 ? " HTTP/1.0\r\nConnection: keep-alive\r\n" : " HTTP/1.1\r\n");
    std::string_view first_forwarded_for;
    std::string more_forwarded_for;  // rare: several X-Forwarded-For lines
    for (const auto& h : x_->head.headers()) {
        if (x_->head.named_by_connection(h.name)) continue;
        if (http::iequals(h.name, "x-forwarded-for")) {
            if (first_forwarded_for.empty())
                first_forwarded_for = h.value;
            else
                more_forwarded_for.append(", ").append(h.value);
            continue;
        }
        // Ours to set: a client must not choose what the backend believes about the hop.
        if (http::is_hop_by_hop(h.name) || http::iequals(h.name, "x-forwarded-proto") ||
            http::iequals(h.name, "x-forwarded-port"))
            continue;
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    out.append("X-Forwarded-For: ");
    if (!first_forwarded_for.empty())
        out.append(first_forwarded_for).append(more_forwarded_for).append(", ");
    client_ip_.append_to(out);
    out.append("\r\n");
    out.append(client_.secure() ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    char port[8];
    auto port_end = std::to_chars(port, port + sizeof port, listen_port_).ptr;
    out.append("X-Forwarded-Port: ").append(port, port_end).append("\r\n");
    if (x_->upgrade_request) {
        const http::Header* upgrade = x_->head.find("upgrade");
        out.append("Connection: Upgrade\r\nUpgrade: ")
            .append(upgrade ? upgrade->value : std::string_view("websocket"))
            .append("\r\n");
    }
    out.append("\r\n");
}

// ---- backend selection and connection -----------------------------------------------

void HttpSession::start_upstream() {
    x_->up = x_->connector->connect(true);
    if (!x_->up) return fail(503, x_->connector->cause(), x_->connector->why());
    use_upstream();
}

void HttpSession::use_upstream() {
    x_->up->set_owner(this);
    x_->up_eof = false;
    x_->up_error = 0;
    x_->up->backend()->active_connections.fetch_add(1, std::memory_order_relaxed);
    x_->counted_active = true;
    x_->server_seen = phase_since_ = x_->at.connect_start = now();
    x_->reused_upstream = x_->up->reused;
    if (x_->up->connected) {
        upstream_ready();
    } else {
        phase_ = Phase::connecting;
        x_->up->watch(EV_WRITE);
    }
}

void HttpSession::upstream_ready() {
    x_->server_seen = x_->at.connected = now();
    if (!x_->up->reused) {
        x_->up->connected = true;
        x_->up->backend()->connections_total.add();
        x_->up->backend()->connect_time.observe(x_->at.connected - x_->at.connect_start);
        x_->connector->connected();
    }
    phase_ = Phase::exchange;
}

void HttpSession::connect_failed(int error) {
    release_upstream(false);
    x_->connector->failed(error);
    start_upstream();
}

// The backend finished its part: for leastconn it is no longer busy, even while the last
// bytes are still on their way to the client.
void HttpSession::uncount_active() {
    if (!x_->counted_active) return;
    x_->counted_active = false;
    x_->up->backend()->active_connections.fetch_sub(1, std::memory_order_relaxed);
}

void HttpSession::release_upstream(bool reusable) {
    if (!x_ || !x_->up) return;
    uncount_active();
    if (reusable) {
        x_->up->reused = false;
        worker_.upstreams().give_back(std::move(x_->up));
    } else {
        x_->up.reset();
    }
}

// ---- request and response streaming --------------------------------------------------

// Frames the request body bytes that arrived: request_ahead of them may go to the backend.
// False after refusing the request (400), in which case the backend connection, which may
// hold the start of this body but never its end, is reset.
bool HttpSession::frame_request_body() {
    if (x_->request_ahead > 0 || x_->request_done || in_.empty()) return true;
    auto step = x_->request.parse_body(in_.data(), in_.size());
    if (step.error) {
        if (x_->up) net::reset_on_close(x_->up->fd());
        fail(400, "malformed request body: " + std::string(x_->request.error()));
        return false;
    }
    x_->request_ahead = step.ready;
    x_->request_done = step.complete;
    return true;
}

bool HttpSession::send_request() {
    for (;;) {
        if (!frame_request_body()) return false;
        size_t head_left = x_->up_head.size() - x_->up_head_sent;
        if (head_left == 0 && x_->request_ahead == 0) break;
        ssize_t n = write2(x_->up->fd(), x_->up_head.data() + x_->up_head_sent, head_left,
                           in_.data(), x_->request_ahead);
        if (n == 0) break;
        if (n < 0) {
            x_->up_error = static_cast<int>(-n);
            break;
        }
        auto written = static_cast<size_t>(n);
        size_t from_head = std::min(written, head_left);
        x_->up_head_sent += from_head;
        in_.consume(written - from_head);
        x_->request_ahead -= written - from_head;
        x_->up->backend()->bytes_out.add(written);
        x_->bytes_up += written;
        x_->server_seen = now();
        if (from_head && x_->up_head_sent == x_->up_head.size())
            x_->at.request_sent = x_->server_seen;
    }
    // A FIN after a complete request may be a half-close: keep going. A reset may not.
    if (client_error_ || (!x_->request_done && client_eof_ && in_.empty())) {
        abort(Termination::client_abort,
              client_error_ ? "client connection failed: " + net::error_text(client_error_)
                            : std::string("client closed the connection mid-request"));
        return false;
    }
    return true;
}

bool HttpSession::forward_response() {
    for (;;) {
        size_t head_left = x_->down_head.size() - x_->down_head_sent;
        if (head_left == 0 && x_->response_ahead == 0) {
            if (x_->tunnel_pending) {
                phase_ = Phase::tunnel;
                return true;
            }
            if (x_->response_done) break;
            // A new head only once the previous one (a 1xx) is out: it reuses x_->down_head.
            if (!x_->response_head_done) {
                if (!parse_response_head()) break;
                continue;
            }
        }
        if (x_->response_pipe && head_left == 0) {  // a head still pending goes first, below
            if (!drain_response_pipe()) return false;
            if (x_->response_done) continue;
            break;
        }
        // Frame body bytes even while the head is pending, so both go in one write.
        if (x_->response_head_done && !x_->response_done && x_->response_ahead == 0 &&
            !x_->up->in.empty()) {
            auto step = x_->up->parser.parse_body(x_->up->in.data(), x_->up->in.size());
            if (step.error) {
                abort(Termination::bad_response, "invalid response body from the backend: " +
                                                     std::string(x_->up->parser.error()));
                return false;
            }
            x_->response_ahead = step.ready;
            x_->response_done = step.complete;
            if (x_->response_done) uncount_active();
        }
        if (head_left == 0 && x_->response_ahead == 0) {
            if (x_->response_done) continue;  // leaves the loop above, or enters the tunnel
            break;
        }
        // The response's last bytes to a client that asked for the close go with MSG_MORE:
        // the close() that follows at once adds its FIN to them (one segment, and one
        // wake-up of the client, fewer per connection).
        int flags = x_->response_done && client_done() ? MSG_MORE : 0;
        ssize_t n = client_.write(x_->down_head.data() + x_->down_head_sent, head_left,
                                  x_->up->in.data(), x_->response_ahead, flags);
        if (n == 0) break;
        if (n < 0) {
            abort(Termination::client_abort,
                  "client write failed: " + net::error_text(static_cast<int>(-n)));
            return false;
        }
        auto written = static_cast<size_t>(n);
        size_t from_head = std::min(written, head_left);
        x_->down_head_sent += from_head;
        x_->up->in.consume(written - from_head);
        x_->response_ahead -= written - from_head;
        x_->bytes_down += written;
        x_->response_started = true;
        client_seen_ = now();
        if (written > from_head) body_went_to_client();
    }
    if (phase_ != Phase::exchange) return false;  // answered 502: the upstream is gone
    bool flushed = x_->down_head_sent == x_->down_head.size() && x_->response_ahead == 0;
    if (!x_->response_done && x_->up->in.empty() && (x_->up_eof || x_->up_error)) {
        upstream_closed(x_->up_error);  // may complete a response delimited by the close
        if (phase_ != Phase::exchange || !x_->response_done) return false;
    }
    if (x_->response_done && flushed) finish_request();
    return true;
}

bool HttpSession::parse_response_head() {
    std::string_view view = x_->up->in.view();
    size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (http::has_bare_lf(view))
            fail(502, Termination::bad_response, "invalid response from the backend: bare LF");
        else if (x_->up->in.full())
            fail(502, Termination::bad_response, "response head from the backend too large");
        return false;
    }
    std::string_view raw = view.substr(0, end + 4);
    if (x_->head_request) x_->up->parser.expect_no_body();
    if (!x_->up->parser.parse_head(raw.data(), raw.size()) || !x_->head.parse(raw) ||
        !x_->head.semantic_error().empty()) {
        std::string_view why = x_->up->parser.error();
        if (why.empty())
            why = x_->head.error().empty() ? x_->head.semantic_error() : x_->head.error();
        fail(502, Termination::bad_response,
             "invalid response from the backend: " + std::string(why));
        return false;
    }
    int status = x_->up->parser.status();
    bool interim = status >= 100 && status < 200 && status != 101;
    if (interim && x_->client_http10) {
        x_->up->in.consume(raw.size());  // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client
        return true;
    }
    if (!interim) {
        x_->status = status;
        x_->response_head_done = true;
        x_->at.response_head = now();
        // A backend may answer before the request head is out (it refuses it): from then.
        double asked = x_->at.request_sent ? x_->at.request_sent : x_->at.connected;
        x_->up->backend()->response_time.observe(x_->at.response_head - asked);
        if (status == 101 && !x_->upgrade_request) {
            fail(502, Termination::bad_response,
                 "backend switched protocols without an Upgrade request");
            return false;
        }
        x_->tunnel_pending = status == 101;
        if (x_->up->parser.body_until_close()) close_after_ = true;
        x_->response_done = !x_->tunnel_pending && x_->up->parser.message_complete();
        if (x_->response_done) uncount_active();
    }
    build_response_head(x_->head, status);
    x_->up->in.consume(raw.size());
    return true;
}

void HttpSession::build_response_head(const http::Head& head, int status) {
    x_->down_head.clear();
    x_->down_head_sent = 0;
    x_->down_head.append(head.start_line()).append("\r\n");
    bool switching = status == 101;
    bool interim = status < 200 && !switching;
    // These end with their head (RFC 9112 §6.3): a length or coding they announce anyway
    // would make a lenient client wait for a body that is the next response.
    bool drop_length = status < 200 || status == 204;
    bool drop_coding = drop_length || status == 304;
    for (const auto& h : head.headers()) {
        if (!switching &&
            (http::iequals(h.name, "connection") || http::iequals(h.name, "keep-alive") ||
             http::iequals(h.name, "proxy-connection") || head.named_by_connection(h.name)))
            continue;
        if ((drop_length && http::iequals(h.name, "content-length")) ||
            (drop_coding && http::iequals(h.name, "transfer-encoding")))
            continue;
        x_->down_head.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!interim && !switching) {
        if (close_after_)
            x_->down_head.append("Connection: close\r\n");
        else if (x_->client_http10)
            x_->down_head.append("Connection: keep-alive\r\n");
    }
    x_->down_head.append("\r\n");
}

void HttpSession::upstream_closed(int error) {
    if (x_->response_head_done && error == 0 && x_->up->parser.body_until_close()) {
        if (x_->up->parser.finish()) {
            x_->response_done = true;
            return;
        }
    }
    if (x_->status == 0 && !x_->response_started && x_->up->reused && x_->replayable &&
        !x_->replayed) {
        // The classic keep-alive race: the backend closed an idle connection just as we
        // reused it. Nothing was answered, and the request is safe to send again.
        x_->replayed = true;
        release_upstream(false);
        x_->up_head_sent = 0;
        x_->up = x_->connector->reconnect();
        if (x_->up)
            use_upstream();
        else
            start_upstream();
        return;
    }
    std::string why = error ? net::error_text(error) : "connection closed";
    if (x_->status == 0 && !x_->response_started)
        fail(502, "backend failed before answering: " + why);
    else
        abort(Termination::backend_reset, "backend failed mid-response: " + why);
}

void HttpSession::finish_request() {
    if (const auto* backend = x_->connector->backend())
        count_status(backend->state->responses, x_->status);
    else
        count_status(service_state_->responses_without_backend, x_->status);
    service_state_->duration.observe(now() - x_->started);
    log_request();
    if (!x_->request_done) close_after_ = true;  // the backend answered before the body ended
    release_upstream(upstream_reusable());
    // A client that asked for the close has sent its whole request and sends nothing more
    // (RFC 9112 §9.6): with no unread byte, close() sends a FIN, not a RST, so there is
    // nothing to linger for (that would cost a wake-up, an epoll_ctl and a read per
    // connection). TLS still lingers to exchange close_notify.
    bool closing = client_done();
    if (close_after_ || client_eof_ || client_error_) {
        ++requests_;
        end_exchange();
        if (closing)
            close();
        else
            linger();
        return;
    }
    await_next_request();
}

// The request is over and the connection stays: wait for the next head.
void HttpSession::await_next_request() {
    ++requests_;
    end_exchange();
    phase_ = Phase::head;
    phase_since_ = now();
    head_first_byte_ = in_.empty() ? 0 : phase_since_;
    if (in_.empty()) worker_.buffers().put(in_.detach());
}

// Whether the backend connection may carry another request, once this response is out.
bool HttpSession::upstream_reusable() {
    if (!x_->up || !x_->request_done || x_->up_eof || x_->up_error ||
        !x_->up->parser.keep_alive() || worker_.draining())
        return false;
    switch (x_->up->leftover()) {
        case Upstream::Leftover::none:
            return true;
        case Upstream::Leftover::closed:
            return false;
        case Upstream::Leftover::bytes:
            break;
    }
    // The backend sent more than the response it framed: a protocol error on its side,
    // never data for anyone. The client already has its whole answer.
    auto& backend = *x_->up->backend();
    backend.protocol_errors.add();
    spdlog::warn(
        "{}: backend {} sent bytes after a complete response to \"{}\" "
        "(more than it announced): closing that backend connection",
        service_name(), backend.name, x_->request_line);
    return false;
}

void HttpSession::relay_tunnel() {
    RelayEnd client{client_.fd(), &in_, client_eof_, false, client_error_, &client_};
    RelayEnd server{x_->up->fd(), &x_->up->in, x_->up_eof, false, x_->up_error};
    client.shut = x_->tunnel_client_shut;
    server.shut = x_->tunnel_server_shut;
    RelayProgress p = relay(client, server);
    x_->tunnel_client_shut = client.shut;
    x_->tunnel_server_shut = server.shut;
    if (p.a_to_b) x_->server_seen = now();
    if (p.b_to_a) {
        client_seen_ = now();
        x_->bytes_down += p.b_to_a;
    }
    client_error_ = client.error;
    x_->up_error = server.error;
    if (relay_done(client, server)) {
        x_->termination = client_error_  ? Termination::client_abort
                          : x_->up_error ? Termination::backend_reset
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
    exchange();  // a request head that never completed has none yet
    if (x_->response_started) {
        abort(cause, why);
        return;
    }
    close_after_ = true;
    answer(status, cause, std::move(why), error_answer(status));
}

// The operator's page for `status` (error_pages), else the built-in answer. A page is
// copied: a reload may free the configuration it belongs to while it is being sent.
std::string_view HttpSession::error_answer(int status) {
    if (const auto* svc = worker_.snapshot()->find(service_name())) {
        const auto& pages = svc->config->error_pages;
        if (auto page = pages.find(status); page != pages.end()) {
            x_->down_head.assign(page->second);
            return x_->down_head;
        }
    }
    return http::error_response(status);
}

// A redirect service answers every request itself, keep-alive honoured. A request body is
// never read: the connection closes after the answer (linger() discards what comes).
void HttpSession::answer_redirect(const config::Redirect& to, size_t head_len) {
    x_->client_http10 = x_->request.http_minor() == 0;
    bool has_body = !x_->request.message_complete();
    close_after_ = close_after_ || has_body || !x_->request.keep_alive() || worker_.draining();
    const http::Header* host = x_->head.find("host");
    // No Host (HTTP/1.0): the address the client reached, as the best name it knows us by.
    std::string reached;
    if (!host || host->value.empty()) reached = net::local_address(client_.fd()).to_string();
    std::string_view connection =
        close_after_ ? "close" : (x_->client_http10 ? "keep-alive" : std::string_view());
    x_->down_head.clear();
    http::append_redirect(x_->down_head, to.code, to.scheme, to.port,
                          reached.empty() ? host->value : std::string_view(reached),
                          x_->head.second(), connection);
    in_.consume(head_len);  // after the last use of the head's views into it
    answer(to.code, Termination::redirect, {}, x_->down_head);
}

// The proxy answers the request itself with `response`, sent whole by flush_error().
void HttpSession::answer(int status, Termination cause, std::string why,
                         std::string_view response) {
    x_->termination = cause;
    x_->status = status;
    x_->reason = std::move(why);
    if (x_->started == 0) x_->started = head_first_byte_ ? head_first_byte_ : now();
    release_upstream(false);
    const auto* backend = x_->connector->backend();
    if (backend && (status == 502 || status == 504))
        count_status(backend->state->responses, status);
    else
        count_status(service_state_->responses_without_backend, status);
    if (x_->connector->service()) service_state_->duration.observe(now() - x_->started);
    log_request();
    x_->error_out = response;
    x_->error_sent = 0;
    phase_ = Phase::error;
    phase_since_ = now();
}

void HttpSession::flush_error() {
    while (x_->error_sent < x_->error_out.size()) {
        ssize_t n = client_.write(x_->error_out.data() + x_->error_sent,
                                  x_->error_out.size() - x_->error_sent, nullptr, 0);
        if (n == 0) return;
        if (n < 0) {
            close();
            return;
        }
        x_->error_sent += static_cast<size_t>(n);
    }
    if (close_after_)
        linger();
    else
        await_next_request();  // a redirect on a kept-alive connection
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
    exchange().termination = cause;
    spdlog::debug("{}: {} {}: closing: {}", service_name(), client_ip_.to_string(),
                  x_->request_line, why);
    // A request cut short is logged once, with status 0 when no answer had started.
    if (x_->status == 0) x_->reason = why;
    if (x_->started != 0) log_request();
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
            if (x_->down_head_sent < x_->down_head.size() || x_->response_ahead ||
                holds_bytes(x_->response_pipe))
                client |= EV_WRITE;
            if (!x_->up_eof && has_room(x_->response_pipe, x_->up->parser, x_->up->in))
                server |= EV_READ;
            if (x_->up_head_sent < x_->up_head.size() || x_->request_ahead) server |= EV_WRITE;
            break;
        }
        case Phase::tunnel: {
            RelayEnd c{client_.fd(),           &in_,          client_eof_,
                       x_->tunnel_client_shut, client_error_, &client_};
            RelayEnd s{x_->up->fd(), &x_->up->in, x_->up_eof, x_->tunnel_server_shut, x_->up_error};
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
    if (x_ && x_->up) x_->up->watch(server);
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
            double d = waiting_on_server() ? at(x_->server_seen, timeouts_.server) : 0.;
            bool waiting_on_client = !x_->request_done ||
                                     x_->down_head_sent < x_->down_head.size() ||
                                     x_->response_ahead > 0 || holds_bytes(x_->response_pipe);
            if (waiting_on_client) d = earliest(d, at(client_seen_, timeouts_.client));
            return d;
        }
        case Phase::tunnel:
            return at(std::max(client_seen_, x_->server_seen),
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
    service_state_->count(x_->termination);
    const auto* backend = x_->connector->backend();
    if (backend && x_->termination == Termination::bad_response)
        backend->state->protocol_errors.add();
    if (!worker_.context().access_log.load(std::memory_order_relaxed)) return;
    AccessRecord r;
    r.client = peer();
    r.service = service_name();
    if (backend) r.backend = backend->state->name;
    r.request_line = x_->request_line;
    r.status = x_->status;
    r.bytes_up = x_->bytes_up;
    r.bytes_down = x_->bytes_down;
    r.timers = timers();
    r.retries = x_->connector->attempts() > 1 ? x_->connector->attempts() - 1 : 0;
    r.reused = x_->reused_upstream;
    r.cause = x_->termination;
    r.phase = exchange_phase();
    r.reason = x_->reason;
    worker_.access_log().append(r);
}

// HAProxy's Tq/Tw/Tc/Tr/Ta from the exchange's timeline.
Timers HttpSession::timers() const {
    const Timeline& at = x_->at;
    Timers t;
    t.total = now() - x_->started;
    if (!at.head_done) return t;
    t.request = at.head_done - x_->started;
    if (!x_->connector->backend()) return t;
    t.queue = 0;  // no request queue yet: a backend is picked at once
    if (!at.connected) return t;
    t.connect = x_->reused_upstream ? 0. : at.connected - at.connect_start;
    if (at.response_head)
        t.response = at.response_head - (at.request_sent ? at.request_sent : at.connected);
    return t;
}

// Where the exchange was when it ended, derived from how far it got.
runtime::Phase HttpSession::exchange_phase() const {
    if (!x_->at.head_done) return runtime::Phase::request;
    if (phase_ == Phase::tunnel) return runtime::Phase::tunnel;
    if (!x_->at.connected) return runtime::Phase::connect;
    if (!x_->at.response_head) return runtime::Phase::headers;
    return runtime::Phase::data;
}

}  // namespace clb::proxy
