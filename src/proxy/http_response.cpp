#include "http_response.hpp"

#include <algorithm>

namespace clb::proxy {

ResponseOut::Written ResponseOut::write(Stream& client, IoBuffer& body, int flags) {
    Written out;
    size_t head_left = this->head_left();
    ssize_t n = client.write(head_.data() + head_sent_, head_left, body.data(), ahead, flags);
    if (n < 0) {
        out.error = static_cast<int>(-n);
        return out;
    }
    auto written = static_cast<size_t>(n);
    out.head = std::min(written, head_left);
    out.body = written - out.head;
    head_sent_ += out.head;
    body.consume(out.body);
    ahead -= out.body;
    return out;
}

ResponseOut::Written ResponseOut::drain_pipe(Stream& client) {
    auto [moved, error] = pipe->drain(client.fd());
    Written out;
    out.body = moved;
    out.error = error;
    return out;
}

void ResponseOut::reset(PipePool& pipes) {
    pipes.put(std::move(pipe));  // kept only when empty
    head_.clear();
    head_sent_ = 0;
    ahead = 0;
}

}  // namespace clb::proxy
