// One client connection of clb-test-backend: HTTP/1.1 (llhttp) or raw TCP echo.
//
// Flow: bytes are read into a fixed input buffer, fed to llhttp, and the callbacks
// queue responses into `out_` (plus an optional zero-copy `tail_` slice of the body
// pattern). pump() repeats parse -> refill stream -> write until nothing moves, then
// settle() decides which watchers to arm or whether to close. Requests are answered
// strictly in order: a response that cannot be queued at once (/delay, /stall,
// /bytes) pauses the parser until it is done, which is also what makes pipelining work.
// Back-pressure: reading stops while more than kOutputHighWater bytes wait to be sent.
#pragma once

#include <ev.h>
#include <llhttp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "route.hpp"
#include "shared.hpp"
#include "socket.hpp"

namespace clb_test {

class ConnectionSet;

class Connection {
  public:
    enum class Mode { Http, TcpEcho };

    Connection(struct ev_loop* loop, SharedState& shared, ConnectionSet& owner, Fd fd, uint64_t id,
               Mode mode);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Runs the first round; the connection may already be gone when this returns.
    void start() {
        pump();
        release_if_dead();
    }

  private:
    static constexpr size_t kInputCapacity = 64 * 1024;
    static constexpr size_t kOutputHighWater = 256 * 1024;
    static constexpr size_t kNone = SIZE_MAX;
    static constexpr ev_tstamp kLingerSeconds = 2.0;

    // A response whose bytes are not all queued yet; the parser waits for it.
    enum class Pending { None, Delay, Stall, Stream };
    enum class Framing { Length, Chunked, UntilClose, NoBody };
    enum class HeaderOfInterest { Other, Expect, Upgrade };

    static const llhttp_settings_t& parser_settings();
    static Connection& of(llhttp_t* parser) { return *static_cast<Connection*>(parser->data); }

    // libev entry points; each releases the connection last if it died.
    static void on_readable(struct ev_loop*, ev_io* watcher, int);
    static void on_writable(struct ev_loop*, ev_io* watcher, int);
    static void on_timer(struct ev_loop*, ev_timer* watcher, int);
    void release_if_dead();

    void read_input();
    void pump();
    bool parse_input();
    bool echo_input();
    bool flush_output();
    void settle();
    void compact_input();
    void start_lingering_close();
    void die() { dead_ = true; }

    // llhttp callbacks.
    int on_message_begin();
    int on_method(const char* at);
    int on_header_field_complete();
    int on_header_value_complete();
    int on_headers_complete();
    int on_body(const char* at, size_t length);
    int on_message_complete();
    void after_pause();
    void reject_malformed();

    // Responses.
    void queue_head(unsigned status, Framing framing, uint64_t content_length,
                    std::string_view content_type = {});
    int respond(unsigned status, std::string_view body, std::string_view content_type = {});
    int respond_status();
    int finish_response();
    void start_echo();
    int start_stream(bool chunked);
    void refill_stream();
    void append_number(uint64_t value, int base = 10);
    void append_echo(const char* data, size_t length);

    size_t output_backlog() const { return out_.size() - out_sent_ + tail_length_; }
    bool can_parse() const { return !tunnel_ && !close_after_flush_ && pending_ == Pending::None; }
    bool wants_input() const;

    struct ev_loop* loop_;
    SharedState& shared_;
    ConnectionSet& owner_;
    Fd fd_;
    const uint64_t id_;
    ev_io read_watcher_;
    ev_io write_watcher_;
    ev_timer timer_;  // /delay, then the lingering close
    llhttp_t parser_;

    std::unique_ptr<char[]> in_ = std::make_unique<char[]>(kInputCapacity);
    size_t in_filled_ = 0;
    size_t in_parsed_ = 0;

    std::string out_;
    size_t out_sent_ = 0;
    const char* tail_ = nullptr;  // a slice of the body pattern, sent after out_
    size_t tail_length_ = 0;

    // The request being parsed.
    size_t head_start_ = kNone;  // offset of its first byte in in_ while its head is parsed
    std::string url_;
    std::string header_name_;
    std::string header_value_;
    HeaderOfInterest header_kind_ = HeaderOfInterest::Other;
    Route route_;
    bool expect_continue_ = false;
    std::string upgrade_protocol_;
    bool capture_head_ = false;
    std::string head_copy_;
    uint64_t body_bytes_ = 0;
    uint32_t body_sum_ = 0;
    bool echo_chunked_ = false;

    // The response being sent.
    uint64_t requests_ = 0;  // on this connection
    bool http10_ = false;
    bool head_method_ = false;
    bool keep_alive_ = true;
    bool response_started_ = false;
    Pending pending_ = Pending::None;
    uint64_t stream_left_ = 0;
    uint64_t stream_offset_ = 0;
    bool stream_chunked_ = false;

    bool tunnel_ = false;  // raw echo: --tcp-echo, or after an Upgrade
    bool peer_eof_ = false;
    bool close_after_flush_ = false;
    bool lingering_ = false;
    bool dead_ = false;
};

// Owns the connections of one worker; a connection releases itself when it dies.
class ConnectionSet {
  public:
    Connection& add(std::unique_ptr<Connection> connection) {
        auto* raw = connection.get();
        connections_.emplace(raw, std::move(connection));
        return *raw;
    }
    void release(Connection* connection) { connections_.erase(connection); }
    void clear() { connections_.clear(); }

  private:
    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

// ---------------------------------------------------------------------------------------

inline bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

inline Connection::Connection(struct ev_loop* loop, SharedState& shared, ConnectionSet& owner,
                              Fd fd, uint64_t id, Mode mode)
    : loop_(loop), shared_(shared), owner_(owner), fd_(std::move(fd)), id_(id) {
    ev_io_init(&read_watcher_, on_readable, fd_.get(), EV_READ);
    ev_io_init(&write_watcher_, on_writable, fd_.get(), EV_WRITE);
    ev_init(&timer_, on_timer);
    read_watcher_.data = write_watcher_.data = timer_.data = this;
    llhttp_init(&parser_, HTTP_REQUEST, &parser_settings());
    parser_.data = this;
    out_.reserve(4096);
    tunnel_ = mode == Mode::TcpEcho;
    shared_.connections_open.fetch_add(1, std::memory_order_relaxed);
}

inline Connection::~Connection() {
    ev_io_stop(loop_, &read_watcher_);
    ev_io_stop(loop_, &write_watcher_);
    ev_timer_stop(loop_, &timer_);
    shared_.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

inline const llhttp_settings_t& Connection::parser_settings() {
    static const llhttp_settings_t settings = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_message_begin = [](llhttp_t* p) { return of(p).on_message_begin(); };
        s.on_method = [](llhttp_t* p, const char* at, size_t) { return of(p).on_method(at); };
        s.on_url = [](llhttp_t* p, const char* at, size_t length) {
            of(p).url_.append(at, length);
            return 0;
        };
        s.on_header_field = [](llhttp_t* p, const char* at, size_t length) {
            of(p).header_name_.append(at, length);
            return 0;
        };
        s.on_header_field_complete = [](llhttp_t* p) { return of(p).on_header_field_complete(); };
        s.on_header_value = [](llhttp_t* p, const char* at, size_t length) {
            auto& self = of(p);
            if (self.header_kind_ != HeaderOfInterest::Other) self.header_value_.append(at, length);
            return 0;
        };
        s.on_header_value_complete = [](llhttp_t* p) { return of(p).on_header_value_complete(); };
        s.on_headers_complete = [](llhttp_t* p) { return of(p).on_headers_complete(); };
        s.on_body = [](llhttp_t* p, const char* at, size_t length) {
            return of(p).on_body(at, length);
        };
        s.on_message_complete = [](llhttp_t* p) { return of(p).on_message_complete(); };
        return s;
    }();
    return settings;
}

// ---- events ---------------------------------------------------------------------------

inline void Connection::on_readable(struct ev_loop*, ev_io* watcher, int) {
    auto* self = static_cast<Connection*>(watcher->data);
    self->read_input();
    self->release_if_dead();
}

inline void Connection::on_writable(struct ev_loop*, ev_io* watcher, int) {
    auto* self = static_cast<Connection*>(watcher->data);
    self->pump();
    self->release_if_dead();
}

inline void Connection::on_timer(struct ev_loop*, ev_timer* watcher, int) {
    auto* self = static_cast<Connection*>(watcher->data);
    if (self->lingering_) {
        self->die();  // the client never closed its side
    } else if (self->pending_ == Pending::Delay) {
        self->respond(200, self->shared_.hello);
        self->pump();
    }
    self->release_if_dead();
}

inline void Connection::release_if_dead() {
    if (dead_) owner_.release(this);  // destroys *this
}

inline void Connection::read_input() {
    if (lingering_) {  // discard until the client closes, so our close cannot reset it
        const ssize_t n = ::read(fd_.get(), in_.get(), kInputCapacity);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) die();
        return;
    }
    if (in_filled_ == kInputCapacity) {  // full: let the parser make room first
        pump();
        return;
    }
    const ssize_t n = ::read(fd_.get(), in_.get() + in_filled_, kInputCapacity - in_filled_);
    if (n > 0) {
        in_filled_ += static_cast<size_t>(n);
    } else if (n == 0) {
        peer_eof_ = true;
    } else if (errno == EAGAIN || errno == EINTR) {
        return;
    } else {
        die();
        return;
    }
    pump();
}

inline void Connection::pump() {
    // Bounded so one fast client streaming a large body cannot monopolise the thread;
    // the write watcher brings us back.
    for (int round = 0; round < 8 && !dead_; ++round) {
        bool progress = tunnel_ ? echo_input() : parse_input();
        if (pending_ == Pending::Stream && tail_length_ == 0) {
            refill_stream();
            progress = true;
        }
        if (!flush_output()) return;
        if (output_backlog() > 0 || !progress) break;
    }
    if (!dead_) settle();
}

inline bool Connection::parse_input() {
    bool progress = false;
    // After a pause the parser may have work left that needs no more input (a
    // paused on_headers_complete still owes on_message_complete), hence `resumed`.
    bool resumed = false;
    while (can_parse() && (in_parsed_ < in_filled_ || resumed)) {
        resumed = false;
        const auto error =
            llhttp_execute(&parser_, in_.get() + in_parsed_, in_filled_ - in_parsed_);
        progress = true;
        if (error == HPE_OK) {
            in_parsed_ = in_filled_;
            break;
        }
        in_parsed_ = static_cast<size_t>(llhttp_get_error_pos(&parser_) - in_.get());
        if (error == HPE_PAUSED) {
            llhttp_resume(&parser_);
            after_pause();
            resumed = true;
        } else if (error == HPE_PAUSED_UPGRADE) {
            llhttp_resume_after_upgrade(&parser_);
            tunnel_ = true;
        } else {
            reject_malformed();
        }
    }
    compact_input();
    if (in_filled_ == kInputCapacity && head_start_ == 0 && can_parse()) {
        head_start_ = kNone;  // the whole buffer is one request head
        keep_alive_ = false;
        respond(431, "request head too large\n");
        progress = true;
    }
    return progress;
}

// Drops input the parser is done with, keeping the head of the current request
// while /headers may still need to echo it.
inline void Connection::compact_input() {
    const size_t keep_from = head_start_ != kNone ? head_start_ : in_parsed_;
    if (keep_from == 0) return;
    std::memmove(in_.get(), in_.get() + keep_from, in_filled_ - keep_from);
    in_filled_ -= keep_from;
    in_parsed_ -= keep_from;
    if (head_start_ != kNone) head_start_ -= keep_from;
}

inline bool Connection::echo_input() {
    if (in_parsed_ == in_filled_) return false;
    out_.append(in_.get() + in_parsed_, in_filled_ - in_parsed_);
    in_parsed_ = in_filled_ = 0;
    return true;
}

inline bool Connection::flush_output() {
    while (output_backlog() > 0) {
        iovec parts[2];
        int count = 0;
        if (out_sent_ < out_.size())
            parts[count++] = {out_.data() + out_sent_, out_.size() - out_sent_};
        if (tail_length_ > 0) parts[count++] = {const_cast<char*>(tail_), tail_length_};
        const ssize_t written = ::writev(fd_.get(), parts, count);
        if (written < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            die();  // the client went away; nothing to tell anyone
            return false;
        }
        auto remaining = static_cast<size_t>(written);
        const size_t from_out = std::min(remaining, out_.size() - out_sent_);
        out_sent_ += from_out;
        remaining -= from_out;
        tail_ += remaining;
        tail_length_ -= remaining;
    }
    if (out_sent_ == out_.size()) {
        out_.clear();  // keeps the capacity: no allocation per response
        out_sent_ = 0;
    } else if (out_sent_ > kOutputHighWater) {
        out_.erase(0, out_sent_);
        out_sent_ = 0;
    }
    return true;
}

inline bool Connection::wants_input() const {
    if (peer_eof_) return false;
    if (lingering_) return true;
    if (output_backlog() >= kOutputHighWater) return false;
    return in_filled_ < kInputCapacity;
}

inline void Connection::settle() {
    const bool output_done = output_backlog() == 0 && pending_ != Pending::Stream;
    if (output_done && close_after_flush_) {
        start_lingering_close();
        return;
    }
    if (peer_eof_) {
        if (tunnel_ && output_done && in_filled_ == in_parsed_) {
            ::shutdown(fd_.get(), SHUT_WR);  // half-close: we echoed everything
            die();
            return;
        }
        if (!tunnel_ &&
            (pending_ == Pending::Stall || (output_done && pending_ == Pending::None))) {
            die();
            return;
        }
    }
    const bool want_write = output_backlog() > 0 || pending_ == Pending::Stream;
    if (want_write != static_cast<bool>(ev_is_active(&write_watcher_)))
        want_write ? ev_io_start(loop_, &write_watcher_) : ev_io_stop(loop_, &write_watcher_);
    const bool want_read = wants_input();
    if (want_read != static_cast<bool>(ev_is_active(&read_watcher_)))
        want_read ? ev_io_start(loop_, &read_watcher_) : ev_io_stop(loop_, &read_watcher_);
}

inline void Connection::start_lingering_close() {
    if (peer_eof_) {
        die();
        return;
    }
    ::shutdown(fd_.get(), SHUT_WR);
    lingering_ = true;
    ev_io_stop(loop_, &write_watcher_);
    ev_io_start(loop_, &read_watcher_);
    ev_timer_stop(loop_, &timer_);
    ev_timer_set(&timer_, kLingerSeconds, 0.);
    ev_timer_start(loop_, &timer_);
}

// ---- parsing --------------------------------------------------------------------------

inline int Connection::on_message_begin() {
    head_start_ = kNone;
    url_.clear();
    header_name_.clear();
    header_value_.clear();
    header_kind_ = HeaderOfInterest::Other;
    route_ = {};
    expect_continue_ = false;
    upgrade_protocol_.clear();
    capture_head_ = false;
    body_bytes_ = 0;
    body_sum_ = 0;
    echo_chunked_ = false;
    response_started_ = false;
    return 0;
}

inline int Connection::on_method(const char* at) {
    if (head_start_ == kNone) head_start_ = static_cast<size_t>(at - in_.get());
    return 0;
}

inline int Connection::on_header_field_complete() {
    if (iequals(header_name_, "expect"))
        header_kind_ = HeaderOfInterest::Expect;
    else if (iequals(header_name_, "upgrade"))
        header_kind_ = HeaderOfInterest::Upgrade;
    else
        header_kind_ = HeaderOfInterest::Other;
    header_name_.clear();
    header_value_.clear();
    return 0;
}

inline int Connection::on_header_value_complete() {
    if (header_kind_ == HeaderOfInterest::Expect && iequals(header_value_, "100-continue"))
        expect_continue_ = true;
    else if (header_kind_ == HeaderOfInterest::Upgrade)
        upgrade_protocol_ = header_value_;
    header_kind_ = HeaderOfInterest::Other;
    return 0;
}

inline int Connection::on_headers_complete() {
    route_ = parse_route(url_);
    ++requests_;
    shared_.requests.fetch_add(1, std::memory_order_relaxed);
    http10_ = parser_.http_major == 1 && parser_.http_minor == 0;
    head_method_ = parser_.method == HTTP_HEAD;
    keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;

    if (parser_.upgrade) {  // Upgrade (or CONNECT): answer, then echo raw bytes
        head_start_ = kNone;
        if (upgrade_protocol_.empty()) {
            queue_head(200, Framing::NoBody, 0);
        } else {
            queue_head(101, Framing::NoBody, 0);
            out_.resize(out_.size() - 2);  // reopen the head for two more fields
            out_.append("Connection: Upgrade\r\nUpgrade: ").append(upgrade_protocol_);
            out_.append("\r\n\r\n");
        }
        return 0;
    }
    if (expect_continue_ && route_.endpoint == Endpoint::RejectExpect) {
        head_start_ = kNone;
        keep_alive_ = false;  // the body may or may not follow: we cannot stay in sync
        respond(417, "expectation refused\n");
        return HPE_PAUSED;
    }
    if (expect_continue_ && !http10_) out_.append("HTTP/1.1 100 Continue\r\n\r\n");
    if (route_.endpoint == Endpoint::Headers) {
        capture_head_ = true;  // after_pause() copies it: only then is its end known
        return HPE_PAUSED;
    }
    head_start_ = kNone;
    if (route_.endpoint == Endpoint::Echo) start_echo();
    return 0;
}

inline void Connection::after_pause() {
    if (!capture_head_) return;
    capture_head_ = false;
    head_copy_.assign(in_.get() + head_start_, in_parsed_ - head_start_);
    head_start_ = kNone;
}

inline int Connection::on_body(const char* at, size_t length) {
    if (route_.endpoint == Endpoint::Sink) {
        body_bytes_ += length;
        for (size_t i = 0; i < length; ++i)
            body_sum_ += static_cast<unsigned char>(at[i]);
    } else if (route_.endpoint == Endpoint::Echo) {
        append_echo(at, length);
    }
    return 0;
}

inline int Connection::on_message_complete() {
    if (parser_.upgrade) return 0;  // llhttp now returns HPE_PAUSED_UPGRADE
    switch (route_.endpoint) {
        case Endpoint::Health:
            if (shared_.health_failing.load(std::memory_order_relaxed))
                return respond(500, "failing\n");
            return respond(200, "ok");
        case Endpoint::AdminFail:
            shared_.health_failing.store(true);
            return respond(200, "health now failing\n");
        case Endpoint::AdminRecover:
            shared_.health_failing.store(false);
            return respond(200, "health now ok\n");
        case Endpoint::Status:
            return respond_status();
        case Endpoint::Delay:
            pending_ = Pending::Delay;
            ev_timer_set(&timer_, static_cast<ev_tstamp>(route_.argument) / 1000.0, 0.);
            ev_timer_start(loop_, &timer_);
            return HPE_PAUSED;
        case Endpoint::Stall:
            pending_ = Pending::Stall;
            return HPE_PAUSED;
        case Endpoint::Bytes:
            return start_stream(false);
        case Endpoint::Chunked:
            return start_stream(true);
        case Endpoint::Sink: {
            std::string& body = header_value_;  // reused scratch space
            body.assign("{\"bytes\": ").append(std::to_string(body_bytes_));
            body.append(", \"sum\": ").append(std::to_string(body_sum_)).append("}\n");
            return respond(200, body, "application/json");
        }
        case Endpoint::Echo:
            if (echo_chunked_) out_.append("0\r\n\r\n");
            return finish_response();
        case Endpoint::Headers:
            return respond(200, head_copy_, "text/plain");
        case Endpoint::Stats: {
            std::string& body = header_value_;
            body.assign("{\"connections\": ")
                .append(std::to_string(shared_.connections_accepted.load()))
                .append(", \"active_connections\": ")
                .append(std::to_string(shared_.connections_open.load()))
                .append(", \"requests\": ")
                .append(std::to_string(shared_.requests.load()))
                .append("}\n");
            return respond(200, body, "application/json");
        }
        case Endpoint::Close:
            keep_alive_ = false;
            return respond(200, shared_.hello);
        case Endpoint::Hello:
        case Endpoint::RejectExpect:
            break;
    }
    return respond(200, shared_.hello);
}

inline void Connection::reject_malformed() {
    keep_alive_ = false;
    if (!response_started_) {
        http10_ = false;
        respond(400, "bad request\n");
    }
    close_after_flush_ = true;
}

// ---- responses ------------------------------------------------------------------------

inline void Connection::append_number(uint64_t value, int base) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof digits, value, base);
    out_.append(digits, result.ptr);
}

inline void Connection::queue_head(unsigned status, Framing framing, uint64_t content_length,
                                   std::string_view content_type) {
    response_started_ = true;
    out_.append(http10_ ? "HTTP/1.0 " : "HTTP/1.1 ");
    append_number(status);
    out_.append(" ").append(reason_phrase(status));
    out_.append("\r\nX-Backend: ").append(shared_.name);
    out_.append("\r\nX-Conn-Id: ");
    append_number(id_);
    out_.append("\r\nX-Conn-Requests: ");
    append_number(requests_);
    out_.append("\r\n");
    if (!content_type.empty()) out_.append("Content-Type: ").append(content_type).append("\r\n");
    switch (framing) {
        case Framing::Length:
            out_.append("Content-Length: ");
            append_number(content_length);
            out_.append("\r\n");
            break;
        case Framing::Chunked:
            out_.append("Transfer-Encoding: chunked\r\n");
            break;
        case Framing::UntilClose:
            keep_alive_ = false;
            break;
        case Framing::NoBody:
            break;
    }
    if (status != 101) {
        if (!keep_alive_)
            out_.append("Connection: close\r\n");
        else if (http10_)
            out_.append("Connection: keep-alive\r\n");
    }
    out_.append("\r\n");
}

inline int Connection::respond(unsigned status, std::string_view body,
                               std::string_view content_type) {
    const bool bodiless_status = status == 204 || status == 304;
    queue_head(status, bodiless_status ? Framing::NoBody : Framing::Length, body.size(),
               content_type);
    if (!head_method_ && !bodiless_status) out_.append(body);
    return finish_response();
}

inline int Connection::respond_status() {
    const uint64_t status = route_.argument;
    if (status < 200 || status > 999) return respond(400, "status must be 200..999\n");
    std::string& body = header_value_;
    body.assign("status ").append(std::to_string(status)).append("\n");
    return respond(static_cast<unsigned>(status), body);
}

// The response is fully queued: let the parser go on, unless the connection ends here.
inline int Connection::finish_response() {
    pending_ = Pending::None;
    if (!keep_alive_) close_after_flush_ = true;
    return close_after_flush_ ? HPE_PAUSED : 0;
}

// /echo answers as soon as the head is parsed, with the request's own framing.
inline void Connection::start_echo() {
    if (parser_.flags & F_CHUNKED) {
        echo_chunked_ = !http10_;
        queue_head(200, echo_chunked_ ? Framing::Chunked : Framing::UntilClose, 0);
    } else if (parser_.flags & F_CONTENT_LENGTH) {
        queue_head(200, Framing::Length, parser_.content_length);
    } else {
        queue_head(200, Framing::Length, 0);
    }
}

inline void Connection::append_echo(const char* data, size_t length) {
    if (echo_chunked_) {
        append_number(length, 16);
        out_.append("\r\n").append(data, length).append("\r\n");
    } else {
        out_.append(data, length);
    }
}

inline int Connection::start_stream(bool chunked) {
    const uint64_t size = route_.argument;
    stream_chunked_ = chunked && !http10_;
    if (!chunked)
        queue_head(200, Framing::Length, size);
    else
        queue_head(200, stream_chunked_ ? Framing::Chunked : Framing::UntilClose, 0);
    if (head_method_) return finish_response();
    stream_left_ = size;
    stream_offset_ = 0;
    pending_ = Pending::Stream;
    return HPE_PAUSED;
}

// Queues the next slice of a /bytes or /chunked body once the previous one is sent.
inline void Connection::refill_stream() {
    if (stream_left_ == 0) {
        if (stream_chunked_) out_.append(stream_offset_ > 0 ? "\r\n0\r\n\r\n" : "0\r\n\r\n");
        finish_response();
        return;
    }
    const size_t slice = static_cast<size_t>(std::min<uint64_t>(stream_left_, kBodySliceMax));
    if (stream_chunked_) {
        if (stream_offset_ > 0) out_.append("\r\n");
        append_number(slice, 16);
        out_.append("\r\n");
    }
    tail_ = body_pattern_at(stream_offset_);
    tail_length_ = slice;
    stream_left_ -= slice;
    stream_offset_ += slice;
}

}  // namespace clb_test
