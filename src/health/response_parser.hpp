// Reads just enough of an HTTP/1.x response to know its status: the status line and the
// headers, at most kMaxHeaderBytes of them. llhttp does the parsing, so a health check is
// as strict about malformed responses as the proxy is.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string_view>

namespace clb::health {

class ResponseParser {
  public:
    static constexpr size_t kMaxHeaderBytes = 16 * 1024;
    enum class Result { need_more, complete, invalid, too_large };

    ResponseParser();
    // llhttp keeps pointers to the settings and to this object.
    ResponseParser(const ResponseParser&) = delete;
    ResponseParser& operator=(const ResponseParser&) = delete;

    void reset();
    // Feeds the next bytes read from the connection.
    Result feed(std::string_view data);
    // The connection reached EOF.
    Result finish();
    // Valid once a call returned Result::complete.
    int status() const { return status_; }

  private:
    static int on_headers_complete(llhttp_t* parser);

    llhttp_settings_t settings_{};
    llhttp_t parser_{};
    size_t consumed_ = 0;
    int status_ = 0;
    bool complete_ = false;
};

}  // namespace clb::health
