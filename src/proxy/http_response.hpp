// The response of one HTTP exchange on its way to the client: the head the proxy rebuilt,
// then the body, either bytes framed in the backend connection's buffer or, for a large
// Content-Length body on plain TCP, a splice pipe socket to socket (pipe.hpp). It writes;
// what to write and when is the session's business.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "buffer.hpp"
#include "pipe.hpp"
#include "stream.hpp"

namespace clb::proxy {

class ResponseOut {
  public:
    // The head to send; building it again (after a 1xx) starts it over.
    std::string& start_head() {
        head_.clear();
        head_sent_ = 0;
        return head_;
    }
    size_t head_left() const { return head_.size() - head_sent_; }
    // Body bytes framed at the front of the backend buffer, not yet written.
    size_t ahead = 0;
    std::unique_ptr<SplicePipe> pipe;  // while the body is spliced

    bool pending() const { return head_left() > 0 || ahead > 0 || (pipe && !pipe->empty()); }

    struct Written {
        size_t head = 0;
        size_t body = 0;
        int error = 0;  // errno of a failed write (or EPROTO for TLS)
    };
    // Writes what is left of the head and the `ahead` body bytes at the front of `body`,
    // in one write where it can (MSG_MORE in `flags` for the last bytes before a close).
    Written write(Stream& client, IoBuffer& body, int flags);
    // Moves what the pipe holds to the client's socket.
    Written drain_pipe(Stream& client);

    void reset(PipePool& pipes);  // an empty pipe goes back to the pool

  private:
    std::string head_;  // its capacity stays across requests
    size_t head_sent_ = 0;
};

}  // namespace clb::proxy
