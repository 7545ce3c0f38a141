// TLS termination with OpenSSL 3: a server context per service (loaded on the control
// thread, shared read-only by the workers) and a non-blocking connection per client.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace clb::tls {

class ServerContext {
  public:
    // Loads a PEM certificate chain and private key; throws std::runtime_error saying
    // which file failed and why.
    static std::shared_ptr<const ServerContext> load(const std::string& cert_file,
                                                     const std::string& key_file);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    SSL_CTX* raw() const { return ctx_; }

  private:
    explicit ServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
    SSL_CTX* ctx_;
};

// Same conventions as plain sockets: > 0 bytes, 0 = would block (see wants()), < 0 = error.
class Connection {
  public:
    Connection(const ServerContext& context, int fd);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // 1 when established, 0 while in progress, -1 on failure (see error()).
    int handshake();
    bool established() const { return established_; }
    ssize_t read(char* buf, size_t len, bool& eof);
    ssize_t write(const char* buf, size_t len);
    // Plaintext already decrypted and waiting inside OpenSSL: no socket event will say so.
    bool pending() const;
    // EV_READ / EV_WRITE the last operation needs before it can make progress.
    int wants() const { return wants_; }
    void shutdown();
    const std::string& error() const { return error_; }

  private:
    int settle(int ret, const char* what);

    SSL* ssl_;
    bool established_ = false;
    int wants_ = 0;
    std::string error_;
};

}  // namespace clb::tls
