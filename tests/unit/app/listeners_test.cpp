// app::Listeners: what a reload binds, keeps and closes, on real sockets. Kept addresses
// keep their very sockets (and so the connections in their accept queues).
#include "app/listeners.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/net/socket.hpp"

namespace clb::app {
namespace {

config::Service service(std::string name, std::vector<std::string> listen) {
    config::Service svc;
    svc.name = std::move(name);
    for (const auto& text : listen)
        svc.listen.push_back(*net::SocketAddress::parse(text));
    svc.backends = {{"b1", *net::SocketAddress::parse("127.0.0.1:9101"), 1, false}};
    return svc;
}

config::Config config_of(std::vector<config::Service> services) {
    config::Config cfg;
    cfg.services = std::move(services);
    return cfg;
}

// A loopback port nothing listens on right now (taken and given back).
std::string free_address() {
    int err = 0;
    net::Fd probe =
        net::listen_tcp(*net::SocketAddress::parse("127.0.0.1:0"), {.reuse_port = false}, err);
    return net::local_address(probe.get()).to_string();
}

std::vector<std::shared_ptr<net::Fd>> fds_of(const Listeners& listeners, unsigned worker) {
    std::vector<std::shared_ptr<net::Fd>> out;
    for (const auto& l : listeners.for_worker(worker))
        out.push_back(l.fd);
    return out;
}

TEST(Listeners, BindsOneSocketPerAddressPerWorker) {
    Listeners listeners(3);
    std::string a = free_address(), b = free_address();
    EXPECT_TRUE(listeners.apply(config_of({service("api", {a, b})})).empty());
    EXPECT_TRUE(listeners.listening("api"));
    EXPECT_FALSE(listeners.listening("other"));
    for (unsigned w = 0; w < 3; ++w) {
        auto sockets = listeners.for_worker(w);
        ASSERT_EQ(sockets.size(), 2u);
        for (const auto& s : sockets) {
            EXPECT_EQ(s.service, "api");
            EXPECT_EQ(s.tls, nullptr);
            EXPECT_EQ(net::local_address(s.fd->get()), s.address);
        }
    }
    EXPECT_NE(fds_of(listeners, 0)[0], fds_of(listeners, 1)[0]);  // SO_REUSEPORT, one each
}

TEST(Listeners, ReloadKeepsSocketsOfAddressesThatStay) {
    Listeners listeners(2);
    std::string kept = free_address(), dropped = free_address(), added = free_address();
    ASSERT_TRUE(listeners.apply(config_of({service("api", {kept, dropped})})).empty());
    std::shared_ptr<net::Fd> kept_fd, dropped_fd;
    for (const auto& l : listeners.for_worker(0))
        (l.address.to_string() == kept ? kept_fd : dropped_fd) = l.fd;
    int dropped_raw = dropped_fd->get();
    std::weak_ptr<net::Fd> dropped_alive = dropped_fd;
    dropped_fd.reset();

    ASSERT_TRUE(listeners.apply(config_of({service("api", {kept, added})})).empty());
    auto sockets = listeners.for_worker(0);
    ASSERT_EQ(sockets.size(), 2u);
    bool kept_same = false;
    for (const auto& l : sockets) {
        if (l.address.to_string() == kept) kept_same = l.fd == kept_fd;
        if (l.address.to_string() == added) {
            EXPECT_NE(l.fd, kept_fd);
        }
    }
    EXPECT_TRUE(kept_same);
    EXPECT_TRUE(dropped_alive.expired());
    // Closed for good: the port can be bound again, even without SO_REUSEPORT.
    int err = 0;
    EXPECT_TRUE(net::listen_tcp(*net::SocketAddress::parse(dropped), {.reuse_port = false}, err))
        << net::error_text(err) << " (fd " << dropped_raw << ")";
}

TEST(Listeners, AnAddressMayMoveToAnotherService) {
    Listeners listeners(1);
    std::string addr = free_address();
    ASSERT_TRUE(listeners.apply(config_of({service("old", {addr})})).empty());
    auto fd = fds_of(listeners, 0).at(0);
    ASSERT_TRUE(listeners.apply(config_of({service("new", {addr})})).empty());
    auto sockets = listeners.for_worker(0);
    ASSERT_EQ(sockets.size(), 1u);
    EXPECT_EQ(sockets[0].service, "new");
    EXPECT_EQ(sockets[0].fd, fd);
    EXPECT_TRUE(listeners.listening("new"));
    EXPECT_FALSE(listeners.listening("old"));
}

TEST(Listeners, AnAddressInUseIsAnErrorAndTheServiceIsNotComplete) {
    std::string addr = free_address();
    int err = 0;
    net::Fd squatter =
        net::listen_tcp(*net::SocketAddress::parse(addr), {.reuse_port = false}, err);
    ASSERT_TRUE(squatter);
    Listeners listeners(2);
    std::string other = free_address();
    auto errors = listeners.apply(config_of({service("api", {addr, other})}));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "api: cannot listen on " + addr + ": Address already in use");
    EXPECT_FALSE(listeners.listening("api"));
    ASSERT_EQ(listeners.for_worker(1).size(), 1u);  // the other address still serves
    EXPECT_EQ(listeners.for_worker(1)[0].address.to_string(), other);

    squatter.reset();  // a later reload binds it
    EXPECT_TRUE(listeners.apply(config_of({service("api", {addr, other})})).empty());
    EXPECT_TRUE(listeners.listening("api"));
}

class TlsListeners : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "clb-listeners-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
            "-nodes -days 1 -subj /CN=test -keyout " +
            path("one.key") + " -out " + path("one.pem") + " 2>/dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    config::Service tls_service(const std::string& addr) const {
        config::Service svc = service("secure", {addr});
        svc.tls = config::Tls{};
        svc.tls->cert_file = path("one.pem");
        svc.tls->key_file = path("one.key");
        return svc;
    }

    std::filesystem::path dir_;
};

TEST_F(TlsListeners, LoadTheCertificateForEveryWorker) {
    Listeners listeners(2);
    ASSERT_TRUE(listeners.apply(config_of({tls_service(free_address())})).empty());
    auto first = listeners.for_worker(0).at(0).tls;
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(listeners.for_worker(1).at(0).tls, first);  // one context, shared
}

TEST_F(TlsListeners, ABrokenCertificateOnReloadKeepsThePreviousOne) {
    Listeners listeners(1);
    std::string addr = free_address();
    ASSERT_TRUE(listeners.apply(config_of({tls_service(addr)})).empty());
    auto before = listeners.for_worker(0).at(0);

    std::ofstream(dir_ / "one.pem") << "renewed, badly\n";
    auto errors = listeners.apply(config_of({tls_service(addr)}));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("secure: tls: cannot load certificate ", 0), 0u) << errors[0];
    EXPECT_NE(errors[0].find("; keeping the previous certificate"), std::string::npos) << errors[0];
    auto after = listeners.for_worker(0).at(0);
    EXPECT_EQ(after.tls, before.tls);
    EXPECT_EQ(after.fd, before.fd);
    EXPECT_TRUE(listeners.listening("secure"));
}

TEST_F(TlsListeners, ABrokenCertificateAtStartIsNotListening) {
    std::ofstream(dir_ / "one.pem") << "not a certificate\n";
    Listeners listeners(1);
    auto errors = listeners.apply(config_of({tls_service(free_address())}));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("; not listening"), std::string::npos) << errors[0];
    EXPECT_TRUE(listeners.for_worker(0).empty());
    EXPECT_FALSE(listeners.listening("secure"));
}

}  // namespace
}  // namespace clb::app
