// HTTP/1.1 message framing on top of llhttp (built in its strict mode).
//
// The proxy forwards bytes as they arrived and only needs to know where each message's
// head and body end. So it hands the parser a complete head (found by its CRLFCRLF), then
// streams the body bytes through it: the parser says how many of them belong to the
// current message, are known to be well framed, and may go on.
//
// Body bytes are released as soon as they are validated, except chunked framing: the
// bytes after the last chunk data seen (CRLF, the next chunk-size line, the last chunk,
// the trailer section) are held back until the next chunk data or the end of the message
// proves them well formed. So the next hop never completes a message this parser refuses;
// on an error, whatever was released is an unfinished message and the caller closes (and
// resets) that connection. See docs/http-framing.md.
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
        size_t ready = 0;       // bytes at the front of `data` to forward now
        bool complete = false;  // the message ends at data + ready
        bool error = false;
    };
    // `data` starts at the first body byte not yet returned as `ready`: bytes the parser
    // held back last time are passed again at its front (they stay in the caller's
    // buffer), followed by any new ones.
    BodyStep parse_body(const char* data, size_t len);
    // The peer closed: completes a close-delimited response; false if the message was cut.
    bool finish();

    // Body bytes of a Content-Length message the parser has not seen yet; 0 for any other
    // framing, and while bytes it framed are still held by the caller.
    uint64_t length_left() const;
    // The caller moved `n` <= length_left() body bytes past the parser (splice(2)): they
    // count as seen, and the message completes with the last of them.
    void skip_length(uint64_t n);

    // For the response to a HEAD request: the head has no body whatever it says.
    void expect_no_body() { skip_body_ = true; }

    bool message_complete() const { return complete_; }
    bool keep_alive() const { return llhttp_should_keep_alive(&parser_) != 0; }
    int status() const { return parser_.status_code; }
    int method() const { return parser_.method; }
    int http_major() const { return parser_.http_major; }
    int http_minor() const { return parser_.http_minor; }
    bool chunked() const { return chunked_; }
    bool upgrade() const { return parser_.upgrade != 0; }
    // True while the body is delimited by the connection's close (response without length).
    bool body_until_close() const;
    std::string_view error() const { return error_; }

    // Chunked framing held back at once, at most: a longer chunk-size line or trailer
    // section is refused (the proxy's buffer must always have room for new bytes).
    static constexpr size_t kMaxHeldFraming = 8 * 1024;
    // The largest chunk size accepted: 2^31 - 1 (HAProxy 2.6 takes 2^31, refuses 2^64 - 1).
    // Larger sizes are where parsers disagree (32-bit and signed arithmetic); no client
    // needs a 2 GiB chunk.
    static constexpr uint64_t kMaxChunkSize = 0x7fffffff;

  private:
    static int on_headers_complete(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, size_t len);
    static int on_chunk_header(llhttp_t* p);
    void start_message();
    bool fail(std::string_view why);

    llhttp_settings_t settings_{};
    llhttp_t parser_{};
    Kind kind_;
    bool skip_body_ = false;
    bool complete_ = false;
    bool headers_done_ = false;
    bool chunked_ = false;
    bool has_length_ = false;  // Content-Length given
    size_t held_ = 0;          // bytes parsed but not yet released, at the front of `data`
    // During parse_body: where `data` starts and where the last body data ended in it.
    const char* body_base_ = nullptr;
    size_t body_end_ = 0;
    std::string_view error_;
};

}  // namespace clb::http
