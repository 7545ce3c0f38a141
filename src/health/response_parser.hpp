// Reads just enough of an HTTP/1.x response to know its status: the status line and the
// headers, at most kMaxHeaderBytes of them. The proxy's own parser (http::MessageParser)
// frames it, so a health check is exactly as strict about malformed responses as the
// proxy is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "contrail_lb/http/parser.hpp"

namespace clb::health {

class ResponseParser {
  public:
    static constexpr size_t kMaxHeaderBytes = 16 * 1024;
    enum class Result { need_more, complete, invalid, too_large };

    void reset();
    // Feeds the next bytes read from the connection.
    Result feed(std::string_view data);
    // The connection reached EOF.
    Result finish();
    // Valid once a call returned Result::complete.
    int status() const { return status_; }

  private:
    Result parse_heads(bool truncated);
    bool status_line_plausible();

    http::MessageParser parser_{http::Kind::response};
    std::string head_;  // bytes of the head(s) not parsed yet
    size_t consumed_ = 0;
    int status_ = 0;
    bool complete_ = false;
};

}  // namespace clb::health
