// The answers the proxy itself gives (SPEC "Error answers"): complete responses with a
// short body, each closing the connection.
#pragma once

#include <string_view>

namespace clb::http {

// A complete response for 400, 408, 413, 414, 431, 501, 502, 503, 504 or 505; anything
// else gets the 500 text.
std::string_view error_response(int status);

}  // namespace clb::http
