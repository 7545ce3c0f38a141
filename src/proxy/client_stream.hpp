// The client side of a session: a plain socket or TLS over it, behind one small interface
// so the HTTP state machine does not care which.
#pragma once

#include <memory>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/tls/tls.hpp"
#include "io.hpp"

namespace clb::proxy {

class ClientStream {
  public:
    ClientStream(net::Fd fd, const std::shared_ptr<const tls::ServerContext>& tls);

    int fd() const { return fd_.get(); }
    bool secure() const { return tls_ != nullptr; }
    // False until the TLS handshake is done; drives it. Sets `failed` on a bad handshake.
    bool ready(bool& failed);
    ReadResult read(IoBuffer& buf);
    // Writes a then b, like write2; 0 = would block, < 0 = -errno or TLS failure. `flags`
    // are send(2) flags for a plain socket (TLS ignores them).
    ssize_t write(const char* a, size_t alen, const char* b, size_t blen, int flags = 0);
    // Decrypted bytes wait inside OpenSSL: read again without waiting for the socket.
    bool pending() const { return tls_ && tls_->pending(); }
    // Socket events TLS needs besides the ones the session asks for.
    int tls_wants() const { return tls_ ? tls_->wants() : 0; }
    void shutdown_write();
    std::string tls_error() const { return tls_ ? tls_->error() : std::string(); }

  private:
    net::Fd fd_;
    std::unique_ptr<tls::Connection> tls_;
};

}  // namespace clb::proxy
