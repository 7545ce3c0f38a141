// The pick/connect/retry path (src/proxy/connector.hpp) against real sockets on
// 127.0.0.0/8, with the snapshot changing in the middle of a connect: a reload adding
// backends in front of the one being connected to, a reload removing the service, a
// drain, a health change. A pick must always be applied to the list it came from.
#include "proxy/connector.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::proxy {
namespace {

using runtime::Termination;

net::SocketAddress address(const std::string& text) {
    auto parsed = net::SocketAddress::parse(text);
    EXPECT_TRUE(parsed) << text;
    return *parsed;
}

net::Fd listen_on(const std::string& where, int backlog) {
    int error = 0;
    net::ListenOptions options;
    options.reuse_port = false;
    options.backlog = backlog;
    net::Fd fd = net::listen_tcp(address(where), options, error);
    EXPECT_TRUE(fd) << where << ": " << net::error_text(error);
    return fd;
}

// A backend whose connects hang: a listener never accepted, its backlog (0) filled, so
// the kernel drops further SYNs and the connect stays in progress.
class HangingBackend {
  public:
    HangingBackend() : listener_(listen_on("127.0.0.1:0", 0)) {
        address_ = net::local_address(listener_.get());
        for (int i = 0; i < 4; ++i) {
            int error = 0;
            fillers_.push_back(net::connect_tcp(address_, error));
        }
    }
    const net::SocketAddress& address() const { return address_; }

  private:
    net::Fd listener_;
    net::SocketAddress address_;
    std::vector<net::Fd> fillers_;
};

// A backend that accepts (the kernel completes the handshake; nobody needs to accept).
class OpenBackend {
  public:
    OpenBackend() : listener_(listen_on("127.0.0.1:0", 16)) {
        address_ = net::local_address(listener_.get());
    }
    const net::SocketAddress& address() const { return address_; }

  private:
    net::Fd listener_;
    net::SocketAddress address_;
};

// A port nothing listens on: connects are refused.
net::SocketAddress refusing_address() {
    net::Fd fd = listen_on("127.0.0.1:0", 1);
    return net::local_address(fd.get());  // closed on return
}

struct Failure {
    std::string backend;
    int error;
};

// The worker's side of the Connector: a Registry whose every publish installs a new
// Routing, as Worker::Impl does with the snapshots it receives.
class Host final : public ConnectorHost {
  public:
    Host() : upstreams_(loop_.raw(), buffers_) {
        registry_.subscribe([this](const std::shared_ptr<const runtime::Snapshot>& snapshot) {
            routing_ = std::make_shared<Routing>(snapshot, 1);
        });
    }

    const std::shared_ptr<Routing>& routing() const override { return routing_; }
    UpstreamPool& upstreams() override { return upstreams_; }
    std::shared_ptr<const tls::ClientContext> backend_tls(std::string_view) const override {
        return nullptr;
    }
    void connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                        std::string_view, const config::Service&) override {
        failures.push_back({backend->name, error});
    }

    runtime::Registry& registry() { return registry_; }

    // One service "svc" (no health checks: every backend UP) with `backends` in order.
    void apply(const std::vector<std::pair<std::string, net::SocketAddress>>& backends,
               unsigned retries = 2, bool with_service = true) {
        auto config = std::make_shared<config::Config>();
        config::Service other;
        other.name = "other";
        other.backends.push_back({"o1", address("127.0.0.1:1"), 1, false});
        config->services.push_back(other);
        if (with_service) {
            config::Service svc;
            svc.name = "svc";
            svc.retries = retries;
            for (const auto& [name, addr] : backends)
                svc.backends.push_back({name, addr, 1, false});
            config->services.push_back(svc);
        }
        registry_.apply(std::move(config));
    }

    std::vector<Failure> failures;

  private:
    net::Loop loop_;
    BufferPool buffers_;
    UpstreamPool upstreams_;
    runtime::Registry registry_;
    std::shared_ptr<Routing> routing_;
};

// True when `entry` is one of the backends of "svc" in the host's newest snapshot.
bool in_newest(Host& host, const runtime::BackendEntry* entry) {
    const auto* svc = host.routing()->snapshot->find("svc");
    if (!svc || !entry) return false;
    for (const auto& b : svc->backends)
        if (&b == entry) return true;
    return false;
}

TEST(Connector, ReloadAddingBackendsMidConnectRetriesOnTheNewList) {
    HangingBackend hang;
    OpenBackend open;
    Host host;
    host.apply({{"hang", hang.address()}});

    Connector connector(host, "svc", 42);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);
    EXPECT_EQ(connector.backend()->state->name, "hang");
    std::weak_ptr<Routing> pinned = host.routing();

    // The reload lands while the connect hangs: three backends in front of it.
    host.apply({{"a", open.address()},
                {"b", open.address()},
                {"c", open.address()},
                {"hang", hang.address()}});
    EXPECT_FALSE(pinned.expired()) << "the connect in progress keeps its Routing";

    up.reset();
    connector.failed(ETIMEDOUT);
    auto next = connector.connect(false);
    ASSERT_TRUE(next) << connector.why();
    EXPECT_TRUE(in_newest(host, connector.backend()));
    EXPECT_NE(connector.backend()->state->name, "hang") << "tried already";
    EXPECT_TRUE(pinned.expired()) << "the retry moved to the newest Routing";
}

TEST(Connector, ReloadRemovingTheServiceMidConnectEndsTheRequest) {
    HangingBackend hang;
    Host host;
    host.apply({{"hang", hang.address()}});
    Connector connector(host, "svc", 42);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);

    host.apply({}, 2, /*with_service=*/false);
    up.reset();
    connector.failed(ETIMEDOUT);
    EXPECT_FALSE(connector.connect(false));
    EXPECT_EQ(connector.cause(), Termination::no_backend);
    EXPECT_EQ(connector.why(), "service removed by a reload");
    EXPECT_FALSE(connector.begin()) << "a later request sees the service gone too";
}

TEST(Connector, DrainAndEnableMidConnect) {
    HangingBackend hang;
    OpenBackend open;
    Host host;
    host.apply({{"hang", hang.address()}, {"open", open.address()}});
    ASSERT_TRUE(host.registry().set_drained("svc", "open", true));

    Connector connector(host, "svc", 7);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);
    ASSERT_EQ(connector.backend()->state->name, "hang");
    const auto* pinned_entry = connector.backend();

    // Drain the backend being connected to, enable the other: two snapshot changes.
    ASSERT_TRUE(host.registry().set_drained("svc", "hang", true));
    ASSERT_TRUE(host.registry().set_drained("svc", "open", false));
    EXPECT_EQ(connector.backend(), pinned_entry) << "still the pinned snapshot's entry";
    EXPECT_EQ(connector.backend()->state->name, "hang");

    up.reset();
    connector.failed(ETIMEDOUT);
    auto next = connector.connect(false);
    ASSERT_TRUE(next) << connector.why();
    EXPECT_TRUE(in_newest(host, connector.backend()));
    EXPECT_EQ(connector.backend()->state->name, "open");
    ASSERT_EQ(host.failures.size(), 1u);
    EXPECT_EQ(host.failures[0].backend, "hang");
    EXPECT_EQ(host.failures[0].error, ETIMEDOUT);
}

TEST(Connector, HealthDownMidConnectLeavesNothingToRetry) {
    HangingBackend hang;
    OpenBackend open;
    Host host;
    host.apply({{"hang", hang.address()}, {"open", open.address()}});
    ASSERT_TRUE(host.registry().set_drained("svc", "open", true));
    Connector connector(host, "svc", 7);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);

    // The only other backend stays drained; the one in progress goes DOWN.
    auto backend = connector.backend()->state;
    host.registry().set_health(*backend, false, "test");
    up.reset();
    connector.failed(ETIMEDOUT);
    EXPECT_FALSE(connector.connect(false));
    EXPECT_EQ(connector.cause(), Termination::connect_timeout);
    EXPECT_EQ(connector.why(), "no backend accepted the connection");
}

TEST(Connector, TriedBackendsStayExcludedAcrossSnapshots) {
    // Three refusing backends, retries 5: each is tried once, then the request ends, even
    // with a reload reordering them between attempts.
    Host host;
    auto a = refusing_address(), b = refusing_address(), c = refusing_address();
    host.apply({{"a", a}, {"b", b}, {"c", c}}, 5);
    Connector connector(host, "svc", 1);
    ASSERT_TRUE(connector.begin());
    // A refused connect may fail at once (inside connect()) or later (failed()).
    for (int round = 0; round < 10; ++round) {
        auto up = connector.connect(false);
        if (!up) break;
        host.apply({{"c", c}, {"b", b}, {"a", a}}, 5);  // same backends, new order
        up.reset();
        connector.failed(ECONNREFUSED);
    }
    std::vector<std::string> seen;
    for (const auto& f : host.failures)
        seen.push_back(f.backend);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(connector.cause(), Termination::backend_refused);
    EXPECT_EQ(connector.attempts(), 3u);
}

TEST(Connector, RetriesAreBounded) {
    Host host;
    host.apply({{"a", refusing_address()}, {"b", refusing_address()}, {"c", refusing_address()}},
               1);
    Connector connector(host, "svc", 1);
    ASSERT_TRUE(connector.begin());
    while (auto up = connector.connect(false)) {
        up.reset();
        connector.failed(ECONNREFUSED);
    }
    EXPECT_EQ(connector.attempts(), 2u) << "one attempt plus retries: 1";
    EXPECT_EQ(connector.cause(), Termination::backend_refused);
}

TEST(Connector, LocalErrorEndsTheRequestWithoutTryingOthers) {
    OpenBackend one, two;
    Host host;
    host.apply({{"one", one.address()}, {"two", two.address()}});
    Connector connector(host, "svc", 1);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);
    up.reset();
    connector.failed(EMFILE);  // our own fd limit, not the backend's fault
    EXPECT_FALSE(connector.connect(false));
    EXPECT_EQ(connector.cause(), Termination::local_resource);
    EXPECT_EQ(host.failures.size(), 1u);
}

TEST(Connector, ReleaseUnpinsTheRouting) {
    OpenBackend open;
    Host host;
    host.apply({{"open", open.address()}});
    Connector connector(host, "svc", 1);
    ASSERT_TRUE(connector.begin());
    auto up = connector.connect(false);
    ASSERT_TRUE(up);
    std::weak_ptr<Routing> pinned = host.routing();
    host.apply({{"open", open.address()}}, 3);
    EXPECT_FALSE(pinned.expired());
    connector.release();
    EXPECT_TRUE(pinned.expired());
    EXPECT_EQ(connector.service(), nullptr);
}

TEST(Termination, LocalErrorsAreNotTheBackendsFault) {
    for (int error : {EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL}) {
        EXPECT_FALSE(runtime::backend_caused(error)) << error;
        EXPECT_EQ(runtime::connect_termination(error), Termination::local_resource);
    }
    for (int error : {ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH})
        EXPECT_TRUE(runtime::backend_caused(error)) << error;
    EXPECT_EQ(runtime::connect_termination(ECONNREFUSED), Termination::backend_refused);
    EXPECT_EQ(runtime::connect_termination(ETIMEDOUT), Termination::connect_timeout);
    EXPECT_EQ(runtime::name(Termination::shutdown), "shutdown");
    EXPECT_EQ(runtime::name(Termination::completed), "completed");
}

}  // namespace
}  // namespace clb::proxy
