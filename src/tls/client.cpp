// The client side: contexts for backend_tls and connections to backends (origination).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "contrail_lb/tls/tls.hpp"
#include "tls/openssl_error.hpp"

namespace clb::tls {

using detail::openssl_error;

namespace {

// Keeps each new session (TLS 1.2: at the end of the handshake; TLS 1.3: each ticket,
// after it) in the connection's slot, for the next connection to the same backend.
int keep_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<SessionSlot*>(SSL_get_app_data(ssl));
    // A copy: freeing a connection without close_notify (any reset, any backend that
    // drops an idle connection) marks its own session not resumable.
    if (slot) {
        if (SessionPtr copy{SSL_SESSION_dup(session)}) slot->session = std::move(copy);
    }
    return 0;  // the connection keeps its reference
}

void load_client_pair(SSL_CTX* ctx, const ClientSettings& settings) {
    using Part = LoadError::Part;
    if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1)
        throw LoadError(Part::cert, "tls: cannot load certificate " + settings.cert_file + ": " +
                                        openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        throw LoadError(Part::key, "tls: cannot use key " + settings.key_file + " with " +
                                       settings.cert_file + ": " + openssl_error());
}

}  // namespace

std::shared_ptr<const ClientContext> ClientContext::load(const ClientSettings& settings) {
    using Part = LoadError::Part;
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) throw LoadError(Part::other, "tls: cannot create a context: " + openssl_error());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // A backend that ends a close-delimited response with a bare FIN is common: that is the
    // end of the stream, as over plain TCP, not an error.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // Sessions are kept per worker per backend (SessionSlot), never in OpenSSL's cache.
    SSL_CTX_set_session_cache_mode(ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.get(), &keep_session);
    bool verify = settings.verify == Verify::required;
    SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (!settings.ca_file.empty() &&
        SSL_CTX_load_verify_locations(ctx.get(), settings.ca_file.c_str(), nullptr) != 1)
        throw LoadError(Part::ca,
                        "tls: cannot load CA file " + settings.ca_file + ": " + openssl_error());
    if (!settings.cert_file.empty() || !settings.key_file.empty())
        load_client_pair(ctx.get(), settings);
    ERR_clear_error();
    return std::shared_ptr<const ClientContext>(
        new ClientContext(std::move(ctx), verify, settings.sni));
}

Connection::Connection(const ClientContext& context, int fd, const std::string& ip,
                       std::shared_ptr<SessionSlot> sessions)
    : ssl_(SSL_new(context.raw())), sessions_(std::move(sessions)) {
    if (!ssl_) throw std::runtime_error("tls: SSL_new: " + openssl_error());
    SSL* ssl = ssl_.get();
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, sessions_.get());
    const std::string& sni = context.sni();
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
    if (context.verifies()) {
        // The chain alone proves nothing about whom we reached: the name or IP must match.
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = sni.empty() ? X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str())
                             : X509_VERIFY_PARAM_set1_host(param, sni.c_str(), sni.size());
        if (ok != 1) throw std::runtime_error("tls: cannot check the name: " + openssl_error());
    }
    if (sessions_ && sessions_->session && SSL_SESSION_is_resumable(sessions_->session.get()))
        SSL_set_session(ssl, sessions_->session.get());  // takes its own reference
    ERR_clear_error();
}

std::string Connection::failure_reason() {
    long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
        ERR_clear_error();
        return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    }
    return openssl_error();
}

}  // namespace clb::tls
