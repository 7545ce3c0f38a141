// HTTP/1.1 message framing on top of llhttp.
//
// The proxy forwards bytes as they arrived and only needs to know where each message's
// head and body end. So it hands the parser a complete head (found by its CRLFCRLF), then
// streams the body bytes through it: the parser says how many of them belong to the
// current message and when it completed. llhttp validates the framing (chunk sizes,
// Content-Length vs Transfer-Encoding) before a byte is forwarded.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace clb::http {

enum class Kind { request, response };

class MessageParser {
  public:
    explicit MessageParser(Kind kind);
    MessageParser(const MessageParser&) = delete;
    MessageParser& operator=(const MessageParser&) = delete;
    // Back to the state of a new parser (a pooled one starts a new connection's message).
    void reset();

    // Parses one complete head. Returns false on a framing error (see error()).
    // After it, message_complete() tells whether the message has no body.
    bool parse_head(const char* data, size_t len);

    struct BodyStep {
        size_t consumed = 0;    // bytes of the current message in [data, data+len)
        bool complete = false;  // the message ended at data + consumed
        bool error = false;
    };
    BodyStep parse_body(const char* data, size_t len);
    // The peer closed: completes a close-delimited response; false if the message was cut.
    bool finish();

    // For the response to a HEAD request: the head has no body whatever it says.
    void expect_no_body() { skip_body_ = true; }

    bool message_complete() const { return complete_; }
    bool keep_alive() const { return llhttp_should_keep_alive(&parser_) != 0; }
    int status() const { return parser_.status_code; }
    int method() const { return parser_.method; }
    int http_major() const { return parser_.http_major; }
    int http_minor() const { return parser_.http_minor; }
    bool chunked() const { return (parser_.flags & F_CHUNKED) != 0; }
    bool upgrade() const { return parser_.upgrade != 0; }
    // Body bytes announced by Content-Length (0 when none).
    bool has_content_length() const { return (parser_.flags & F_CONTENT_LENGTH) != 0; }
    // True while the body is delimited by the connection's close (response without length).
    bool body_until_close() const;
    std::string_view error() const { return error_; }

  private:
    static int on_headers_complete(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);
    void start_message();

    llhttp_settings_t settings_{};
    llhttp_t parser_{};
    Kind kind_;
    bool skip_body_ = false;
    bool complete_ = false;
    bool headers_done_ = false;
    std::string_view error_;
};

}  // namespace clb::http
