#include "contrail_lb/tls/tls.hpp"

#include <ev.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "tls/openssl_error.hpp"

namespace clb::tls {

std::string detail::openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (!code) return "unknown error";
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    return buf;
}

void CtxFree::operator()(SSL_CTX* ctx) const {
    SSL_CTX_free(ctx);
}
void SslFree::operator()(SSL* ssl) const {
    SSL_free(ssl);
}
void SessionFree::operator()(SSL_SESSION* session) const {
    SSL_SESSION_free(session);
}

namespace {

using detail::openssl_error;

// Offer http/1.1 only: we do not speak h2 to clients.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::shared_ptr<const ServerContext> ServerContext::load(const Settings& settings) {
    using Part = LoadError::Part;
    CtxPtr owned(SSL_CTX_new(TLS_server_method()));
    if (!owned) throw LoadError(Part::other, "tls: cannot create a context: " + openssl_error());
    SSL_CTX* ctx = owned.get();
    // make_shared cannot reach the private constructor.
    std::shared_ptr<const ServerContext> context(new ServerContext(std::move(owned)));
    SSL_CTX_set_min_proto_version(
        ctx, settings.min_version == Version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    // A FIN without close_notify is a half-close, as over plain TCP: OpenSSL 3 would make it
    // a fatal error and spoil the answer to a complete request. Truncation is the HTTP
    // parser's call: a body cut short still ends as a client abort.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);
    if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1)
        throw LoadError(Part::ciphers, "tls: no usable cipher in \"" + settings.ciphers +
                                           "\": " + openssl_error());
    if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1)
        throw LoadError(Part::cert, "tls: cannot load certificate " + settings.cert_file + ": " +
                                        openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL checks the pair while loading the key: say which of the two it was.
        unsigned long code = ERR_peek_last_error();
        bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509 &&
                        (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                         ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH);
        std::string why = openssl_error();
        if (mismatch)
            throw LoadError(Part::key, "tls: key " + settings.key_file +
                                           " does not match certificate " + settings.cert_file);
        throw LoadError(Part::key, "tls: cannot load key " + settings.key_file + ": " + why);
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
        throw LoadError(Part::key, "tls: key " + settings.key_file +
                                       " does not match certificate " + settings.cert_file);
    ERR_clear_error();
    return context;
}

Connection::Connection(const ServerContext& context, int fd) : ssl_(SSL_new(context.raw())) {
    if (!ssl_) throw std::runtime_error("tls: SSL_new: " + openssl_error());
    SSL_set_fd(ssl_.get(), fd);
    SSL_set_accept_state(ssl_.get());
}

Connection::~Connection() = default;

// Maps an OpenSSL result to our conventions and records what it waits for.
int Connection::settle(int ret, const char* what) {
    wants_ = 0;
    switch (SSL_get_error(ssl_.get(), ret)) {
        case SSL_ERROR_WANT_READ:
            wants_ = EV_READ;
            return 0;
        case SSL_ERROR_WANT_WRITE:
            wants_ = EV_WRITE;
            return 0;
        case SSL_ERROR_ZERO_RETURN:  // a handshake or write cannot go on after the peer's end
            error_ = std::string(what) + ": closed by the peer";
            ERR_clear_error();
            return -1;
        case SSL_ERROR_SYSCALL:
            error_ = std::string(what) + ": connection lost";
            ERR_clear_error();
            return -1;
        default:
            error_ = std::string(what) + ": " + failure_reason();
            return -1;
    }
}

int Connection::handshake() {
    if (established_) return 1;
    int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
        established_ = true;
        wants_ = 0;
        return 1;
    }
    return settle(ret, "TLS handshake") < 0 ? -1 : 0;
}

ssize_t Connection::read(char* buf, size_t len, bool& eof) {
    size_t n = 0;
    int ret = SSL_read_ex(ssl_.get(), buf, len, &n);
    if (ret == 1) {
        wants_ = 0;
        return static_cast<ssize_t>(n);
    }
    // close_notify, or a bare FIN (SSL_OP_IGNORE_UNEXPECTED_EOF). SSL_ERROR_SYSCALL is
    // then a socket error such as a reset, which stays an error as it does over plain TCP.
    if (SSL_get_error(ssl_.get(), ret) == SSL_ERROR_ZERO_RETURN) {
        eof = true;
        wants_ = 0;  // an EOF socket stays readable: waiting on it would spin
        ERR_clear_error();
        return 0;
    }
    return settle(ret, "TLS read");
}

ssize_t Connection::write(const char* buf, size_t len) {
    if (len == 0) return 0;
    size_t n = 0;
    int ret = SSL_write_ex(ssl_.get(), buf, len, &n);
    if (ret == 1) {
        wants_ = 0;
        return static_cast<ssize_t>(n);
    }
    return settle(ret, "TLS write");
}

bool Connection::pending() const {
    return SSL_pending(ssl_.get()) > 0;
}

bool Connection::buffered() const {
    return SSL_has_pending(ssl_.get()) == 1;
}

bool Connection::resumed() const {
    return SSL_session_reused(ssl_.get()) == 1;
}

void Connection::shutdown() {
    if (established_) SSL_shutdown(ssl_.get());
    ERR_clear_error();
}

}  // namespace clb::tls
