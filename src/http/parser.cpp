#include "contrail_lb/http/parser.hpp"

#include "contrail_lb/http/head.hpp"

namespace clb::http {

namespace {

// RFC 9112 §6.3: 1xx, 204 and 304 responses end with their head, whatever they announce.
bool bodiless_status(int status) {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// What the strict llhttp leaves to us: the end of a chunked body, held back until the
// message completed, is [CRLF after the last data] last-chunk trailer-section, exactly.
std::string_view chunked_tail_error(std::string_view tail) {
    if (tail.starts_with("\r\n")) tail.remove_prefix(2);
    size_t eol = tail.find("\r\n");  // llhttp checked the last-chunk line itself
    if (eol == std::string_view::npos) return "last chunk not ended by CRLF";
    return trailer_section_error(tail.substr(eol + 2));
}

std::string_view llhttp_reason(const llhttp_t& parser, std::string_view otherwise) {
    const char* reason = llhttp_get_error_reason(&parser);
    return reason ? std::string_view(reason) : otherwise;
}

}  // namespace

MessageParser::MessageParser(Kind kind) : kind_(kind) {
    llhttp_settings_init(&settings_);
    settings_.on_headers_complete = &MessageParser::on_headers_complete;
    settings_.on_message_complete = &MessageParser::on_message_complete;
    settings_.on_body = &MessageParser::on_body;
    settings_.on_chunk_header = &MessageParser::on_chunk_header;
    llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    parser_.data = this;
}

void MessageParser::reset() {
    skip_body_ = false;
    start_message();
}

int MessageParser::on_headers_complete(llhttp_t* p) {
    auto* self = static_cast<MessageParser*>(p->data);
    self->headers_done_ = true;
    bool bodiless =
        self->skip_body_ || (self->kind_ == Kind::response && bodiless_status(p->status_code));
    self->chunked_ = !bodiless && (p->flags & F_CHUNKED) != 0;
    self->has_length_ = (p->flags & F_CONTENT_LENGTH) != 0;
    return bodiless ? 1 : 0;  // 1: llhttp treats the message as bodiless
}

int MessageParser::on_message_complete(llhttp_t* p) {
    static_cast<MessageParser*>(p->data)->complete_ = true;
    return HPE_PAUSED;  // stop exactly at the message boundary: what follows is the next one
}

int MessageParser::on_body(llhttp_t* p, const char* at, size_t len) {
    auto* self = static_cast<MessageParser*>(p->data);
    self->body_end_ = static_cast<size_t>(at + len - self->body_base_);
    return 0;
}

int MessageParser::on_chunk_header(llhttp_t* p) {
    if (p->content_length <= kMaxChunkSize) return 0;
    static_cast<MessageParser*>(p->data)->error_ = "chunk size too large";
    return -1;
}

// Each message starts from a fresh parser state: whatever the previous one left (an
// Upgrade request the backend declined, a 1xx before the final response) is over.
void MessageParser::start_message() {
    llhttp_reset(&parser_);
    complete_ = headers_done_ = chunked_ = has_length_ = false;
    held_ = 0;
    error_ = {};
}

bool MessageParser::fail(std::string_view why) {
    if (error_.empty()) error_ = why;
    return false;
}

bool MessageParser::parse_head(const char* data, size_t len) {
    start_message();
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    skip_body_ = false;
    if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE)
        return fail(llhttp_reason(parser_, "bad head"));
    return headers_done_ || fail("incomplete head");
}

MessageParser::BodyStep MessageParser::parse_body(const char* data, size_t len) {
    BodyStep step;
    if (complete_) {
        step.complete = true;
        return step;
    }
    if (llhttp_get_errno(&parser_) != HPE_OK || len < held_) {
        fail("body after a framing error");
        step.error = true;
        return step;
    }
    body_base_ = data;
    body_end_ = 0;
    llhttp_errno_t err = llhttp_execute(&parser_, data + held_, len - held_);
    size_t parsed = len;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        parsed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    } else if (err != HPE_OK) {
        fail(llhttp_reason(parser_, "bad body"));
        step.error = true;
        return step;
    }
    if (!complete_) {
        step.ready = body_end_;
        held_ = parsed - body_end_;
        if (held_ > kMaxHeldFraming) {
            fail("chunk framing longer than 8 KiB");
            step.error = true;
        }
        return step;
    }
    if (chunked_) {
        std::string_view why = chunked_tail_error({data + body_end_, parsed - body_end_});
        if (!why.empty()) {
            fail(why);
            step.error = true;
            return step;
        }
    }
    held_ = 0;
    step.ready = parsed;
    step.complete = true;
    return step;
}

bool MessageParser::finish() {
    if (complete_) return true;
    if (llhttp_get_errno(&parser_) != HPE_OK) return false;
    llhttp_errno_t err = llhttp_finish(&parser_);  // runs on_message_complete, which pauses
    return (err == HPE_OK || err == HPE_PAUSED) && complete_;
}

uint64_t MessageParser::length_left() const {
    if (!headers_done_ || complete_ || chunked_ || !has_length_ || held_) return 0;
    return parser_.content_length;
}

void MessageParser::skip_length(uint64_t n) {
    parser_.content_length -= n;
    // llhttp would complete the message on its last body byte; the next message starts
    // from a reset parser, so its state past that point does not matter.
    if (parser_.content_length == 0) complete_ = true;
}

bool MessageParser::body_until_close() const {
    return kind_ == Kind::response && headers_done_ && !complete_ && !chunked_ && !has_length_;
}

}  // namespace clb::http
