// One client connection of clb-test-backend: HTTP/1.1 (llhttp) or raw TCP echo.
//
// Flow: bytes are read into a fixed input buffer, fed to llhttp, and the callbacks
// queue responses into `out_` (plus an optional zero-copy `tail_` slice of the body
// pattern). pump() repeats parse -> refill stream -> write until nothing moves, then
// settle() decides which watchers to arm or whether to close. Requests are answered
// strictly in order: a response that cannot be queued at once (/delay, /stall,
// /bytes) pauses the parser until it is done, which is also what makes pipelining work.
// Back-pressure: reading stops while more than kOutputHighWater bytes wait to be sent.
// This file holds the I/O side; connection_http.hpp the parsing and the responses.
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
    enum class HeaderOfInterest { Other, Expect, Upgrade, RequestId };

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
    int answer();  // queues the endpoint's answer
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
    std::string request_id_;  // X-Request-Id, echoed in the answer (the soak's check)
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
    bool delaying_ = false;  // counted in shared_.delays_now
    void delay_ended() {
        if (delaying_) shared_.delays_now.fetch_sub(1, std::memory_order_relaxed);
        delaying_ = false;
    }
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

// ---- lifetime -------------------------------------------------------------------------
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
    delay_ended();
    shared_.connections_open.fetch_sub(1, std::memory_order_relaxed);
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
        self->delay_ended();
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

}  // namespace clb_test
