// The answers the proxy itself gives (SPEC "Error answers"): complete responses with a
// short body, each closing the connection; an operator's error pages in their place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clb::http {

// A complete response for 400, 408, 413, 414, 431, 501, 502, 503, 504 or 505; anything
// else gets the 500 text.
std::string_view error_response(int status);

// The largest error page file: HAProxy's limit is its buffer (16 KiB by default), and a
// page must go out in one piece from memory.
inline constexpr size_t kMaxErrorPageBytes = 16 * 1024;

// An error page (HAProxy's errorfile): `file` holds a complete HTTP/1.x response (status
// line, headers, empty line, body), lines ended by CRLF or LF. Returns the bytes to send:
// head lines ended by CRLF, the body untouched, Content-Length added when missing, and
// `Connection: close` in place of any Connection field, since the proxy closes after every
// error answer. nullopt, with `error` set, when the file is not such a response.
std::optional<std::string> make_error_page(std::string_view file, std::string& error);

// A redirect with an empty body (HAProxy's `redirect scheme`), into `out`: `code` with
// `Location: SCHEME://HOST[:PORT]PATH`. HOST is `host` without its port, PORT is left out
// when it is the scheme's default, PATH is the request target's path and query (an
// absolute-form target loses its scheme and authority). `connection`: the Connection
// field's value ("close", "keep-alive"), none when empty.
void append_redirect(std::string& out, int code, std::string_view scheme, uint16_t port,
                     std::string_view host, std::string_view target, std::string_view connection);

// "Moved Permanently" for 301, and so on for 302, 303, 307 and 308.
std::string_view redirect_reason(int code);

}  // namespace clb::http
