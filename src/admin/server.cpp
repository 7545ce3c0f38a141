// Transport of the admin server: accept, parse with the proxy's own HTTP parser
// (http::MessageParser and http::Head, as strict as the proxy), answer in order, and never
// let one client hold resources for long. Requests are answered synchronously, so a
// connection is always in one of three phases: reading a request, writing a response
// (reading paused: pipelined requests wait in the kernel, not in our memory), or closing.
#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/acceptor.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iterator>
#include <list>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "admin/http.hpp"
#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::admin {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr double kLingerSeconds = 2;  // after an error: let the client read it before RST

}  // namespace

class Connection;

class Server::Impl {
  public:
    Impl(struct ev_loop* loop, const net::SocketAddress& address, Sources sources, Limits limits,
         net::Fd listening);
    ~Impl();

    void close(Connection* connection);
    double now() const { return ev_now(loop_); }
    int listen_fd() const { return listen_fd_.get(); }
    void stop_accepting() { acceptor_.stop(); }

    struct ev_loop* const loop_;
    const Limits limits_;
    Router router_;
    net::SocketAddress address_;
    std::list<std::unique_ptr<Connection>> connections_;

  private:
    void on_accept(net::Fd fd, const net::SocketAddress& peer);
    void refuse(net::Fd fd);

    net::Fd listen_fd_;
    net::Acceptor acceptor_;
    // Closed connections die here, outside their own callbacks.
    std::vector<std::unique_ptr<Connection>> closed_;
    net::Timer reaper_;
    double last_refusal_log_ = 0;
};

class Connection {
  public:
    Connection(Server::Impl& server, net::Fd fd, net::SocketAddress peer);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start(std::list<std::unique_ptr<Connection>>::iterator self);
    std::list<std::unique_ptr<Connection>>::iterator self() const { return self_; }
    // Stops every watcher and closes the socket; the object is destroyed later.
    void shut();
    bool open() const { return fd_.valid(); }

  private:
    void begin_request();
    bool read_head();
    bool read_body();
    std::optional<std::pair<int, const char*>> take_fields();
    void on_io(int revents);
    void on_timeout();
    void read_some();
    void process_input();
    void dispatch();
    void send(const Response& response, bool keep_alive);
    void refuse(int status, const char* reason);
    void send_error(int status, std::string_view message);
    void flush();
    void after_flush();
    void update_watcher();
    bool output_pending() const { return out_offset_ < out_.size(); }

    Server::Impl& server_;
    net::Fd fd_;
    net::SocketAddress peer_;
    net::SocketAddress local_;
    std::list<std::unique_ptr<Connection>>::iterator self_;
    net::IoWatcher io_;
    net::Timer timer_;
    http::MessageParser parser_{http::Kind::request};
    http::Head head_;  // views into in_ until the head is consumed

    std::string in_;  // received, not yet parsed
    std::string out_;
    size_t out_offset_ = 0;

    Request request_;  // the one being received
    bool in_request_ = false;
    bool in_body_ = false;  // the head is parsed and consumed; body bytes follow
    size_t body_bytes_ = 0;

    static constexpr double kLaterTimeout = 30;  // seconds for an answer that comes later
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for answers that come later
    bool waiting_ = false;                                        // for such an answer
    bool closing_ = false;                                        // close once the output is sent
    bool lingering_ = false;  // output sent, write side shut, draining input until EOF
};

// ---------------------------------------------------------------------------------------
// Connection

Connection::Connection(Server::Impl& server, net::Fd fd, net::SocketAddress peer)
    : server_(server),
      fd_(std::move(fd)),
      peer_(peer),
      local_(net::local_address(fd_.get())),
      io_(server.loop_, [this](int revents) { on_io(revents); }),
      timer_(server.loop_, [this] { on_timeout(); }) {}

void Connection::start(std::list<std::unique_ptr<Connection>>::iterator self) {
    self_ = self;
    timer_.start(server_.limits_.idle_timeout);
    update_watcher();
}

void Connection::shut() {
    io_.stop();
    timer_.stop();
    fd_.reset();
}

void Connection::begin_request() {
    request_ = Request{};
    request_.peer = peer_;
    request_.local = local_;
    in_request_ = true;
    in_body_ = false;
    body_bytes_ = 0;
    parser_.reset();
    // The whole request must arrive within request_timeout of its first byte.
    timer_.start(server_.limits_.request_timeout);
}

// True once a whole head is parsed, checked and consumed; false while more is needed or
// after refusing the request.
bool Connection::read_head() {
    // RFC 9112 §2.2: ignore empty lines before a request line.
    while (in_.size() >= 2 && in_[0] == '\r' && in_[1] == '\n')
        in_.erase(0, 2);
    size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos || end + 4 > server_.limits_.max_head_bytes) {
        if (http::has_bare_lf(in_))
            refuse(400, "bare LF");
        else if (in_.size() > server_.limits_.max_head_bytes)
            refuse(431, "request head too large");
        return false;
    }
    std::string_view raw(in_.data(), end + 4);
    if (!parser_.parse_head(raw.data(), raw.size())) {
        refuse(400, std::string(parser_.error()).c_str());
        return false;
    }
    if (!head_.parse(raw)) {
        refuse(400, std::string(head_.error()).c_str());
        return false;
    }
    if (auto refusal = take_fields()) {
        refuse(refusal->first, refusal->second);
        return false;
    }
    in_.erase(0, raw.size());  // after the last use of the head's views into it
    in_body_ = true;
    return true;
}

// The request line and the fields access control needs (access.cpp), or why the request
// is refused. A second Host, Origin, Sec-Fetch-Site or Authorization is refused, as the
// proxy refuses a second Host, so that nothing downstream can read another one.
std::optional<std::pair<int, const char*>> Connection::take_fields() {
    constexpr size_t kMaxHeaderCount = 100;
    if (head_.headers().size() > kMaxHeaderCount) return std::pair{431, "too many headers"};
    if (!head_.semantic_error().empty()) return std::pair{400, "missing, repeated or invalid Host"};
    request_.method.assign(head_.first());
    request_.target.assign(head_.second());
    static constexpr std::pair<std::string_view, std::string Request::*> kKept[] = {
        {"host", &Request::host},
        {"origin", &Request::origin},
        {"sec-fetch-site", &Request::sec_fetch_site},
        {"authorization", &Request::authorization},
    };
    for (const auto& [name, field] : kKept) {
        bool seen = false;
        for (const auto& h : head_.headers()) {
            if (!http::iequals(h.name, name)) continue;
            if (seen) return std::pair{400, "duplicate header field"};
            seen = true;
            request_.*field = std::string(h.value);
        }
    }
    if (parser_.length_left() > server_.limits_.max_body_bytes)
        return std::pair{413, "request body too large"};
    return std::nullopt;
}

// True once the body is through (the admin API reads none of it); false while more is
// needed or after refusing the request.
bool Connection::read_body() {
    if (parser_.message_complete()) return true;
    auto step = parser_.parse_body(in_.data(), in_.size());
    if (step.error) {
        refuse(400, std::string(parser_.error()).c_str());
        return false;
    }
    in_.erase(0, step.ready);
    body_bytes_ += step.ready;
    if (body_bytes_ > server_.limits_.max_body_bytes) {
        refuse(413, "request body too large");
        return false;
    }
    return step.complete;
}

void Connection::on_io(int revents) {
    if (revents & EV_WRITE) {
        flush();
        if (!open()) return;
    }
    if (revents & EV_READ) read_some();
}

void Connection::on_timeout() {
    if (lingering_ || output_pending()) {
        spdlog::debug("admin: closing connection from {}: {}", peer_.to_string(),
                      lingering_ ? "linger time over" : "client does not read its response");
        server_.close(this);
    } else if (in_request_) {
        send_error(408, "request not received in time\n");
    } else {
        server_.close(this);  // idle keep-alive connection
    }
}

void Connection::read_some() {
    char buf[kReadChunk];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        spdlog::debug("admin: read from {} failed: {}", peer_.to_string(), net::error_text(errno));
        server_.close(this);
        return;
    }
    if (n == 0) {  // the client is done; a half-received request dies with it
        server_.close(this);
        return;
    }
    if (lingering_) return;  // discarding what follows an error answer
    in_.append(buf, static_cast<size_t>(n));
    process_input();
}

// Parses what has arrived, answering each complete request before parsing the next.
void Connection::process_input() {
    while (open() && !closing_ && !waiting_ && !output_pending() && !in_.empty()) {
        if (!in_request_) begin_request();
        if (!in_body_ && !read_head()) break;
        if (!read_body()) break;
        // An Upgrade (or CONNECT) is not ours to honour: answer the request, then close.
        if (parser_.upgrade() || request_.method == "CONNECT") closing_ = true;
        dispatch();
    }
    update_watcher();
}

void Connection::refuse(int status, const char* reason) {
    spdlog::debug("admin: refusing request from {}: {} ({})", peer_.to_string(), status, reason);
    send_error(status, status == 400 ? "malformed request\n" : reason_phrase(status));
}

void Connection::dispatch() {
    in_request_ = false;
    in_body_ = false;
    bool keep_alive = !closing_ && parser_.keep_alive();
    Response response;
    // Waits for the answer reading nothing more; the connection may be gone by then.
    try {
        response = server_.router_.handle(request_, server_.now());
    } catch (const std::exception& e) {  // a bug in a view must not take the process down
        spdlog::error("admin: {} {} failed: {}", request_.method, request_.target, e.what());
        response = text_response(500, "internal error\n");
    }
    if (response.later) {
        waiting_ = true;
        io_.stop();
        timer_.start(kLaterTimeout);
        std::weak_ptr<bool> alive = alive_;
        response.later([this, alive, keep_alive](Response answer) {
            if (alive.expired() || !open()) return;
            waiting_ = false;
            send(answer, keep_alive);
        });
        return;
    }
    send(response, keep_alive);
}

void Connection::send(const Response& response_in, bool keep_alive) {
    Response response = response_in;
    // HTTP/1.0 keep-alive is opt-in on both sides: confirm it, or the client waits for a close.
    if (keep_alive && parser_.http_major() == 1 && parser_.http_minor() == 0)
        response.headers.emplace_back("Connection", "keep-alive");
    out_ += serialize(response, request_.method == "HEAD", keep_alive,
                      server_.router_.sources().version, server_.now());
    if (!keep_alive) closing_ = true;
    // The client gets request_timeout to take the response, then idle_timeout for the next.
    timer_.start(server_.limits_.request_timeout);
    flush();
}

void Connection::send_error(int status, std::string_view message) {
    in_request_ = false;
    Response response = text_response(status, std::string(message));
    if (response.body.back() != '\n') response.body += '\n';
    out_ += serialize(response, false, false, server_.router_.sources().version, server_.now());
    closing_ = true;
    timer_.start(server_.limits_.request_timeout);
    flush();
}

void Connection::flush() {
    while (output_pending()) {
        ssize_t n =
            ::send(fd_.get(), out_.data() + out_offset_, out_.size() - out_offset_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            spdlog::debug("admin: write to {} failed: {}", peer_.to_string(),
                          net::error_text(errno));
            server_.close(this);
            return;
        }
        out_offset_ += static_cast<size_t>(n);
    }
    if (output_pending()) {
        update_watcher();
        return;
    }
    out_.clear();
    out_offset_ = 0;
    after_flush();
}

void Connection::after_flush() {
    if (closing_) {
        // Shut our side, then read until the client closes: closing with unread input
        // would send an RST that can destroy the answer before the client reads it.
        ::shutdown(fd_.get(), SHUT_WR);
        lingering_ = true;
        timer_.start(kLingerSeconds);
        update_watcher();
        return;
    }
    timer_.start(server_.limits_.idle_timeout);
    process_input();  // pipelined requests already received (re-arms the watcher)
}

void Connection::update_watcher() {
    if (!fd_) return;
    int events = output_pending() ? EV_WRITE : waiting_ || (closing_ && !lingering_) ? 0 : EV_READ;
    if (events)
        io_.start(fd_.get(), events);
    else
        io_.stop();
}

// ---------------------------------------------------------------------------------------
// Server

Server::Impl::Impl(struct ev_loop* loop, const net::SocketAddress& address, Sources sources,
                   Limits limits, net::Fd listening)
    : loop_(loop),
      limits_(limits),
      router_(std::move(sources)),
      acceptor_(
          loop, "admin: listener " + address.to_string(),
          [this](net::Fd fd, const net::SocketAddress& peer) { on_accept(std::move(fd), peer); },
          router_.sources().admin_accept_pauses),
      reaper_(loop, [this] { closed_.clear(); }) {
    net::ListenOptions options;
    options.reuse_port = false;  // a second process on the same port must fail, not share
    options.backlog = 128;
    int error = 0;
    listen_fd_ = listening ? std::move(listening) : net::listen_tcp(address, options, error);
    if (!listen_fd_)
        throw std::runtime_error(fmt::format("admin: cannot listen on {}: {}", address.to_string(),
                                             net::error_text(error)));
    address_ = net::local_address(listen_fd_.get());
    acceptor_.start(listen_fd_.get());
    spdlog::info("admin: listening on http://{}", address_.to_string());
}

Server::Impl::~Impl() {
    for (auto& c : connections_)
        c->shut();
}

void Server::Impl::on_accept(net::Fd fd, const net::SocketAddress& peer) {
    if (connections_.size() >= limits_.max_connections) {
        refuse(std::move(fd));
        return;
    }
    connections_.push_back(std::make_unique<Connection>(*this, std::move(fd), peer));
    connections_.back()->start(std::prev(connections_.end()));
}

// Over the connection limit: a short answer, best effort, and close.
void Server::Impl::refuse(net::Fd fd) {
    static constexpr std::string_view kAnswer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n"
        "Connection: close\r\n\r\ntoo many admin connections\n";
    [[maybe_unused]] ssize_t n = ::send(fd.get(), kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL);
    if (now() - last_refusal_log_ >= 10) {  // at most one line per 10 s under a flood
        last_refusal_log_ = now();
        spdlog::warn("admin: refusing connections: {} open, the limit", connections_.size());
    }
}

void Server::Impl::close(Connection* connection) {
    if (!connection->open()) return;  // already closed, waiting for the reaper
    connection->shut();
    auto it = connection->self();
    closed_.push_back(std::move(*it));
    connections_.erase(it);
    reaper_.start(0);
}

Server::Server(struct ev_loop* control_loop, const net::SocketAddress& address, Sources sources,
               Limits limits, net::Fd listening)
    : impl_(std::make_unique<Impl>(control_loop, address, std::move(sources), limits,
                                   std::move(listening))) {}

int Server::listen_fd() const {
    return impl_->listen_fd();
}

void Server::stop_accepting() {
    impl_->stop_accepting();
}

Server::~Server() = default;

const net::SocketAddress& Server::address() const {
    return impl_->address_;
}

size_t Server::connection_count() const {
    return impl_->connections_.size();
}

void Server::set_token(std::string token) {
    impl_->router_.set_token(std::move(token));
}

void Server::set_users(std::vector<config::AdminUser> users) {
    impl_->router_.set_users(std::move(users));
}

}  // namespace clb::admin
