#include "stream.hpp"

#include <ev.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace clb::proxy {

Stream::Stream(net::Fd fd, const std::shared_ptr<const tls::ServerContext>& tls)
    : fd_(std::move(fd)) {
    if (tls) tls_ = std::make_unique<tls::Connection>(*tls, fd_.get());
}

Stream::Stream(net::Fd fd, std::unique_ptr<tls::Connection> tls, bool)
    : fd_(std::move(fd)), tls_(std::move(tls)) {}

bool Stream::ready(bool& failed) {
    if (!tls_ || tls_->established()) return true;
    int r = tls_->handshake();
    failed = r < 0;
    return r > 0;
}

ReadResult Stream::read(IoBuffer& buf) {
    if (!tls_) return read_into(fd_.get(), buf);
    size_t room = 0;
    char* at = buf.space(room);
    if (room == 0) return {};
    bool eof = false;
    ssize_t n = tls_->read(at, room, eof);
    read_wants_ = tls_->wants();
    if (n > 0) buf.commit(static_cast<size_t>(n));
    if (n < 0) return {-EPROTO, false};
    return {n, eof};
}

ssize_t Stream::write(const char* a, size_t alen, const char* b, size_t blen, int flags) {
    if (!tls_) return write2(fd_.get(), a, alen, b, blen, flags);
    // TLS records cannot gather, so a head and the body bytes behind it are copied into one
    // record where they fit: a small response is one record (one encryption, one segment,
    // one decryption and wake-up of the peer), not one per part. A retry after a write that
    // would block passes the same parts, so OpenSSL gets the same bytes again, as it must.
    ssize_t total = 0;
    if (alen > 0 && blen > 0 && alen < kRecordMax) {
        size_t take = std::min(blen, kRecordMax - alen);
        std::array<char, kRecordMax> joined;
        std::memcpy(joined.data(), a, alen);
        std::memcpy(joined.data() + alen, b, take);
        total = write_tls(joined.data(), alen + take);
        if (total < 0 || static_cast<size_t>(total) < alen + take) return total;
        a = b + take;
        alen = blen - take;
        blen = 0;
    }
    // The rest in turn, stopping at the first short write.
    for (auto [p, len] : {std::pair{a, alen}, std::pair{b, blen}}) {
        if (len == 0) continue;
        ssize_t n = write_tls(p, len);
        if (n < 0) return total ? total : n;
        total += n;
        if (static_cast<size_t>(n) < len) break;
    }
    return total;
}

ssize_t Stream::write_tls(const char* p, size_t len) {
    ssize_t n = tls_->write(p, len);
    write_wants_ = tls_->wants();
    return n < 0 ? -EPROTO : n;
}

int Stream::events(bool reading, bool writing) const {
    if (!tls_) return (reading ? EV_READ : 0) | (writing ? EV_WRITE : 0);
    int events = 0;
    if (reading) events |= read_wants_ ? read_wants_ : EV_READ;
    if (writing) events |= write_wants_ ? write_wants_ : EV_WRITE;
    return events;
}

void Stream::shutdown_write() {
    if (tls_) tls_->shutdown();
    ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace clb::proxy
