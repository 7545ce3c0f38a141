// One request of an HttpSession: its start, the backend connection, the request on its
// way out, how it ends (completed, answered by the proxy, cut) and its access-log story.
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <charconv>

#include "contrail_lb/http/cookie.hpp"
#include "contrail_lb/http/responses.hpp"
#include "contrail_lb/net/socket.hpp"
#include "http_session.hpp"

namespace clb::proxy {

using runtime::Termination;

namespace {

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

}  // namespace

void HttpExchange::reset(PipePool& pipes) {
    static_cast<ExchangeState&>(*this) = {};
    request.reset();
    upstream.reset();
    response.reset(pipes);
    answer.clear();
    request_line.clear();
    reason.clear();
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
    x_->connector->release();
    release_upstream(false);
    x_->reset(worker_.pipes());
    worker_.exchanges().put(std::move(x_));
}

// ---- the request ---------------------------------------------------------------------

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
    const config::Service& service = *x_->connector->service()->config;
    timeouts_ = service.timeouts;
    if (service.sticky) follow_sticky_cookie(service.sticky->cookie);
    x_->client_http10 = x_->request.http_minor() == 0;
    close_after_ = close_after_ || !x_->request.keep_alive() || closes_for_drain();
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

// Cookie persistence: the backend the request's cookie names goes first, while it is UP
// and not drained (the Connector checks); an unknown value is ignored.
void HttpSession::follow_sticky_cookie(std::string_view name) {
    x_->sticky = true;
    for (const auto& h : x_->head.headers()) {
        if (!http::iequals(h.name, "cookie")) continue;
        std::string_view id = http::find_cookie(h.value, name);
        if (id.empty()) continue;
        for (const auto& b : x_->connector->service()->backends)
            if (b.state->cookie_id == id) x_->sticky_backend = b.state.get();
        break;
    }
    x_->connector->prefer(x_->sticky_backend);
}

// The Cookie field as the backend gets it: without the persistence cookie (HAProxy's
// `indirect`), dropped when nothing else is left.
void HttpSession::append_cookie_field(std::string& out, std::string_view value) {
    std::string_view name = x_->connector->service()->config->sticky->cookie;
    std::string rest;
    if (!http::remove_cookie(value, name, rest)) {
        out.append("Cookie: ").append(value).append("\r\n");
    } else if (!rest.empty()) {
        out.append("Cookie: ").append(rest).append("\r\n");
    }
}

// Into the upstream's head, whose capacity stays from request to request.
void HttpSession::build_request_head() {
    std::string& out = x_->upstream.head();
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
        if (x_->sticky && http::iequals(h.name, "cookie")) {
            append_cookie_field(out, h.value);
            continue;
        }
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

// ---- the backend connection ----------------------------------------------------------

void HttpSession::start_upstream() {
    // Requests already waiting for a slot go first: a newcomer joins the queue behind them
    // rather than take a slot that freed for them.
    if (!x_->at.queued && service_state_->queued.load(std::memory_order_relaxed) > 0)
        return wait_for_slot();
    auto conn = x_->connector->connect(true);
    if (conn) return use_upstream(std::move(conn));
    if (x_->connector->all_full()) return wait_for_slot();
    fail(503, x_->connector->cause(), x_->connector->why());
}

// Every backend the request may go to is at its max_connections: it waits in the
// service's queue for timeouts.queue (the worker offers it slots, oldest first).
void HttpSession::wait_for_slot() {
    phase_ = Phase::queued;
    phase_since_ = now();
    if (!x_->at.queued) x_->at.queued = phase_since_;
    worker_.wait_for_slot(*this, *service_state_);
}

bool HttpSession::retry_connect() {
    auto conn = x_->connector->connect(true);
    if (!conn && x_->connector->all_full()) return false;
    leave_queue();
    if (conn)
        use_upstream(std::move(conn));
    else
        fail(503, x_->connector->cause(), x_->connector->why());
    pump();
    return true;
}

void HttpSession::leave_queue() {
    worker_.stop_waiting(*this);
    if (!x_ || !x_->at.queued || x_->at.dequeued) return;
    x_->at.dequeued = now();
    service_state_->queue_wait.observe(x_->at.dequeued - x_->at.queued);
}

void HttpSession::use_upstream(std::unique_ptr<Upstream> conn) {
    phase_since_ = x_->at.connect_start = now();
    x_->reused_upstream = conn->reused;
    x_->upstream.attach(std::move(conn), *this, phase_since_);
    if (x_->upstream.conn().connected) {
        upstream_ready();
    } else {
        phase_ = Phase::connecting;
        x_->upstream.conn().watch(EV_WRITE);
    }
}

void HttpSession::upstream_ready() {
    x_->at.connected = now();
    x_->upstream.touch(x_->at.connected);
    Upstream& conn = x_->upstream.conn();
    if (!conn.reused) {
        conn.connected = true;
        conn.backend()->connections_total.add();
        conn.backend()->connect_time.observe(x_->at.connected - x_->at.connect_start);
        x_->connector->connected();
    }
    phase_ = Phase::exchange;
}

void HttpSession::connect_failed(int error, std::string_view detail) {
    std::string why(detail);  // lives in the connection released here
    release_upstream(false);
    x_->connector->failed(error, why);
    start_upstream();
}

void HttpSession::release_upstream(bool reusable) {
    if (x_) x_->upstream.release(worker_.upstreams(), reusable);
}

// Whether the backend connection may carry another request, once this response is out.
bool HttpSession::upstream_reusable() {
    switch (x_->upstream.reuse(x_->request_done, worker_.draining())) {
        case HttpUpstream::Reuse::yes:
            return true;
        case HttpUpstream::Reuse::no:
            return false;
        case HttpUpstream::Reuse::surplus:
            break;
    }
    // The backend sent more than the response it framed: a protocol error on its side,
    // never data for anyone. The client already has its whole answer.
    auto& backend = x_->upstream.backend();
    backend.protocol_errors.add();
    spdlog::warn(
        "{}: backend {} sent bytes after a complete response to \"{}\" "
        "(more than it announced): closing that backend connection",
        service_name(), backend.name, x_->request_line);
    return false;
}

// ---- the request body ----------------------------------------------------------------

// Frames the request body bytes that arrived: request_ahead of them may go to the backend.
// False after refusing the request (400), in which case the backend connection, which may
// hold the start of this body but never its end, is reset.
bool HttpSession::frame_request_body() {
    if (x_->request_ahead > 0 || x_->request_done || in_.empty()) return true;
    auto step = x_->request.parse_body(in_.data(), in_.size());
    if (step.error) {
        if (x_->upstream.attached()) net::reset_on_close(x_->upstream.fd());
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
        if (!x_->upstream.wants_write(x_->request_ahead)) break;
        auto sent = x_->upstream.send(in_, x_->request_ahead);
        if (sent.bytes) {
            x_->bytes_up += sent.bytes;
            x_->upstream.touch(now());
            if (sent.head_finished) x_->at.request_sent = x_->upstream.seen();
        }
        if (sent.bytes == 0 || x_->upstream.error()) break;
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

// ---- endings -------------------------------------------------------------------------

void HttpSession::finish_request() {
    if (const auto* backend = x_->connector->backend())
        runtime::count_status(backend->state->responses, x_->status);
    else
        runtime::count_status(service_state_->responses_without_backend, x_->status);
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
    // Upgrade: idle now, so the next process serves the next request.
    if (worker_.draining() && in_.empty()) drain();
}

// ---- the story -----------------------------------------------------------------------

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
    if (at.queued)
        t.queue = (at.dequeued ? at.dequeued : now()) - at.queued;
    else if (x_->connector->backend())
        t.queue = 0;
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
    if (x_->at.queued && !x_->at.dequeued) return runtime::Phase::queue;
    if (!x_->at.connected) return runtime::Phase::connect;
    if (!x_->at.response_head) return runtime::Phase::headers;
    return runtime::Phase::data;
}

}  // namespace clb::proxy
