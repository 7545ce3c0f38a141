#include "contrail_lb/http/parser.hpp"

namespace clb::http {

MessageParser::MessageParser(Kind kind) : kind_(kind) {
    llhttp_settings_init(&settings_);
    settings_.on_headers_complete = &MessageParser::on_headers_complete;
    settings_.on_message_complete = &MessageParser::on_message_complete;
    llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    parser_.data = this;
}

void MessageParser::reset() {
    llhttp_reset(&parser_);  // keeps the type, settings and data pointer
    skip_body_ = complete_ = headers_done_ = false;
    error_ = {};
}

int MessageParser::on_headers_complete(llhttp_t* p) {
    auto* self = static_cast<MessageParser*>(p->data);
    self->headers_done_ = true;
    return self->skip_body_ ? 1 : 0;  // 1: llhttp treats the message as bodiless
}

int MessageParser::on_message_complete(llhttp_t* p) {
    static_cast<MessageParser*>(p->data)->complete_ = true;
    return HPE_PAUSED;  // stop exactly at the message boundary: what follows is the next one
}

void MessageParser::start_message() {
    if (llhttp_get_errno(&parser_) == HPE_PAUSED) llhttp_resume(&parser_);
    // An Upgrade request whose response was not 101 goes on as plain HTTP.
    if (llhttp_get_errno(&parser_) == HPE_PAUSED_UPGRADE) llhttp_resume_after_upgrade(&parser_);
    complete_ = false;
    headers_done_ = false;
    error_ = {};
}

bool MessageParser::parse_head(const char* data, size_t len) {
    start_message();
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    skip_body_ = false;
    if (err == HPE_OK || err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        if (headers_done_) return true;
        error_ = "incomplete head";
        return false;
    }
    error_ = llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad head";
    return false;
}

MessageParser::BodyStep MessageParser::parse_body(const char* data, size_t len) {
    BodyStep step;
    if (complete_) {
        step.complete = true;
        return step;
    }
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    if (err == HPE_OK) {
        step.consumed = len;
    } else if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        step.consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    } else {
        step.error = true;
        error_ = llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad body";
        return step;
    }
    step.complete = complete_;
    return step;
}

bool MessageParser::finish() {
    if (complete_) return true;
    if (llhttp_get_errno(&parser_) != HPE_OK) return false;
    llhttp_errno_t err = llhttp_finish(&parser_);  // runs on_message_complete, which pauses
    return (err == HPE_OK || err == HPE_PAUSED) && complete_;
}

bool MessageParser::body_until_close() const {
    return kind_ == Kind::response && headers_done_ && !complete_ && !chunked() &&
           !has_content_length();
}

}  // namespace clb::http
