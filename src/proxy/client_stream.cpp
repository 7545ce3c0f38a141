#include "client_stream.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace clb::proxy {

ClientStream::ClientStream(net::Fd fd, const std::shared_ptr<const tls::ServerContext>& tls)
    : fd_(std::move(fd)) {
    if (tls) tls_ = std::make_unique<tls::Connection>(*tls, fd_.get());
}

bool ClientStream::ready(bool& failed) {
    if (!tls_ || tls_->established()) return true;
    int r = tls_->handshake();
    failed = r < 0;
    return r > 0;
}

ReadResult ClientStream::read(IoBuffer& buf) {
    if (!tls_) return read_into(fd_.get(), buf);
    size_t room = 0;
    char* at = buf.space(room);
    if (room == 0) return {};
    bool eof = false;
    ssize_t n = tls_->read(at, room, eof);
    if (n > 0) buf.commit(static_cast<size_t>(n));
    if (n < 0) return {-EPROTO, false};
    return {n, eof};
}

ssize_t ClientStream::write(const char* a, size_t alen, const char* b, size_t blen, int flags) {
    if (!tls_) return write2(fd_.get(), a, alen, b, blen, flags);
    // TLS records cannot gather: write the parts in turn, stopping at the first short one.
    ssize_t total = 0;
    for (auto [p, len] : {std::pair{a, alen}, std::pair{b, blen}}) {
        if (len == 0) continue;
        ssize_t n = tls_->write(p, len);
        if (n < 0) return total ? total : -EPROTO;
        total += n;
        if (static_cast<size_t>(n) < len) break;
    }
    return total;
}

void ClientStream::shutdown_write() {
    if (tls_) tls_->shutdown();
    ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace clb::proxy
