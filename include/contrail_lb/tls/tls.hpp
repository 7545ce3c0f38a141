// TLS termination with OpenSSL 3: a server context per service (loaded on the control
// thread, shared read-only by the workers) and a non-blocking connection per client.
#pragma once

#include <sys/types.h>

#include <memory>
#include <stdexcept>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace clb::tls {

enum class Version { tls1_2, tls1_3 };

// TLS 1.2 suites with forward secrecy and AEAD only (ECDHE with AES-GCM or
// ChaCha20-Poly1305), as Mozilla's "intermediate" profile without DHE. TLS 1.3 suites
// are all of that kind and keep OpenSSL's defaults.
inline constexpr char kDefaultCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct Settings {
    std::string cert_file;
    std::string key_file;
    std::string ciphers = kDefaultCiphers;  // TLS 1.2 cipher list, OpenSSL syntax
    Version min_version = Version::tls1_2;
};

// Why a context could not be built, and which setting is to blame.
class LoadError : public std::runtime_error {
  public:
    enum class Part { cert, key, ciphers, other };
    LoadError(Part part, const std::string& what) : std::runtime_error(what), part_(part) {}
    Part part() const { return part_; }

  private:
    Part part_;
};

class ServerContext {
  public:
    // Loads the PEM certificate chain and private key, checks that they match and applies
    // the protocol settings; throws LoadError saying which part failed and why.
    static std::shared_ptr<const ServerContext> load(const Settings& settings);
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
