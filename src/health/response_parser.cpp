#include "health/response_parser.hpp"

namespace clb::health {

ResponseParser::ResponseParser() {
    llhttp_settings_init(&settings_);
    settings_.on_headers_complete = &ResponseParser::on_headers_complete;
    reset();
}

void ResponseParser::reset() {
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
    consumed_ = 0;
    status_ = 0;
    complete_ = false;
}

// A 1xx interim response (100 Continue, 103 Early Hints) is not the answer: keep reading.
// Otherwise the status is all a health check needs, so parsing stops here.
int ResponseParser::on_headers_complete(llhttp_t* parser) {
    auto* self = static_cast<ResponseParser*>(parser->data);
    int status = parser->status_code;
    if (status >= 100 && status < 200 && status != 101) return 0;
    self->status_ = status;
    self->complete_ = true;
    return HPE_PAUSED;
}

ResponseParser::Result ResponseParser::feed(std::string_view data) {
    if (complete_) return Result::complete;
    // Bound what a misbehaving backend can make us parse before the status is known.
    size_t room = kMaxHeaderBytes - consumed_;
    bool truncated = data.size() > room;
    if (truncated) data = data.substr(0, room);
    consumed_ += data.size();
    llhttp_errno_t err = llhttp_execute(&parser_, data.data(), data.size());
    if (complete_) return Result::complete;
    if (err != HPE_OK) return Result::invalid;
    return truncated || consumed_ == kMaxHeaderBytes ? Result::too_large : Result::need_more;
}

ResponseParser::Result ResponseParser::finish() {
    if (complete_) return Result::complete;
    // EOF before the end of the headers is a truncated response, whatever llhttp thinks of it.
    llhttp_finish(&parser_);
    return complete_ ? Result::complete : Result::invalid;
}

}  // namespace clb::health
