#include "http_upstream.hpp"

#include <algorithm>

namespace clb::proxy {

void HttpUpstream::attach(std::unique_ptr<Upstream> conn, UpstreamOwner& owner, double now) {
    conn_ = std::move(conn);
    conn_->set_owner(&owner);
    eof_ = false;
    error_ = 0;
    seen_ = now;
    counted_active_ = true;  // the Connector took the backend's slot for it
}

HttpUpstream::Sent HttpUpstream::send(IoBuffer& body, size_t& body_ahead) {
    Sent sent;
    for (;;) {
        size_t head_left = head_.size() - head_sent_;
        if (head_left == 0 && body_ahead == 0) break;
        ssize_t n =
            conn_->stream().write(head_.data() + head_sent_, head_left, body.data(), body_ahead);
        if (n == 0) break;
        if (n < 0) {
            error_ = static_cast<int>(-n);
            break;
        }
        auto written = static_cast<size_t>(n);
        size_t from_head = std::min(written, head_left);
        head_sent_ += from_head;
        body.consume(written - from_head);
        body_ahead -= written - from_head;
        sent.bytes += written;
        sent.head_finished |= from_head > 0 && head_sent_ == head_.size();
    }
    if (sent.bytes) conn_->backend()->bytes_out.add(sent.bytes);
    return sent;
}

ReadResult HttpUpstream::read(SplicePipe* pipe) {
    if (eof_) return {};
    // No pipe over TLS: the bytes must pass through OpenSSL (splice_response() says so).
    ReadResult r =
        pipe ? fill_body(*pipe, conn_->fd(), conn_->parser) : conn_->stream().read(conn_->in);
    if (r.n > 0) conn_->backend()->bytes_in.add(static_cast<uint64_t>(r.n));
    conn_->may_hold_more = r.filled || conn_->secure();
    if (r.eof) eof_ = true;
    if (r.n < 0) error_ = static_cast<int>(-r.n);
    return r;
}

bool HttpUpstream::has_room(const SplicePipe* pipe) const {
    return pipe ? !pipe->blocked() && conn_->parser.length_left() > 0 : !conn_->in.full();
}

void HttpUpstream::uncount_active() {
    if (!counted_active_) return;
    counted_active_ = false;
    conn_->backend()->give_slot();
}

HttpUpstream::Reuse HttpUpstream::reuse(bool request_done, bool draining) const {
    if (!conn_ || !request_done || eof_ || error_ || !conn_->parser.keep_alive() || draining)
        return Reuse::no;
    switch (conn_->leftover()) {
        case Upstream::Leftover::none:
            return Reuse::yes;
        case Upstream::Leftover::closed:
            return Reuse::no;
        case Upstream::Leftover::bytes:
            break;
    }
    return Reuse::surplus;
}

void HttpUpstream::release(UpstreamPool& pool, bool keep) {
    if (!conn_) return;
    uncount_active();
    if (keep) {
        conn_->reused = false;
        pool.give_back(std::move(conn_));
    } else {
        conn_.reset();
    }
}

void HttpUpstream::reset() {
    conn_.reset();
    head_.clear();
    head_sent_ = 0;
    seen_ = 0;
    error_ = 0;
    eof_ = false;
    counted_active_ = false;
}

}  // namespace clb::proxy
