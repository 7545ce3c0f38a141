// The HTTP side of a clb-test-backend connection: llhttp callbacks that decode
// requests, and the code that queues the responses of every endpoint (route.hpp).
#pragma once

#include <llhttp.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "route.hpp"

namespace clb_test {

inline bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return (x | 0x20) == (y | 0x20); });
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
    request_id_.clear();
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
    else if (iequals(header_name_, "x-request-id"))
        header_kind_ = HeaderOfInterest::RequestId;
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
    else if (header_kind_ == HeaderOfInterest::RequestId)
        request_id_ = header_value_;
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
    const auto misbehaviour = shared_.misbehaviour.load(std::memory_order_relaxed);
    const bool control =
        route_.endpoint == Endpoint::Health || route_.endpoint == Endpoint::AdminFail ||
        route_.endpoint == Endpoint::AdminRecover || route_.endpoint == Endpoint::AdminGarbage ||
        route_.endpoint == Endpoint::AdminSurplus;
    if (misbehaviour == Misbehaviour::Garbage && !control) {
        keep_alive_ = false;
        response_started_ = true;
        out_.append("\x01garbage, not HTTP\r\n\r\n");
        return finish_response();
    }
    const int result = answer();
    if (misbehaviour == Misbehaviour::Surplus && !control && pending_ == Pending::None)
        out_.append("SURPLUS: bytes beyond the announced length\r\n\r\n");
    return result;
}

inline int Connection::answer() {
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
            shared_.misbehaviour.store(Misbehaviour::None);
            return respond(200, "health now ok\n");
        case Endpoint::AdminGarbage:
            shared_.misbehaviour.store(Misbehaviour::Garbage);
            return respond(200, "answers now garbage\n");
        case Endpoint::AdminSurplus:
            shared_.misbehaviour.store(Misbehaviour::Surplus);
            return respond(200, "answers now carry surplus bytes\n");
        case Endpoint::Status:
            return respond_status();
        case Endpoint::Delay:
            pending_ = Pending::Delay;
            delaying_ = true;
            shared_.delay_started();
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
                .append(", \"delays_now\": ")
                .append(std::to_string(shared_.delays_now.load()))
                .append(", \"delays_max\": ")
                .append(std::to_string(shared_.delays_max.load()))
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
    if (!request_id_.empty()) out_.append("X-Request-Id: ").append(request_id_).append("\r\n");
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
