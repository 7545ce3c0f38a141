// A Registry from a Config built in code, an admin Server on 127.0.0.1:0 driven by a libev
// loop the test steps itself, and a plain-socket HTTP client. Every wait polls an event
// under a deadline; nothing sleeps.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::admin::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline config::Backend backend(std::string name, const char* address, unsigned weight = 1,
                               bool backup = false) {
    return {std::move(name), *net::SocketAddress::parse(address), weight, backup};
}

// contrail-api: three backends without health checks (UP), api3 a backup.
// contrail-analytics-api: two backends with http checks (DOWN until set_health).
inline std::shared_ptr<const config::Config> make_config() {
    auto cfg = std::make_shared<config::Config>();
    config::Service api;
    api.name = "contrail-api";
    api.listen = {*net::SocketAddress::parse("0.0.0.0:8082")};
    api.health_check.type = config::CheckType::none;
    api.backends = {backend("api1", "127.0.0.1:18082"), backend("api2", "127.0.0.1:18083", 2),
                    backend("api3", "127.0.0.1:18084", 1, true)};
    config::Service analytics;
    analytics.name = "contrail-analytics-api";
    analytics.listen = {*net::SocketAddress::parse("0.0.0.0:8081")};
    analytics.mode = config::Mode::tcp;
    analytics.balance = config::Algorithm::leastconn;
    analytics.health_check.type = config::CheckType::http;
    analytics.backends = {backend("an1", "127.0.0.1:18181"), backend("an2", "127.0.0.1:18182")};
    cfg->services = {api, analytics};
    return cfg;
}

inline Sources sources_of(runtime::Registry* registry) {
    Sources sources;
    sources.registry = registry;
    sources.version = "0.1.0";
    return sources;
}

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

// Runs `loop` until `done()` holds or `limit` passes; false on timeout.
inline bool run_until(net::Loop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = 3s) {
    net::Timer tick(loop.raw(), [] {});  // bounds each loop iteration
    tick.start(0.002, 0.002);
    auto deadline = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        ev_run(loop.raw(), EVRUN_ONCE);
    }
    return true;
}

// A client connection whose reads happen while the test steps the server's loop.
class Client {
  public:
    Client(net::Loop& loop, const net::SocketAddress& server) : loop_(loop) {
        int error = 0;
        fd_ = net::connect_tcp(server, error);
        EXPECT_TRUE(fd_) << net::error_text(error);
    }

    void send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN) {
                ASSERT_TRUE(run_until(loop_, [&] { return writable(); })) << "send stalled";
                continue;
            }
            if (n < 0 && errno == ENOTCONN) {  // connect still in progress
                ASSERT_TRUE(run_until(loop_, [&] { return writable(); }));
                continue;
            }
            ASSERT_GT(n, 0) << net::error_text(errno);
            data.remove_prefix(static_cast<size_t>(n));
        }
    }

    // The next complete response; nullopt when the server closed or nothing came in time.
    std::optional<HttpResponse> read_response(bool head = false,
                                              std::chrono::milliseconds limit = 3s) {
        std::optional<HttpResponse> out;
        run_until(
            loop_,
            [&] {
                pump();
                out = take_response(head);
                return out.has_value() || eof_;
            },
            limit);
        return out;
    }

    // Whether the server closes the connection within `limit` (data before EOF is kept).
    bool wait_closed(std::chrono::milliseconds limit = 3s) {
        return run_until(
            loop_,
            [&] {
                pump();
                return eof_;
            },
            limit);
    }

    std::optional<HttpResponse> request(const std::string& method, const std::string& path) {
        send(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
             (method == "POST" ? "Content-Length: 0\r\n" : "") + "\r\n");
        return read_response(method == "HEAD");
    }

    const std::string& unread() const { return buffer_; }

  private:
    bool writable() {
        pollfd p{fd_.get(), POLLOUT, 0};
        return ::poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
    }

    void pump() {
        char buf[65536];
        while (!eof_) {
            ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                buffer_.append(buf, static_cast<size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) {
                eof_ = true;
            } else {
                return;
            }
        }
    }

    std::optional<HttpResponse> take_response(bool head) {
        size_t end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) return std::nullopt;
        HttpResponse r;
        std::string head_text = buffer_.substr(0, end);
        size_t line_end = head_text.find("\r\n");
        std::string status_line = head_text.substr(0, line_end);
        if (status_line.size() < 12) return std::nullopt;
        r.status = std::stoi(status_line.substr(9, 3));
        size_t pos = line_end;
        while (pos != std::string::npos && pos < head_text.size()) {
            size_t next = head_text.find("\r\n", pos + 2);
            std::string line = head_text.substr(
                pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                for (auto& c : name)
                    c = static_cast<char>(std::tolower(c));
                r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
            }
            pos = next;
        }
        size_t length =
            head
                ? 0
                : std::stoul(r.header("content-length").empty() ? "0" : r.header("content-length"));
        if (buffer_.size() < end + 4 + length) return std::nullopt;
        r.body = buffer_.substr(end + 4, length);
        buffer_.erase(0, end + 4 + length);
        return r;
    }

    net::Loop& loop_;
    net::Fd fd_;
    std::string buffer_;
    bool eof_ = false;
};

class AdminTest : public ::testing::Test {
  protected:
    void SetUp() override { start(Limits{}); }

    void start(Limits limits) {
        server_.reset();
        registry_.apply(make_config());
        Sources sources;
        sources.registry = &registry_;
        sources.bgp = [this] { return bgp_; };
        sources.version = "0.1.0";
        sources.started_at = 1764072000;
        server_ = std::make_unique<Server>(loop_.raw(), *net::SocketAddress::parse("127.0.0.1:0"),
                                           std::move(sources), limits);
    }

    std::unique_ptr<Client> connect() {
        return std::make_unique<Client>(loop_, server_->address());
    }

    HttpResponse get(const std::string& path, const std::string& method = "GET") {
        auto client = connect();
        auto r = client->request(method, path);
        EXPECT_TRUE(r.has_value()) << method << " " << path << ": no response";
        return r.value_or(HttpResponse{});
    }

    const runtime::BackendEntry& entry(std::string_view service, std::string_view name) {
        const auto* svc = registry_.snapshot()->find(service);
        for (const auto& b : svc->backends)
            if (b.config->name == name) return b;
        throw std::runtime_error("no such backend in the test config");
    }

    net::Loop loop_;
    runtime::Registry registry_;
    std::optional<bgp::SpeakerStatus> bgp_;
    std::unique_ptr<Server> server_;
};

}  // namespace clb::admin::testing
