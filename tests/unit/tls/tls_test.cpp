// tls::ServerContext and tls::Connection against OpenSSL's own client, over a socketpair,
// with certificates made by `openssl req` in a temporary directory.
#include "contrail_lb/tls/tls.hpp"

#include <ev.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "contrail_lb/net/fd.hpp"

namespace clb::tls {
namespace {

class Tls : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "clb-tls.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        make_pair("one");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // one.pem + one.key: a self-signed P-256 certificate and its key.
    void make_pair(const std::string& name) {
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            "-subj /CN=test -keyout " +
            path(name + ".key") + " -out " + path(name + ".pem") + " 2>/dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    Settings settings(const std::string& pair = "one") const {
        Settings s;
        s.cert_file = path(pair + ".pem");
        s.key_file = path(pair + ".key");
        return s;
    }
    // The LoadError that loading `s` throws; fails the test when none is thrown.
    static LoadError load_error(const Settings& s) {
        try {
            ServerContext::load(s);
        } catch (const LoadError& e) {
            return e;
        }
        ADD_FAILURE() << "loaded";
        return LoadError(LoadError::Part::other, "");
    }

    std::filesystem::path dir_;
};

TEST_F(Tls, LoadsAMatchingPair) {
    auto context = ServerContext::load(settings());
    ASSERT_NE(context, nullptr);
    EXPECT_NE(context->raw(), nullptr);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(context->raw()), TLS1_2_VERSION);
}

TEST_F(Tls, MinVersionIsApplied) {
    Settings s = settings();
    s.min_version = Version::tls1_3;
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ServerContext::load(s)->raw()), TLS1_3_VERSION);
}

TEST_F(Tls, MissingCertificateBlamesTheCert) {
    Settings s = settings();
    s.cert_file = path("none.pem");
    LoadError e = load_error(s);
    EXPECT_EQ(e.part(), LoadError::Part::cert);
    EXPECT_EQ(std::string(e.what()).rfind("tls: cannot load certificate " + s.cert_file, 0), 0u)
        << e.what();
}

TEST_F(Tls, GarbageKeyBlamesTheKey) {
    std::ofstream(dir_ / "bad.key") << "-----BEGIN PRIVATE KEY-----\nnot a key\n";
    Settings s = settings();
    s.key_file = path("bad.key");
    LoadError e = load_error(s);
    EXPECT_EQ(e.part(), LoadError::Part::key);
    EXPECT_EQ(std::string(e.what()).rfind("tls: cannot load key " + s.key_file, 0), 0u) << e.what();
}

TEST_F(Tls, KeyOfAnotherCertificateIsAMismatch) {
    make_pair("two");
    Settings s = settings();
    s.key_file = path("two.key");
    LoadError e = load_error(s);
    EXPECT_EQ(e.part(), LoadError::Part::key);
    EXPECT_EQ(std::string(e.what()),
              "tls: key " + s.key_file + " does not match certificate " + s.cert_file);
}

TEST_F(Tls, CipherListThatSelectsNothingBlamesCiphers) {
    Settings s = settings();
    s.ciphers = "NO-SUCH-CIPHER";
    LoadError e = load_error(s);
    EXPECT_EQ(e.part(), LoadError::Part::ciphers);
    EXPECT_EQ(std::string(e.what()).rfind("tls: no usable cipher in \"NO-SUCH-CIPHER\"", 0), 0u)
        << e.what();
}

// An OpenSSL client on one end of a socketpair, a tls::Connection on the other.
class Handshake : public Tls {
  protected:
    void SetUp() override {
        Tls::SetUp();
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        server_fd_.reset(fds[0]);
        client_fd_.reset(fds[1]);
        client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
        ASSERT_TRUE(client_ctx_);
    }
    void start(const Settings& s) {
        context_ = ServerContext::load(s);
        server_ = std::make_unique<Connection>(*context_, server_fd_.get());
        client_.reset(SSL_new(client_ctx_.get()));
        SSL_set_fd(client_.get(), client_fd_.get());
        SSL_set_connect_state(client_.get());
    }
    // Steps both sides until both are done or one failed; true when both are established.
    bool shake() {
        int server = 0, client = 0;
        for (int i = 0; i < 100 && (server == 0 || client != 1); ++i) {
            if (client != 1) {
                client = SSL_do_handshake(client_.get());
                if (client <= 0 && !wants_more(client)) return false;
            }
            if (server == 0) server = server_->handshake();
            if (server < 0) return false;
        }
        return server == 1 && client == 1;
    }
    bool wants_more(int ret) {
        int e = SSL_get_error(client_.get(), ret);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }

    net::Fd server_fd_, client_fd_;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client_ctx_{nullptr, &SSL_CTX_free};
    std::unique_ptr<SSL, decltype(&SSL_free)> client_{nullptr, &SSL_free};
    std::shared_ptr<const ServerContext> context_;
    std::unique_ptr<Connection> server_;
};

TEST_F(Handshake, CompletesAndCarriesDataBothWays) {
    start(settings());
    EXPECT_EQ(server_->handshake(), 0);  // nothing from the client yet
    EXPECT_EQ(server_->wants(), EV_READ);
    ASSERT_TRUE(shake()) << server_->error();
    EXPECT_TRUE(server_->established());

    ASSERT_EQ(SSL_write(client_.get(), "GET / HTTP/1.1\r\n", 16), 16);
    char buf[64];
    bool eof = false;
    ASSERT_EQ(server_->read(buf, sizeof buf, eof), 16);
    EXPECT_EQ(std::string(buf, 16), "GET / HTTP/1.1\r\n");
    EXPECT_FALSE(eof);
    EXPECT_EQ(server_->read(buf, sizeof buf, eof), 0);  // would block
    EXPECT_EQ(server_->wants(), EV_READ);

    ASSERT_EQ(server_->write("HTTP/1.1 200 OK\r\n", 17), 17);
    ASSERT_EQ(SSL_read(client_.get(), buf, sizeof buf), 17);
    EXPECT_EQ(std::string(buf, 17), "HTTP/1.1 200 OK\r\n");
    EXPECT_EQ(server_->write("", 0), 0);
}

TEST_F(Handshake, DataLeftInsideOpenSslIsPending) {
    start(settings());
    ASSERT_TRUE(shake()) << server_->error();
    ASSERT_EQ(SSL_write(client_.get(), "0123456789", 10), 10);
    char buf[4];
    bool eof = false;
    ASSERT_EQ(server_->read(buf, sizeof buf, eof), 4);
    EXPECT_TRUE(server_->pending());  // the socket is drained, the record is not
    char rest[16];
    EXPECT_EQ(server_->read(rest, sizeof rest, eof), 6);
    EXPECT_FALSE(server_->pending());
}

TEST_F(Handshake, CloseNotifyAndBareFinAreEndOfStream) {
    start(settings());
    ASSERT_TRUE(shake()) << server_->error();
    SSL_shutdown(client_.get());
    char buf[16];
    bool eof = false;
    EXPECT_EQ(server_->read(buf, sizeof buf, eof), 0);
    EXPECT_TRUE(eof);
    EXPECT_EQ(server_->wants(), 0);
}

TEST_F(Handshake, ServerShutdownSendsCloseNotify) {
    start(settings());
    ASSERT_TRUE(shake()) << server_->error();
    server_->shutdown();
    char buf[16];
    int ret = SSL_read(client_.get(), buf, sizeof buf);
    EXPECT_EQ(ret, 0);
    EXPECT_EQ(SSL_get_error(client_.get(), ret), SSL_ERROR_ZERO_RETURN);
}

TEST_F(Handshake, OffersHttp11OnlyThroughAlpn) {
    start(settings());
    static const unsigned char kProtos[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    ASSERT_EQ(SSL_set_alpn_protos(client_.get(), kProtos, sizeof kProtos), 0);
    ASSERT_TRUE(shake()) << server_->error();
    const unsigned char* selected = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(client_.get(), &selected, &len);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(selected), len), "http/1.1");
}

// The server picks the TLS 1.3 suite: AES-128-GCM (the cheaper SHA-256 key schedule) even
// when the client lists AES-256-GCM first, as OpenSSL's default client does.
TEST_F(Handshake, Tls13PrefersAes128Gcm) {
    start(settings());
    ASSERT_EQ(SSL_set_ciphersuites(client_.get(), "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"),
              1);
    ASSERT_TRUE(shake()) << server_->error();
    EXPECT_STREQ(SSL_get_cipher_name(client_.get()), "TLS_AES_128_GCM_SHA256");
}

// A client that offers only AES-256-GCM still gets it.
TEST_F(Handshake, Tls13AcceptsAes256GcmAlone) {
    start(settings());
    ASSERT_EQ(SSL_set_ciphersuites(client_.get(), "TLS_AES_256_GCM_SHA384"), 1);
    ASSERT_TRUE(shake()) << server_->error();
    EXPECT_STREQ(SSL_get_cipher_name(client_.get()), "TLS_AES_256_GCM_SHA384");
}

TEST_F(Handshake, ClientBelowMinVersionFails) {
    Settings s = settings();
    s.min_version = Version::tls1_3;
    SSL_CTX_set_max_proto_version(client_ctx_.get(), TLS1_2_VERSION);
    start(s);
    EXPECT_FALSE(shake());
    EXPECT_FALSE(server_->established());
    EXPECT_EQ(server_->error().rfind("TLS handshake: ", 0), 0u) << server_->error();
}

TEST_F(Handshake, PeerGoneMidHandshakeIsAnError) {
    start(settings());
    client_fd_.reset();
    EXPECT_EQ(server_->handshake(), -1);
    EXPECT_FALSE(server_->error().empty());
}

}  // namespace
}  // namespace clb::tls
