// tls::ClientContext and client tls::Connections against a tls::ServerContext over a
// socketpair, with a CA and certificates made by `openssl` in a temporary directory.
#include <ev.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/tls/tls.hpp"

namespace clb::tls {
namespace {

class Client : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string pattern = (std::filesystem::temp_directory_path() / "clb-tlsc.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            "-subj /CN=ca -addext basicConstraints=critical,CA:TRUE -keyout ca.key -out ca.pem");
        run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            "-subj /CN=other -addext basicConstraints=critical,CA:TRUE -keyout other.key "
            "-out other.pem");
        run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=srv "
            "-keyout srv.key -out srv.csr");
        std::ofstream(dir_ / "ext") << "subjectAltName=IP:127.0.0.1,DNS:backend.test\n";
        run("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
            "-extfile ext -out srv.pem");
    }
    static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
    static void run(const std::string& command) {
        std::string full = "cd " + dir_.string() + " && " + command + " >/dev/null 2>&1";
        ASSERT_EQ(std::system(full.c_str()), 0) << command;
    }
    static std::string path(const std::string& name) { return (dir_ / name).string(); }

    void SetUp() override {
        Settings s;
        s.cert_file = path("srv.pem");
        s.key_file = path("srv.key");
        server_context_ = ServerContext::load(s);
    }

    // A fresh socketpair with a server Connection on one end and a client on the other.
    void connect(const ClientContext& context, const std::string& ip) {
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        server_fd_.reset(fds[0]);
        client_fd_.reset(fds[1]);
        server_ = std::make_unique<Connection>(*server_context_, server_fd_.get());
        client_ = std::make_unique<Connection>(context, client_fd_.get(), ip, slot_);
    }
    // Steps both sides; true when both are established.
    bool shake() {
        int server = 0, client = 0;
        for (int i = 0; i < 100 && (server == 0 || client == 0); ++i) {
            if (client == 0) client = client_->handshake();
            if (server == 0) server = server_->handshake();
            if (client < 0 || server < 0) return false;
        }
        return server == 1 && client == 1;
    }
    // One request and response, so that TLS 1.3 tickets reach the client.
    void exchange() {
        ASSERT_EQ(client_->write("ping", 4), 4);
        char buf[64];
        bool eof = false;
        ASSERT_EQ(server_->read(buf, sizeof buf, eof), 4);
        ASSERT_EQ(server_->write("pong", 4), 4);
        ASSERT_EQ(client_->read(buf, sizeof buf, eof), 4);
        EXPECT_EQ(std::string(buf, 4), "pong");
    }
    std::shared_ptr<const ClientContext> context(const std::string& ca, std::string sni = "",
                                                 Verify verify = Verify::required) {
        ClientSettings s;
        s.verify = verify;
        s.ca_file = ca.empty() ? "" : path(ca);
        s.sni = std::move(sni);
        return ClientContext::load(s);
    }

    static inline std::filesystem::path dir_;
    std::shared_ptr<const ServerContext> server_context_;
    std::shared_ptr<SessionSlot> slot_ = std::make_shared<SessionSlot>();
    net::Fd server_fd_, client_fd_;
    std::unique_ptr<Connection> server_, client_;
};

TEST_F(Client, VerifiesTheChainAndTheIpAndCarriesData) {
    auto ctx = context("ca.pem");
    connect(*ctx, "127.0.0.1");
    ASSERT_TRUE(shake()) << client_->error() << server_->error();
    exchange();
    EXPECT_FALSE(client_->resumed());
}

TEST_F(Client, AnotherCaFailsWithOpenSslsReason) {
    auto ctx = context("other.pem");
    connect(*ctx, "127.0.0.1");
    EXPECT_FALSE(shake());
    EXPECT_EQ(client_->error(),
              "TLS handshake: certificate verify failed: unable to get local issuer certificate");
}

TEST_F(Client, AnotherIpOrNameIsAMismatch) {
    auto by_ip = context("ca.pem");
    connect(*by_ip, "127.0.0.2");
    EXPECT_FALSE(shake());
    EXPECT_EQ(client_->error(), "TLS handshake: certificate verify failed: IP address mismatch");
    auto by_name = context("ca.pem", "other.test");
    connect(*by_name, "127.0.0.1");
    EXPECT_FALSE(shake());
    EXPECT_EQ(client_->error(), "TLS handshake: certificate verify failed: hostname mismatch");
    auto good_name = context("ca.pem", "backend.test");
    connect(*good_name, "10.9.9.9");  // the name is checked, not the address
    EXPECT_TRUE(shake()) << client_->error();
}

TEST_F(Client, VerifyNoneAcceptsAnyCertificate) {
    auto ctx = context("", "", Verify::none);
    connect(*ctx, "127.0.0.2");
    EXPECT_TRUE(shake()) << client_->error();
}

TEST_F(Client, TheNextConnectionResumesTheSession) {
    auto ctx = context("ca.pem");
    connect(*ctx, "127.0.0.1");
    ASSERT_TRUE(shake()) << client_->error();
    exchange();
    ASSERT_TRUE(slot_->session);
    connect(*ctx, "127.0.0.1");
    ASSERT_TRUE(shake()) << client_->error();
    EXPECT_TRUE(client_->resumed());
}

TEST_F(Client, LoadBlamesTheCaFile) {
    std::ofstream(dir_ / "garbage.pem") << "not a certificate\n";
    ClientSettings s;
    s.ca_file = path("garbage.pem");
    try {
        ClientContext::load(s);
        FAIL() << "loaded";
    } catch (const LoadError& e) {
        EXPECT_EQ(e.part(), LoadError::Part::ca);
        EXPECT_EQ(std::string(e.what()).rfind("tls: cannot load CA file " + s.ca_file, 0), 0u)
            << e.what();
    }
}

TEST_F(Client, LoadsAClientPairAndBlamesAMismatchedKey) {
    ClientSettings s;
    s.ca_file = path("ca.pem");
    s.cert_file = path("srv.pem");
    s.key_file = path("srv.key");
    EXPECT_NE(ClientContext::load(s), nullptr);
    s.key_file = path("other.key");
    try {
        ClientContext::load(s);
        FAIL() << "loaded";
    } catch (const LoadError& e) {
        EXPECT_EQ(e.part(), LoadError::Part::key);
    }
}

}  // namespace
}  // namespace clb::tls
