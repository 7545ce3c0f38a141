// The health checker against real sockets on 127.0.0.1: listeners and a tiny HTTP
// responder driven by the same libev loop as the checker, a Registry applied from a
// Config built in code. Every wait is bounded and polls an event, never a fixed sleep.
#include "contrail_lb/health/checker.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::health {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs `loop` until `done()` holds or `limit` passes; false on timeout.
bool run_until(net::Loop& loop, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 3s) {
    net::Timer tick(loop.raw(), [] {});  // bounds each loop iteration
    tick.start(0.005, 0.005);
    auto deadline = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        ev_run(loop.raw(), EVRUN_ONCE);
    }
    return true;
}

// Listens on an ephemeral 127.0.0.1 port; answers each request with `status`, or holds the
// connection without a word (silent), or answers garbage.
class Responder {
  public:
    enum class Mode { respond, silent, garbage, reset };

    explicit Responder(struct ev_loop* loop, const char* listen = "127.0.0.1:0")
        : loop_(loop), accept_(loop, [this](int) { accept_all(); }) {
        int error = 0;
        net::ListenOptions options;
        options.reuse_port = false;
        listener_ = net::listen_tcp(*net::SocketAddress::parse(listen), options, error);
        EXPECT_TRUE(listener_) << net::error_text(error);
        address_ = net::local_address(listener_.get());
        accept_.start(listener_.get(), EV_READ);
    }

    const net::SocketAddress& address() const { return address_; }
    void set_status(int status) { status_ = status; }
    void set_mode(Mode mode) { mode_ = mode; }
    void close_listener() {
        accept_.stop();
        listener_.reset();
    }
    int requests() const { return requests_; }

  private:
    struct Connection {
        Connection(struct ev_loop* loop, net::Fd socket, Responder& owner)
            : fd(std::move(socket)), io(loop, [this, &owner](int) { owner.on_readable(*this); }) {
            io.start(fd.get(), EV_READ);
        }
        net::Fd fd;
        net::IoWatcher io;
        std::string received;
    };

    void accept_all() {
        for (;;) {
            int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            connections_.emplace_back(loop_, net::Fd(fd), *this);
        }
    }

    // Closed connections stay in the list (their watcher may be the caller) until the
    // Responder goes away.
    void on_readable(Connection& c) {
        char buf[4096];
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            c.io.stop();
            c.fd.reset();
            return;
        }
        c.received.append(buf, static_cast<size_t>(n));
        if (c.received.find("\r\n\r\n") == std::string::npos) return;
        ++requests_;
        last_request_ = c.received;
        if (mode_ == Mode::silent) return;
        if (mode_ == Mode::reset) {
            linger abort{1, 0};  // close() sends RST
            ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
            c.io.stop();
            c.fd.reset();
            return;
        }
        std::string reply = mode_ == Mode::garbage
                                ? std::string("HELLO THERE\r\n\r\n")
                                : "HTTP/1.1 " + std::to_string(status_) +
                                      " Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)::send(c.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
        c.io.stop();
        c.fd.reset();
    }

  public:
    std::string last_request_;

  private:
    struct ev_loop* loop_;
    net::Fd listener_;
    net::IoWatcher accept_;
    net::SocketAddress address_;
    std::list<Connection> connections_;
    int status_ = 200;
    Mode mode_ = Mode::respond;
    int requests_ = 0;
};

config::HealthCheck check_settings(config::CheckType type, config::Duration interval,
                                   config::Duration timeout, unsigned rise, unsigned fall) {
    config::HealthCheck hc;
    hc.type = type;
    hc.path = "/healthz";
    hc.interval = interval;
    hc.timeout = timeout;
    hc.rise = rise;
    hc.fall = fall;
    return hc;
}

std::shared_ptr<const config::Config> make_config(const config::HealthCheck& hc,
                                                  const std::vector<net::SocketAddress>& backends) {
    auto cfg = std::make_shared<config::Config>();
    config::Service svc;
    svc.name = "contrail-api";
    svc.listen.push_back(*net::SocketAddress::parse("127.0.0.1:0"));
    svc.health_check = hc;
    for (size_t i = 0; i < backends.size(); ++i)
        svc.backends.push_back({"api" + std::to_string(i + 1), backends[i]});
    cfg->services.push_back(std::move(svc));
    return cfg;
}

// A loop, a Registry, a Checker, and a record of every transition and log line.
class CheckerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        previous_logger_ = spdlog::default_logger();
        log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
        log_->set_pattern("%v");
        auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto logger =
            std::make_shared<spdlog::logger>("health-test", spdlog::sinks_init_list{log_, console});
        logger->set_level(spdlog::level::debug);
        console->set_level(spdlog::level::info);
        spdlog::set_default_logger(logger);
        registry_.subscribe([this](const std::shared_ptr<const runtime::Snapshot>& snap) {
            for (const auto& svc : snap->services)
                for (const auto& b : svc.backends) {
                    auto& last = last_up_[b.state.get()];
                    if (last != b.up) transitions_.push_back({b.state.get(), b.up, Clock::now()});
                    last = b.up;
                }
        });
    }
    void TearDown() override { spdlog::set_default_logger(previous_logger_); }

    void apply(std::shared_ptr<const config::Config> cfg) {
        registry_.apply(std::move(cfg));
        checker_.apply(*registry_.snapshot());
    }
    std::shared_ptr<runtime::Backend> backend(size_t i) const {
        return registry_.snapshot()->services.at(0).backends.at(i).state;
    }
    const runtime::HealthDetail& health(size_t i) const { return *registry_.health(*backend(i)); }
    bool up(size_t i) const { return health(i).up; }
    int downs(size_t i) const {
        return static_cast<int>(
            std::count_if(transitions_.begin(), transitions_.end(),
                          [&](auto& t) { return t.backend == backend(i).get() && !t.up; }));
    }
    int log_lines_containing(const std::string& text) const {
        auto lines = log_->last_formatted();
        return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
            return l.find(text) != std::string::npos;
        }));
    }
    std::string label(size_t i) const {
        return "backend contrail-api/api" + std::to_string(i + 1) + " (" +
               backend(i)->address.to_string() + ")";
    }

    struct Transition {
        const runtime::Backend* backend;
        bool up;
        Clock::time_point at;
    };

    net::Loop loop_;
    runtime::Registry registry_;
    Checker checker_{loop_.raw(), registry_};
    std::vector<Transition> transitions_;
    std::map<const runtime::Backend*, bool> last_up_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
    std::shared_ptr<spdlog::logger> previous_logger_;
};

TEST_F(CheckerTest, TcpUpThenDownWhenListenerCloses) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::tcp, 200ms, 100ms, 2, 2),
                      {server.address()}));
    EXPECT_FALSE(up(0));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    EXPECT_EQ(health(0).last_reason, "connected");
    EXPECT_EQ(log_lines_containing(label(0) + " is UP: connected"), 1);

    server.close_listener();
    auto closed_at = Clock::now();
    ASSERT_TRUE(run_until(loop_, [&] { return !up(0); }));
    auto detection =
        std::chrono::duration_cast<std::chrono::milliseconds>(transitions_.back().at - closed_at);
    std::printf(
        "[ measure  ] tcp check interval 200ms fall 2 timeout 100ms: DOWN %lld ms after "
        "the listener closed (bound: fall x interval x 1.05 + timeout = 520 ms)\n",
        static_cast<long long>(detection.count()));
    EXPECT_EQ(health(0).last_reason, "connection refused (2 consecutive failures)");
    EXPECT_EQ(
        log_lines_containing(label(0) + " is DOWN: connection refused (2 consecutive failures)"),
        1);
    EXPECT_EQ(downs(0), 1);
}

TEST_F(CheckerTest, HttpStatusDrivesState) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    EXPECT_EQ(health(0).last_reason, "status 200");
    EXPECT_EQ(server.last_request_,
              "GET /healthz HTTP/1.1\r\nHost: " + server.address().to_string() +
                  "\r\nUser-Agent: contrail-lb-health\r\nConnection: close\r\n\r\n");

    server.set_status(500);
    ASSERT_TRUE(run_until(loop_, [&] { return !up(0); }));
    EXPECT_EQ(health(0).last_reason, "status 500 (2 consecutive failures)");
    EXPECT_EQ(log_lines_containing(label(0) + " is DOWN: status 500 (2 consecutive failures)"), 1);

    // Once it has been UP, coming back takes `rise` successes.
    server.set_status(200);
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    EXPECT_EQ(health(0).last_reason, "status 200 (2 consecutive successes)");
}

TEST_F(CheckerTest, HttpSilentBackendTimesOut) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::http, 100ms, 150ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));

    server.set_mode(Responder::Mode::silent);
    ASSERT_TRUE(run_until(loop_, [&] { return !up(0); }));
    EXPECT_EQ(health(0).last_reason, "timeout after 150ms (2 consecutive failures)");
}

TEST_F(CheckerTest, HttpGarbageIsInvalid) {
    Responder server(loop_.raw());
    server.set_mode(Responder::Mode::garbage);
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).checks >= 2; }));
    EXPECT_FALSE(up(0));
    EXPECT_EQ(health(0).last_reason, "invalid HTTP response");
    EXPECT_EQ(health(0).check_failures, health(0).checks);
    // Not a transition, but said once: why it takes no traffic.
    EXPECT_EQ(log_lines_containing(label(0) + " is DOWN: invalid HTTP response (first check)"), 1);
}

TEST_F(CheckerTest, HttpResetIsConnectionReset) {
    Responder server(loop_.raw());
    server.set_mode(Responder::Mode::reset);
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).checks >= 1; }));
    EXPECT_FALSE(up(0));
    EXPECT_EQ(health(0).last_reason, "connection reset");
}

TEST_F(CheckerTest, HttpCheckOverIpv6) {
    int error = 0;
    if (!net::listen_tcp(*net::SocketAddress::parse("[::1]:0"), {}, error))
        GTEST_SKIP() << "no ::1 here: " << net::error_text(error);
    Responder server(loop_.raw(), "[::1]:0");
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    EXPECT_NE(server.last_request_.find("\r\nHost: [::1]:"), std::string::npos);
}

TEST_F(CheckerTest, FirstSuccessAtStartupIsEnoughEvenWithRise3) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::http, 10s, 1s, 3, 3), {server.address()}));
    ASSERT_TRUE(run_until(
        loop_, [&] { return up(0); }, 2s));
    EXPECT_EQ(health(0).checks, 1u);
    EXPECT_EQ(server.requests(), 1);
}

TEST_F(CheckerTest, PassiveFailureFromWorkersTakesBackendDownOnce) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::tcp, 10s, 1s, 2, 3), {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    uint64_t checks_before = health(0).checks;

    auto target = backend(0);
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&] {
            for (int i = 0; i < 50; ++i)
                checker_.connect_failed(target, ECONNREFUSED, 1);
        });
    auto reported_at = Clock::now();
    bool down = run_until(
        loop_, [&] { return !up(0); }, 1s);
    for (auto& w : workers)
        w.join();
    ASSERT_TRUE(down);
    std::printf("[ measure  ] passive: DOWN %lld us after the first report\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           transitions_.back().at - reported_at)
                                           .count()));
    EXPECT_EQ(health(0).last_reason, "connection refused on live traffic");

    // An immediate check follows; one success is not `rise` (2), so it stays DOWN.
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).checks > checks_before; }));
    run_until(
        loop_, [] { return false; }, 50ms);  // let late reports drain
    EXPECT_FALSE(up(0));
    EXPECT_EQ(downs(0), 1);
    EXPECT_EQ(log_lines_containing(label(0) + " is DOWN: connection refused on live traffic"), 1);
}

TEST_F(CheckerTest, PassiveFailureWithoutChecksKeepsBackendUp) {
    Responder server(loop_.raw());
    apply(make_config(config::HealthCheck{}, {server.address()}));  // type none
    EXPECT_EQ(checker_.checked_backends(), 0u);
    ASSERT_TRUE(up(0));
    std::thread worker(
        [&, target = backend(0)] { checker_.connect_failed(target, ECONNREFUSED, 1); });
    worker.join();
    run_until(
        loop_, [] { return false; }, 50ms);
    EXPECT_TRUE(up(0));
    EXPECT_EQ(downs(0), 0);
    EXPECT_EQ(log_lines_containing("no active checks"), 1);
}

TEST_F(CheckerTest, ReloadKeepsStateAndRetunes) {
    Responder a(loop_.raw()), b(loop_.raw());
    auto hc = check_settings(config::CheckType::http, 100ms, 500ms, 2, 2);
    apply(make_config(hc, {a.address(), b.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0) && up(1); }));
    auto first = backend(0);

    // Same backends in a new Config object: same Backend, same state, checks go on.
    apply(make_config(hc, {a.address(), b.address()}));
    EXPECT_EQ(backend(0), first);
    EXPECT_TRUE(up(0) && up(1));
    EXPECT_EQ(checker_.checked_backends(), 2u);

    // A new interval restarts the schedule without touching UP/DOWN.
    hc.interval = 150ms;
    apply(make_config(hc, {a.address(), b.address()}));
    EXPECT_TRUE(up(0) && up(1));
    uint64_t checks = health(0).checks;
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).checks >= checks + 2; }));
    EXPECT_TRUE(up(0) && up(1));
    EXPECT_EQ(downs(0) + downs(1), 0);

    // A removed backend is no longer checked.
    apply(make_config(hc, {a.address()}));
    EXPECT_EQ(checker_.checked_backends(), 1u);
    // A check already written to b's socket may still be read by the responder.
    run_until(
        loop_, [] { return false; }, 50ms);
    int requests_b = b.requests();
    run_until(
        loop_, [] { return false; }, 400ms);
    EXPECT_EQ(b.requests(), requests_b);
    EXPECT_GT(a.requests(), 0);

    // Losing the health check: no checker kept for it, the Registry counts it UP.
    apply(make_config(config::HealthCheck{}, {a.address()}));
    EXPECT_EQ(checker_.checked_backends(), 0u);
    EXPECT_TRUE(up(0));
}

TEST_F(CheckerTest, ReloadKeepsFailureStreak) {
    Responder server(loop_.raw());
    auto hc = check_settings(config::CheckType::http, 100ms, 500ms, 1, 3);
    apply(make_config(hc, {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    server.set_status(503);
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).check_failures >= 2; }));
    ASSERT_TRUE(up(0));
    // With fall 3 -> 2 the streak already reached counts: DOWN at the next failure.
    hc.fall = 2;
    apply(make_config(hc, {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return !up(0); }));
}

TEST_F(CheckerTest, GainingChecksStartsFromUp) {
    Responder server(loop_.raw());
    server.set_status(500);
    apply(make_config(config::HealthCheck{}, {server.address()}));  // type none: UP
    ASSERT_TRUE(up(0));
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return health(0).checks >= 1; }));
    EXPECT_TRUE(up(0));  // one failure is not `fall`
    ASSERT_TRUE(run_until(loop_, [&] { return !up(0); }));
    EXPECT_EQ(health(0).last_reason, "status 500 (2 consecutive failures)");
    EXPECT_EQ(log_lines_containing("(first check)"), 0);
}

TEST_F(CheckerTest, StopClosesEverything) {
    Responder server(loop_.raw());
    apply(make_config(check_settings(config::CheckType::http, 100ms, 500ms, 2, 2),
                      {server.address()}));
    ASSERT_TRUE(run_until(loop_, [&] { return up(0); }));
    checker_.stop();
    EXPECT_EQ(checker_.checked_backends(), 0u);
    int requests = server.requests();
    run_until(
        loop_, [] { return false; }, 300ms);
    EXPECT_EQ(server.requests(), requests);
    checker_.connect_failed(backend(0), ECONNREFUSED, 1);  // ignored after stop
    run_until(
        loop_, [] { return false; }, 50ms);
    EXPECT_TRUE(up(0));
}

}  // namespace
}  // namespace clb::health
