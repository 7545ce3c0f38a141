// The response of an HttpSession's exchange on its way back: reading it from the backend,
// its heads (1xx, final, 101), its body through the buffer or a splice pipe, the close
// that may end it, and the byte relay after a 101 (http_session.hpp).
#include <sys/socket.h>

#include "contrail_lb/net/socket.hpp"
#include "http_session.hpp"
#include "relay.hpp"

namespace clb::proxy {

using runtime::Termination;

namespace {
// Bodies shorter than this are cheaper copied through the buffer than spliced.
constexpr uint64_t kSpliceMin = 16 * 1024;
}  // namespace

void HttpSession::read_upstream() {
    ReadResult r = x_->upstream.read(splice_response() ? x_->response.pipe.get() : nullptr);
    if (r.n > 0) x_->upstream.touch(now());
}

// The rest of a large Content-Length response body goes from socket to socket through a
// pipe, once everything buffered before it has gone to the client. Chunked bodies keep the
// buffer: their framing is checked byte by byte (docs/http-framing.md); TLS needs the
// bytes themselves. Request bodies keep it too: spliced from the client's socket they
// cost the proxy, the client and the backend more CPU, not less (docs/benchmarks.md). A
// TLS backend (backend_tls) keeps it as well: its bytes must pass through OpenSSL.
bool HttpSession::splice_response() {
    if (x_->response.pipe) return true;
    if (client_.secure() || x_->upstream.conn().secure() ||
        !worker_.context().splice.load(std::memory_order_relaxed) || !x_->response_head_done ||
        x_->response_done || !x_->upstream.in().empty() ||
        x_->upstream.parser().length_left() < kSpliceMin)
        return false;
    x_->response.pipe = worker_.pipes().get();
    return x_->response.pipe != nullptr;
}

// Body bytes held back for a slow client (a full buffer or pipe) are not the backend's
// silence: timeouts.server runs only while the proxy has room for more of the response,
// and counts from the moment the client made that room.
bool HttpSession::waiting_on_server() const {
    return !x_->response_done && x_->upstream.has_room(x_->response.pipe.get());
}

// Moves what it can of the response to the client. False when the exchange ended some
// other way (answered, aborted) or waits for the backend's close.
bool HttpSession::forward_response() {
    for (;;) {
        bool out = x_->response.head_left() == 0 && x_->response.ahead == 0;
        if (out && x_->tunnel_pending) {
            phase_ = Phase::tunnel;
            return true;
        }
        if (out && x_->response_done) break;
        // A new head only once the previous one (a 1xx) is out: it reuses the head buffer.
        if (out && !x_->response_head_done) {
            if (!parse_response_head()) break;
            continue;
        }
        if (x_->response.pipe && x_->response.head_left() == 0) {  // a pending head goes first
            if (!drain_response_pipe()) return false;
            if (x_->response_done) continue;
            break;
        }
        if (!frame_response_body()) return false;
        if (x_->response.head_left() == 0 && x_->response.ahead == 0) {
            if (x_->response_done) continue;  // leaves the loop above, or enters the tunnel
            break;
        }
        if (!write_response()) break;
    }
    if (phase_ != Phase::exchange) return false;  // answered 502: the upstream is gone
    if (!x_->response_done && x_->upstream.in().empty() &&
        (x_->upstream.eof() || x_->upstream.error())) {
        upstream_closed(x_->upstream.error());  // may complete a response delimited by the close
        if (phase_ != Phase::exchange || !x_->response_done) return false;
    }
    if (x_->response_done && !x_->response.pending()) finish_request();
    return true;
}

// Frames body bytes that arrived, even while the head is pending, so both go in one
// write. False after aborting on a framing error.
bool HttpSession::frame_response_body() {
    if (!x_->response_head_done || x_->response_done || x_->response.ahead > 0 ||
        x_->upstream.in().empty())
        return true;
    auto step =
        x_->upstream.parser().parse_body(x_->upstream.in().data(), x_->upstream.in().size());
    if (step.error) {
        abort(Termination::bad_response, "invalid response body from the backend: " +
                                             std::string(x_->upstream.parser().error()));
        return false;
    }
    x_->response.ahead = step.ready;
    x_->response_done = step.complete;
    if (x_->response_done) x_->upstream.uncount_active();
    return true;
}

// One write of the pending head and framed body. False when nothing more can go now: the
// socket is full, or the write failed and the exchange was aborted.
bool HttpSession::write_response() {
    // The response's last bytes to a client that asked for the close go with MSG_MORE:
    // the close() that follows at once adds its FIN to them (one segment, and one
    // wake-up of the client, fewer per connection).
    int flags = x_->response_done && client_done() ? MSG_MORE : 0;
    auto written = x_->response.write(client_, x_->upstream.in(), flags);
    if (written.error) {
        abort(Termination::client_abort, "client write failed: " + net::error_text(written.error));
        return false;
    }
    if (written.head + written.body == 0) return false;
    x_->bytes_down += written.head + written.body;
    x_->response_started = true;
    client_seen_ = now();
    if (written.body) x_->upstream.touch(client_seen_);  // room made: timeouts.server anew
    return true;
}

// False when the client failed: the session is aborted.
bool HttpSession::drain_response_pipe() {
    auto drained = x_->response.drain_pipe(client_);
    if (drained.body) {
        x_->bytes_down += drained.body;
        x_->response_started = true;
        client_seen_ = now();
        x_->upstream.touch(client_seen_);
    }
    if (drained.error) {
        abort(Termination::client_abort, "client write failed: " + net::error_text(drained.error));
        return false;
    }
    // The body is through once the parser has seen its last byte and the pipe is empty.
    if (x_->response.pipe->empty() && x_->upstream.parser().message_complete()) {
        worker_.pipes().put(std::move(x_->response.pipe));
        x_->response_done = true;
        x_->upstream.uncount_active();
    }
    return true;
}

bool HttpSession::parse_response_head() {
    IoBuffer& in = x_->upstream.in();
    http::MessageParser& parser = x_->upstream.parser();
    std::string_view view = in.view();
    size_t end = view.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (http::has_bare_lf(view))
            fail(502, Termination::bad_response, "invalid response from the backend: bare LF");
        else if (in.full())
            fail(502, Termination::bad_response, "response head from the backend too large");
        return false;
    }
    std::string_view raw = view.substr(0, end + 4);
    if (x_->head_request) parser.expect_no_body();
    if (!parser.parse_head(raw.data(), raw.size()) || !x_->head.parse(raw) ||
        !x_->head.semantic_error().empty()) {
        std::string_view why = parser.error();
        if (why.empty())
            why = x_->head.error().empty() ? x_->head.semantic_error() : x_->head.error();
        fail(502, Termination::bad_response,
             "invalid response from the backend: " + std::string(why));
        return false;
    }
    int status = parser.status();
    bool interim = status >= 100 && status < 200 && status != 101;
    if (interim && x_->client_http10) {
        in.consume(raw.size());  // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client
        return true;
    }
    if (!interim) {
        x_->status = status;
        x_->response_head_done = true;
        x_->at.response_head = now();
        // A backend may answer before the request head is out (it refuses it): from then.
        double asked = x_->at.request_sent ? x_->at.request_sent : x_->at.connected;
        x_->upstream.backend().response_time.observe(x_->at.response_head - asked);
        if (status == 101 && !x_->upgrade_request) {
            fail(502, Termination::bad_response,
                 "backend switched protocols without an Upgrade request");
            return false;
        }
        x_->tunnel_pending = status == 101;
        if (parser.body_until_close()) close_after_ = true;
        x_->response_done = !x_->tunnel_pending && parser.message_complete();
        if (x_->response_done) x_->upstream.uncount_active();
    }
    build_response_head(x_->head, status);
    in.consume(raw.size());
    return true;
}

void HttpSession::build_response_head(const http::Head& head, int status) {
    std::string& out = x_->response.start_head();
    out.append(head.start_line()).append("\r\n");
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
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!interim && !switching) {
        append_sticky_cookie(out);
        if (close_after_)
            out.append("Connection: close\r\n");
        else if (x_->client_http10)
            out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
}

// Cookie persistence: a client whose cookie did not name the backend that answered gets
// one that does, and the response is marked private so that no shared cache hands the
// cookie to another client (HAProxy's `insert nocache`).
void HttpSession::append_sticky_cookie(std::string& out) {
    const auto* backend = x_->connector->backend();
    if (!x_->sticky || !backend || backend->state.get() == x_->sticky_backend) return;
    out.append("Set-Cookie: ")
        .append(x_->connector->service()->config->sticky->cookie)
        .append("=")
        .append(backend->state->cookie_id)
        .append("; Path=/\r\nCache-Control: private\r\n");
}

void HttpSession::upstream_closed(int error) {
    http::MessageParser& parser = x_->upstream.parser();
    if (x_->response_head_done && error == 0 && parser.body_until_close() && parser.finish()) {
        x_->response_done = true;
        return;
    }
    if (x_->status == 0 && !x_->response_started && x_->upstream.conn().reused && x_->replayable &&
        !x_->replayed) {
        // The classic keep-alive race: the backend closed an idle connection just as we
        // reused it. Nothing was answered, and the request is safe to send again.
        x_->replayed = true;
        release_upstream(false);
        x_->upstream.resend();
        if (auto conn = x_->connector->reconnect())
            use_upstream(std::move(conn));
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

void HttpSession::relay_tunnel() {
    RelayEnd client{client_.fd(),           &in_,          client_eof_,
                    x_->tunnel_client_shut, client_error_, &client_};
    RelayEnd server{x_->upstream.fd(),      &x_->upstream.in(),   x_->upstream.eof(),
                    x_->tunnel_server_shut, x_->upstream.error(), &x_->upstream.conn().stream()};
    RelayProgress p = relay(client, server);
    x_->tunnel_client_shut = client.shut;
    x_->tunnel_server_shut = server.shut;
    if (p.a_to_b) x_->upstream.touch(now());
    if (p.b_to_a) {
        client_seen_ = now();
        x_->bytes_down += p.b_to_a;
    }
    client_error_ = client.error;
    x_->upstream.set_error(server.error);
    if (relay_done(client, server)) {
        x_->termination = client_error_          ? Termination::client_abort
                          : x_->upstream.error() ? Termination::backend_reset
                                                 : Termination::completed;
        log_request();
        close();
    }
}

}  // namespace clb::proxy
