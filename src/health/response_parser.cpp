#include "health/response_parser.hpp"

#include <algorithm>

#include "contrail_lb/http/head.hpp"

namespace clb::health {

void ResponseParser::reset() {
    parser_.reset();
    head_.clear();
    consumed_ = 0;
    status_ = 0;
    complete_ = false;
}

ResponseParser::Result ResponseParser::feed(std::string_view data) {
    if (complete_) return Result::complete;
    // Bound what a misbehaving backend can make us parse before the status is known.
    size_t room = kMaxHeaderBytes - consumed_;
    bool truncated = data.size() > room;
    if (truncated) data = data.substr(0, room);
    consumed_ += data.size();
    head_.append(data);
    return parse_heads(truncated);
}

// Each complete head in turn: a 1xx interim response (100 Continue, 103 Early Hints) is
// not the answer, so reading goes on; otherwise its status is all a check needs.
ResponseParser::Result ResponseParser::parse_heads(bool truncated) {
    for (;;) {
        if (!status_line_plausible()) return Result::invalid;
        size_t end = head_.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (http::has_bare_lf(head_)) return Result::invalid;
            return truncated || consumed_ == kMaxHeaderBytes ? Result::too_large
                                                             : Result::need_more;
        }
        parser_.reset();
        if (!parser_.parse_head(head_.data(), end + 4)) return Result::invalid;
        int status = parser_.status();
        if (status >= 100 && status < 200 && status != 101) {
            head_.erase(0, end + 4);
            continue;
        }
        status_ = status;
        complete_ = true;
        return Result::complete;
    }
}

// A backend that speaks something else (SSH, TLS, garbage) is told at its first bytes,
// not at the timeout: the status line is checked as soon as it is whole.
bool ResponseParser::status_line_plausible() {
    constexpr std::string_view kVersion = "HTTP/";
    size_t prefix = std::min(head_.size(), kVersion.size());
    if (std::string_view(head_).substr(0, prefix) != kVersion.substr(0, prefix)) return false;
    size_t line_end = head_.find("\r\n");
    if (line_end == std::string::npos) return true;
    std::string status_line = head_.substr(0, line_end + 2) + "\r\n";
    parser_.reset();
    return parser_.parse_head(status_line.data(), status_line.size());
}

ResponseParser::Result ResponseParser::finish() {
    // EOF before the end of the headers is a truncated response.
    return complete_ ? Result::complete : Result::invalid;
}

}  // namespace clb::health
