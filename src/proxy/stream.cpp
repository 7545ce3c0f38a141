#include "stream.hpp"

#include <ev.h>
#include <sys/socket.h>

#include <cerrno>

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
    // TLS records cannot gather: write the parts in turn, stopping at the first short one.
    ssize_t total = 0;
    for (auto [p, len] : {std::pair{a, alen}, std::pair{b, blen}}) {
        if (len == 0) continue;
        ssize_t n = tls_->write(p, len);
        write_wants_ = tls_->wants();
        if (n < 0) return total ? total : -EPROTO;
        total += n;
        if (static_cast<size_t>(n) < len) break;
    }
    return total;
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
