// What the library itself charges the server for one TLS 1.3 handshake, before any socket,
// event loop or proxy work: contrail-lb's server context (tls::ServerContext, RSA-2048,
// shared ticket keys) against an OpenSSL client over a memory BIO pair, the server's calls
// alone timed. The floor under the bench harness's "TLS new connection" workloads
// (docs/benchmarks.md): HAProxy and nginx link the same libssl and pay it as well.
//
//   BM_ServerHandshake/resumed:0|1/suite:0|1   full or resumed; AES-128-GCM-SHA256 or
//                                              AES-256-GCM-SHA384 (what the client offers)
//   BM_X25519                                  one key pair and one shared secret: the
//                                              ephemeral exchange a resumption still makes
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "contrail_lb/tls/tickets.hpp"
#include "contrail_lb/tls/tls.hpp"

using namespace clb;

namespace {

constexpr const char* kSuites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

// A self-signed RSA-2048 pair in a temporary directory, as the harness's targets use.
class Certificate {
  public:
    Certificate() {
        std::string pattern = (std::filesystem::temp_directory_path() / "clb-tls-bench-XXXXXX");
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
        dir_ = pattern;
        std::string command =
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench "
            "-keyout " +
            key() + " -out " + cert() + " 2>/dev/null";
        if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed");
    }
    ~Certificate() { std::filesystem::remove_all(dir_); }
    std::string cert() const { return (dir_ / "cert.pem").string(); }
    std::string key() const { return (dir_ / "key.pem").string(); }

  private:
    std::filesystem::path dir_;
};

struct Client {
    explicit Client(const char* suite) : ctx(SSL_CTX_new(TLS_client_method())) {
        SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
        SSL_CTX_set_ciphersuites(ctx.get(), suite);
    }
    tls::CtxPtr ctx;
    tls::SessionPtr session;  // the ticket of the last handshake, to resume with
};

using Clock = std::chrono::steady_clock;

// One connection: both ends stepped in turn until the client holds its new ticket. Returns
// the server's time (SSL_new to SSL_free included: it is paid per connection).
Clock::duration handshake(const tls::ServerContext& server, Client& client, bool resume) {
    Clock::duration spent{};
    auto timed = [&](auto&& step) {
        auto t0 = Clock::now();
        step();
        spent += Clock::now() - t0;
    };
    BIO *client_bio = nullptr, *server_bio = nullptr;
    BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
    tls::SslPtr c(SSL_new(client.ctx.get()));
    SSL_set_bio(c.get(), client_bio, client_bio);
    SSL_set_connect_state(c.get());
    if (resume && client.session) SSL_set_session(c.get(), client.session.get());
    tls::SslPtr s;
    timed([&] {
        s.reset(SSL_new(server.raw()));
        SSL_set_bio(s.get(), server_bio, server_bio);
        SSL_set_accept_state(s.get());
    });
    bool server_done = false;
    for (int round = 0; round < 8 && !(server_done && SSL_is_init_finished(c.get())); ++round) {
        SSL_do_handshake(c.get());
        timed([&] { server_done = SSL_do_handshake(s.get()) == 1; });
    }
    char byte;
    SSL_read(c.get(), &byte, 1);  // takes the NewSessionTicket (no data follows)
    if (!server_done) throw std::runtime_error("the handshake did not finish");
    if (SSL_session_reused(s.get()) != (resume && client.session ? 1 : 0))
        throw std::runtime_error(resume ? "the session was not resumed" : "a session was resumed");
    client.session.reset(SSL_get1_session(c.get()));
    SSL_shutdown(c.get());  // a client freed without it marks its session not resumable
    timed([&] { s.reset(); });
    return spent;
}

void BM_ServerHandshake(benchmark::State& state) {
    static const Certificate certificate;
    bool resume = state.range(0) != 0;
    tls::Settings settings;
    settings.cert_file = certificate.cert();
    settings.key_file = certificate.key();
    auto server = tls::ServerContext::load(
        settings, std::make_shared<tls::TicketKeys>(settings.session_timeout));
    Client client(kSuites[state.range(1)]);
    handshake(*server, client, false);  // a first ticket
    for (auto _ : state)
        state.SetIterationTime(
            std::chrono::duration<double>(handshake(*server, client, resume)).count());
}
BENCHMARK(BM_ServerHandshake)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"resumed", "suite"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_X25519(benchmark::State& state) {
    EVP_PKEY* peer = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
    for (auto _ : state) {
        EVP_PKEY* mine = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
        EVP_PKEY_CTX* derive = EVP_PKEY_CTX_new(mine, nullptr);
        unsigned char secret[32];
        size_t length = sizeof secret;
        EVP_PKEY_derive_init(derive);
        EVP_PKEY_derive_set_peer(derive, peer);
        EVP_PKEY_derive(derive, secret, &length);
        benchmark::DoNotOptimize(secret);
        EVP_PKEY_CTX_free(derive);
        EVP_PKEY_free(mine);
    }
    EVP_PKEY_free(peer);
}
BENCHMARK(BM_X25519)->Unit(benchmark::kMicrosecond);

}  // namespace
