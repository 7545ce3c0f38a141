#include "contrail_lb/tls/tls.hpp"

#include <ev.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <fstream>
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

// OpenSSL's default size, said here: ~0.5 KiB per TLS 1.2 session without a client
// certificate, so at most ~10 MiB per service.
constexpr long kSessionCacheSize = 20 * 1024;

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

// Seals and opens session tickets with the service's shared keys (tickets.hpp): 1 = done,
// 2 = done, and issue a fresh ticket (under the current key), 0 = unknown or retired key
// (a full handshake), -1 = failure.
int ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
               EVP_MAC_CTX* mac, int encrypt) noexcept {
    auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    auto now = TicketKeys::Clock::now();
    std::optional<TicketKeys::Key> key;
    bool renew = false;
    try {
        if (encrypt) {
            key = keys->issuing(now);
        } else {
            key = keys->accepting(name, now, renew);
            if (!key) return 0;
        }
    } catch (const std::exception&) {
        return -1;  // no randomness for a new key: no ticket
    }
    // TLS 1.3 sends a ticket after a resumption only when asked to renew: without it the
    // client's next connection has no unused ticket left and makes a full handshake.
    int result = renew || SSL_version(ssl) >= TLS1_3_VERSION ? 2 : 1;
    if (encrypt) {
        std::memcpy(name, key->name.data(), key->name.size());
        if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1 ||
            EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1)
            result = -1;
    } else if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes.data(), iv) != 1) {
        result = -1;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key->hmac.data(), key->hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (result > 0 && EVP_MAC_CTX_set_params(mac, params) != 1) result = -1;
    OPENSSL_cleanse(&*key, sizeof *key);
    return result;
}

// Resumption: tickets sealed with the shared keys (or none at all), a session cache for
// TLS 1.2 clients without tickets, both bounded by the session timeout.
void set_resumption(SSL_CTX* ctx, const Settings& settings, TicketKeys* tickets) {
    SSL_CTX_set_timeout(ctx, static_cast<long>(settings.session_timeout.count()));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
    if (!settings.session_tickets) {
        // TLS 1.3 would otherwise send stateful tickets (session IDs) instead: none at all.
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
        return;
    }
    // One ticket per handshake: an HTTP/1.1 client resumes with the last it got, and each
    // costs the server an encryption and a record.
    SSL_CTX_set_num_tickets(ctx, 1);
    if (!tickets) return;
    SSL_CTX_set_app_data(ctx, tickets);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &ticket_key);
}

}  // namespace

bool kernel_has_tls() {
    std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
    std::string name;
    while (in >> name) {
        if (name == "tls") return true;
    }
    return false;
}

std::shared_ptr<const ServerContext> ServerContext::load(const Settings& settings,
                                                         std::shared_ptr<TicketKeys> tickets) {
    using Part = LoadError::Part;
    CtxPtr owned(SSL_CTX_new(TLS_server_method()));
    if (!owned) throw LoadError(Part::other, "tls: cannot create a context: " + openssl_error());
    SSL_CTX* ctx = owned.get();
    TicketKeys* keys = tickets.get();
    // make_shared cannot reach the private constructor.
    std::shared_ptr<ServerContext> context(new ServerContext(std::move(owned), std::move(tickets)));
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
    // A socket read takes what is there, not a record header then its body: half the
    // reads (Connection::read takes every complete record it brought).
    SSL_CTX_set_read_ahead(ctx, 1);
    set_resumption(ctx, settings, keys);
    context->ktls_ =
        settings.ktls == Ktls::on || (settings.ktls == Ktls::auto_ && kernel_has_tls());
    if (context->ktls_) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    if (SSL_CTX_set_ciphersuites(ctx, kDefaultCiphersuites) != 1)
        throw LoadError(Part::other, "tls: cannot set the TLS 1.3 suites: " + openssl_error());
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
    if (lost_) return -1;
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        int ret = SSL_read_ex(ssl_.get(), buf + total, len - total, &n);
        if (ret == 1) {
            wants_ = 0;
            total += n;
            // With read-ahead one socket read may bring several records; the ones after
            // the first raise no socket event, so they are taken now.
            if (total < len && SSL_has_pending(ssl_.get()) == 1) continue;
            return static_cast<ssize_t>(total);
        }
        if (total == 0) return read_failed(ret, eof);
        // Bytes in hand go up first; the end or failure behind them comes with the next
        // read (an end stays; a lost connection is remembered, as the socket would then
        // say EOF).
        int error = SSL_get_error(ssl_.get(), ret);
        wants_ = error == SSL_ERROR_WANT_READ    ? EV_READ
                 : error == SSL_ERROR_WANT_WRITE ? EV_WRITE
                                                 : 0;
        if (error == SSL_ERROR_SYSCALL) {
            lost_ = true;
            error_ = "TLS read: connection lost";
        }
        ERR_clear_error();
        return static_cast<ssize_t>(total);
    }
}

ssize_t Connection::read_failed(int ret, bool& eof) {
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
    // Decrypted bytes, or (read-ahead) records the last read left for want of room; after
    // a read that waits for the socket, what OpenSSL holds is an incomplete record.
    return SSL_pending(ssl_.get()) > 0 || (wants_ != EV_READ && SSL_has_pending(ssl_.get()) == 1);
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
