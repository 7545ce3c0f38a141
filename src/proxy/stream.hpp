// One end of a proxied connection: a plain socket or TLS over it, behind one small
// interface so the sessions do not care which. Clients may speak TLS to us (a service's
// `tls`: the server side), backends may be spoken TLS to (its `backend_tls`: the client
// side, in Upstream).
#pragma once

#include <memory>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/tls/tls.hpp"
#include "io.hpp"

namespace clb::proxy {

class Stream {
  public:
    // The server side of TLS when `tls` is set, else plain.
    Stream(net::Fd fd, const std::shared_ptr<const tls::ServerContext>& tls);
    // The client side towards a backend: `tls` (null: plain) was made on `fd`.
    static Stream to_backend(net::Fd fd, std::unique_ptr<tls::Connection> tls) {
        return Stream(std::move(fd), std::move(tls), true);
    }

    int fd() const { return fd_.get(); }
    bool secure() const { return tls_ != nullptr; }
    // A plain connection leaves (upgrade: handed to the next process); the stream is empty.
    net::Fd take_fd() { return std::move(fd_); }
    // False until the TLS handshake is done; drives it. Sets `failed` on a bad handshake.
    bool ready(bool& failed);
    ReadResult read(IoBuffer& buf);
    // Writes a then b, like write2; 0 = would block, < 0 = -errno or TLS failure. `flags`
    // are send(2) flags for a plain socket (TLS ignores them).
    ssize_t write(const char* a, size_t alen, const char* b, size_t blen, int flags = 0);
    // Decrypted bytes wait inside OpenSSL: read again without waiting for the socket.
    bool pending() const { return tls_ && tls_->pending(); }
    // Any bytes inside OpenSSL, decrypted or not.
    bool buffered() const { return tls_ && tls_->buffered(); }
    // Socket events TLS needs besides the ones the session asks for.
    int tls_wants() const { return tls_ ? tls_->wants() : 0; }
    // The socket events that let a read (`reading`) and a write (`writing`) progress: over
    // TLS a read may wait for writability and the reverse, each as its last attempt said.
    int events(bool reading, bool writing) const;
    void shutdown_write();
    std::string tls_error() const { return tls_ ? tls_->error() : std::string(); }
    const tls::Connection* tls() const { return tls_.get(); }

  private:
    // The most plaintext one TLS record carries.
    static constexpr size_t kRecordMax = 16 * 1024;

    Stream(net::Fd fd, std::unique_ptr<tls::Connection> tls, bool to_backend);
    ssize_t write_tls(const char* p, size_t len);  // -EPROTO on failure

    net::Fd fd_;
    std::unique_ptr<tls::Connection> tls_;
    int read_wants_ = 0;  // what the last TLS read waited for (0: it did not wait)
    int write_wants_ = 0;
};

}  // namespace clb::proxy
