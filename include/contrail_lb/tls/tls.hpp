// TLS with OpenSSL 3: a server context per service (termination) and a client context per
// service with backend_tls (origination), both loaded on the control thread and shared
// read-only by the workers, and a non-blocking connection per client or backend socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "contrail_lb/tls/tickets.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

namespace clb::tls {

enum class Version { tls1_2, tls1_3 };
// Kernel TLS (OpenSSL's SSL_OP_ENABLE_KTLS) for the records a connection sends and receives.
enum class Ktls { off, on, auto_ };

// TLS 1.2 suites with forward secrecy and AEAD only (ECDHE with AES-GCM or
// ChaCha20-Poly1305), as Mozilla's "intermediate" profile without DHE. TLS 1.3 suites
// are all of that kind: OpenSSL's three, AES-128-GCM first as in that profile (the server
// chooses). Its SHA-256 key schedule makes a handshake ~5 % cheaper than AES-256-GCM's
// SHA-384 on CPUs with SHA extensions (docs/benchmarks.md), at the 128-bit security level
// the RSA-2048 or P-256 certificate offers anyway.
inline constexpr char kDefaultCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr char kDefaultCiphersuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

struct Settings {
    std::string cert_file;
    std::string key_file;
    std::string ciphers = kDefaultCiphers;  // TLS 1.2 cipher list, OpenSSL syntax
    Version min_version = Version::tls1_2;
    bool session_tickets = true;
    std::chrono::seconds session_timeout = std::chrono::hours(1);
    Ktls ktls = Ktls::off;
};

// Whether the kernel offers TLS sockets (the "tls" upper-layer protocol is loaded or built
// in): what ktls: auto asks.
bool kernel_has_tls();

// Why a context could not be built, and which setting is to blame.
class LoadError : public std::runtime_error {
  public:
    enum class Part { cert, key, ciphers, ca, other };
    LoadError(Part part, const std::string& what) : std::runtime_error(what), part_(part) {}
    Part part() const { return part_; }

  private:
    Part part_;
};

struct CtxFree {
    void operator()(SSL_CTX* ctx) const;
};
struct SslFree {
    void operator()(SSL* ssl) const;
};
struct SessionFree {
    void operator()(SSL_SESSION* session) const;
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

class ServerContext {
  public:
    // Loads the PEM certificate chain and private key, checks that they match and applies
    // the protocol settings; throws LoadError saying which part failed and why. Session
    // tickets (when settings.session_tickets) are sealed with `tickets` (null: OpenSSL's
    // own keys of this context, as for a --check).
    static std::shared_ptr<const ServerContext> load(const Settings& settings,
                                                     std::shared_ptr<TicketKeys> tickets = {});
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    SSL_CTX* raw() const { return ctx_.get(); }
    bool ktls() const { return ktls_; }  // connections ask OpenSSL for kernel TLS

  private:
    ServerContext(CtxPtr ctx, std::shared_ptr<TicketKeys> tickets)
        : ctx_(std::move(ctx)), tickets_(std::move(tickets)) {}
    CtxPtr ctx_;
    std::shared_ptr<TicketKeys> tickets_;  // the callback's, kept alive with the context
    bool ktls_ = false;
};

// TLS to backends (a service's backend_tls).
enum class Verify { required, none };
struct ClientSettings {
    Verify verify = Verify::required;
    std::string ca_file;    // trusted CAs (PEM); required unless verify is none
    std::string cert_file;  // optional client certificate chain, with key_file
    std::string key_file;
    std::string sni;  // the name sent and checked; empty: the backend's IP is checked
};

class ClientContext {
  public:
    // Loads the CA file and the optional client pair; throws LoadError (Part::ca, cert,
    // key) saying which file failed and why.
    static std::shared_ptr<const ClientContext> load(const ClientSettings& settings);
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;

    SSL_CTX* raw() const { return ctx_.get(); }
    bool verifies() const { return verify_; }
    const std::string& sni() const { return sni_; }

  private:
    ClientContext(CtxPtr ctx, bool verify, std::string sni)
        : ctx_(std::move(ctx)), verify_(verify), sni_(std::move(sni)) {}
    CtxPtr ctx_;
    bool verify_;
    std::string sni_;
};

// Client contexts by service name, as the workers and the health checker get them.
using ClientContexts = std::map<std::string, std::shared_ptr<const ClientContext>, std::less<>>;

// The newest session one backend gave, to resume the next connection to it with. One per
// worker (or checker) per backend: the connection that receives a session (at the end of a
// TLS 1.2 handshake, or a TLS 1.3 ticket after it) stores it here.
struct SessionSlot {
    SessionPtr session;
};

// Same conventions as plain sockets: > 0 bytes, 0 = would block (see wants()), < 0 = error.
class Connection {
  public:
    Connection(const ServerContext& context, int fd);
    // A client connection to a backend at `ip` (checked against the certificate's IP SANs
    // unless the context has an SNI name, which is then sent and checked instead), resuming
    // the session in `sessions` if any and storing the new ones there.
    Connection(const ClientContext& context, int fd, const std::string& ip,
               std::shared_ptr<SessionSlot> sessions);
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
    // Any bytes inside OpenSSL, decrypted or not: a pooled connection must hold none.
    bool buffered() const;
    bool resumed() const;  // the handshake resumed a session
    // EV_READ / EV_WRITE the last operation needs before it can make progress.
    int wants() const { return wants_; }
    void shutdown();
    const std::string& error() const { return error_; }

  private:
    int settle(int ret, const char* what);
    ssize_t read_failed(int ret, bool& eof);  // a read that brought nothing
    std::string failure_reason();  // the certificate's verify error, else OpenSSL's queue

    SslPtr ssl_;
    std::shared_ptr<SessionSlot> sessions_;  // client side: where new sessions go
    bool established_ = false;
    bool lost_ = false;  // a read failed behind bytes it returned: the next one fails
    int wants_ = 0;
    std::string error_;
};

}  // namespace clb::tls
