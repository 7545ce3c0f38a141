// OpenSSL's error queue as one line of text, shared by the server and client sides.
#pragma once

#include <string>

namespace clb::tls::detail {

// The oldest queued error ("error:0A000086:SSL routines::certificate verify failed"), or
// "unknown error"; clears the queue.
std::string openssl_error();

}  // namespace clb::tls::detail
