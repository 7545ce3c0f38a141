#include "health/probe.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <utility>

#include "contrail_lb/net/socket.hpp"
#include "contrail_lb/runtime/termination.hpp"

namespace clb::health {

std::string describe_error(int error) {
    switch (error) {
        case ECONNREFUSED:
            return "connection refused";
        case ECONNRESET:
        case EPIPE:
            return "connection reset";
        case ETIMEDOUT:
            return "connection timed out";
        case EHOSTUNREACH:
            return "host unreachable";
        case ENETUNREACH:
            return "network unreachable";
        default:
            break;
    }
    std::string text = net::error_text(error);
    if (!text.empty())
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return text;
}

std::string make_request(const std::string& path, const net::SocketAddress& target) {
    return "GET " + path + " HTTP/1.1\r\nHost: " + target.to_string() +
           "\r\nUser-Agent: contrail-lb-health\r\nConnection: close\r\n\r\n";
}

Probe::Probe(struct ev_loop* loop, Done done)
    : done_(std::move(done)),
      io_(loop, [this](int revents) { on_io(revents); }),
      deadline_(loop, [this] { on_deadline(); }) {}

void Probe::start(const net::SocketAddress& target, const config::HealthCheck& settings,
                  std::shared_ptr<const tls::ClientContext> tls) {
    cancel();
    settings_ = settings;
    // A session made under another context (a reload changed the CA) is not resumed.
    if (tls != tls_context_) sessions_ = std::make_shared<tls::SessionSlot>();
    tls_context_ = std::move(tls);
    target_ip_ = target.ip().to_string();
    running_ = true;
    phase_ = Phase::connecting;
    sent_ = received_ = 0;
    parser_.reset();
    request_ = settings_.type == config::CheckType::http ? make_request(settings_.path, target)
                                                         : std::string();
    fd_ = net::connect_tcp(target, early_error_);
    if (!fd_) {
        // Report from the loop, as for every other outcome: the caller is not re-entered.
        deadline_.start(0.);
        return;
    }
    deadline_.start(std::chrono::duration<double>(settings_.timeout).count());
    io_.start(fd_.get(), EV_WRITE);
}

void Probe::cancel() {
    io_.stop();
    deadline_.stop();
    tls_.reset();
    fd_.reset();
    running_ = false;
}

void Probe::finish(bool ok, const std::string& reason) {
    cancel();
    done_(ok ? Verdict::passed : Verdict::failed, reason);  // last: it may start the next check
}

void Probe::finish_with_error(int error) {
    if (runtime::backend_caused(error)) {
        finish(false, describe_error(error));
        return;
    }
    cancel();
    done_(Verdict::inconclusive, describe_error(error));
}

void Probe::on_deadline() {
    if (early_error_ != 0) {
        finish_with_error(std::exchange(early_error_, 0));
        return;
    }
    finish(false, "timeout after " + config::format_duration(settings_.timeout));
}

void Probe::on_io(int) {
    switch (phase_) {
        case Phase::connecting:
            on_connected();
            break;
        case Phase::handshaking:
            handshake();
            break;
        case Phase::sending:
            send_request();
            break;
        case Phase::receiving:
            receive_response();
            break;
    }
}

void Probe::on_connected() {
    if (int error = net::take_socket_error(fd_.get()); error != 0) {
        finish_with_error(error);
        return;
    }
    if (!tls_context_) {
        connection_ready();
        return;
    }
    try {
        tls_ = std::make_unique<tls::Connection>(*tls_context_, fd_.get(), target_ip_, sessions_);
    } catch (const std::exception& e) {
        finish(false, e.what());
        return;
    }
    phase_ = Phase::handshaking;
    handshake();
}

// The TLS handshake is part of connecting, within the same timeout.
void Probe::handshake() {
    int r = tls_->handshake();
    if (r < 0) {
        finish(false, std::string(tls_->error()));  // a copy: finish() frees tls_
        return;
    }
    if (r == 0) {
        io_.start(fd_.get(), tls_->wants());
        return;
    }
    connection_ready();
}

void Probe::connection_ready() {
    if (settings_.type != config::CheckType::http) {
        finish(true, tls_ ? "TLS handshake done" : "connected");
        return;
    }
    phase_ = Phase::sending;
    send_request();
}

ssize_t Probe::send_some(const char* data, size_t len) {
    if (tls_) {
        ssize_t n = tls_->write(data, len);
        if (n == 0) io_.start(fd_.get(), tls_->wants());
        if (n < 0) finish(false, std::string(tls_->error()));  // a copy: finish() frees tls_
        return n;
    }
    for (;;) {
        ssize_t n = ::send(fd_.get(), data, len, MSG_NOSIGNAL);
        if (n > 0) return n;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_.start(fd_.get(), EV_WRITE);
            return 0;
        }
        finish_with_error(n < 0 ? errno : EPIPE);
        return -1;
    }
}

// Also reports the end of the stream in `eof` (then returns 0).
ssize_t Probe::receive_some(char* buf, size_t len, bool& eof) {
    if (tls_) {
        ssize_t n = tls_->read(buf, len, eof);
        if (n == 0 && !eof) io_.start(fd_.get(), tls_->wants());
        if (n < 0) finish(false, std::string(tls_->error()));  // a copy: finish() frees tls_
        return n;
    }
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, len, 0);
        if (n > 0) return n;
        if (n == 0) {
            eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io_.start(fd_.get(), EV_READ);
            return 0;
        }
        finish_with_error(errno);
        return -1;
    }
}

void Probe::send_request() {
    while (sent_ < request_.size()) {
        ssize_t n = send_some(request_.data() + sent_, request_.size() - sent_);
        if (n <= 0) return;
        sent_ += static_cast<size_t>(n);
    }
    phase_ = Phase::receiving;
    io_.start(fd_.get(), EV_READ);
}

void Probe::receive_response() {
    char buf[4096];
    for (;;) {
        bool eof = false;
        ssize_t n = receive_some(buf, sizeof buf, eof);
        if (n < 0 || (n == 0 && !eof)) return;
        ResponseParser::Result result;
        if (n == 0) {
            if (received_ == 0) {
                finish(false, "connection closed without response");
                return;
            }
            result = parser_.finish();
        } else {
            received_ += static_cast<size_t>(n);
            result = parser_.feed({buf, static_cast<size_t>(n)});
        }
        switch (result) {
            case ResponseParser::Result::need_more:
                continue;
            case ResponseParser::Result::invalid:
                finish(false, "invalid HTTP response");
                return;
            case ResponseParser::Result::too_large:
                finish(false, "invalid HTTP response (headers over 16 KiB)");
                return;
            case ResponseParser::Result::complete:
                break;
        }
        int status = parser_.status();
        bool expected = std::find(settings_.expect_status.begin(), settings_.expect_status.end(),
                                  status) != settings_.expect_status.end();
        finish(expected, "status " + std::to_string(status));
        return;
    }
}

}  // namespace clb::health
