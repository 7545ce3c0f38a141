// Transport of the admin server: accept, parse with llhttp, answer in order, and never
// let one client hold resources for long. Requests are answered synchronously, so a
// connection is always in one of three phases: reading a request, writing a response
// (reading paused: pipelined requests wait in the kernel, not in our memory), or closing.
#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/acceptor.hpp"

#include <llhttp.h>
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
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::admin {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxHeaderCount = 100;
constexpr double kLingerSeconds = 2;  // after an error: let the client read it before RST

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

// RFC 9110 §5.5: whitespace around a field value is not part of it. llhttp drops the
// leading OWS only.
void trim_trailing_ows(std::string& value) {
    while (!value.empty() && is_ows(value.back()))
        value.pop_back();
}

// Finds obsolete line folding (a header line starting with SP or HTAB, RFC 9112 §5.2),
// which llhttp accepts. Its callbacks cannot tell it apart: an empty value is reported as
// an empty span at the start of the next line, a fold after an empty value as a value
// that starts there, past the whitespace. So the head's bytes are scanned as they come,
// one message at a time.
class FoldScanner {
  public:
    // Scans what `input` holds past the last call, up to the end of the head; true on a fold.
    bool found_in(std::string_view input);
    // The first `n` bytes of the input were parsed and dropped.
    void consumed(size_t n) { offset_ -= std::min(offset_, n); }
    // The input now starts a new message.
    void next_message() { *this = FoldScanner{}; }

  private:
    enum class At { before_request, request_line, line_start, field_line, body };
    At at_ = At::before_request;
    size_t offset_ = 0;  // of the input, already scanned
};

bool FoldScanner::found_in(std::string_view input) {
    for (; offset_ < input.size() && at_ != At::body; ++offset_) {
        char c = input[offset_];
        switch (at_) {
            case At::before_request:  // llhttp skips empty lines before a request
                if (c != '\r' && c != '\n') at_ = At::request_line;
                break;
            case At::line_start:
                if (is_ows(c)) return true;
                at_ = c == '\n' ? At::body : c == '\r' ? At::line_start : At::field_line;
                break;
            default:
                if (c == '\n') at_ = At::line_start;
                break;
        }
    }
    return false;
}

}  // namespace

class Connection;

class Server::Impl {
  public:
    Impl(struct ev_loop* loop, const net::SocketAddress& address, Sources sources, Limits limits);
    ~Impl();

    void close(Connection* connection);
    double now() const { return ev_now(loop_); }

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
    static const llhttp_settings_t& parser_settings();
    static Connection& of(llhttp_t* parser) { return *static_cast<Connection*>(parser->data); }
    int head_bytes(size_t n);
    int on_message_begin();
    int on_header_complete();
    int on_headers_complete();
    int on_body(size_t n);
    int reject(int status, const char* reason);

    void on_io(int revents);
    void on_timeout();
    void read_some();
    void process_input();
    void dispatch();
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
    llhttp_t parser_{};

    std::string in_;  // received, not yet parsed
    FoldScanner folds_;
    std::string out_;
    size_t out_offset_ = 0;

    Request request_;    // the one being received
    std::string field_;  // the header being received
    std::string value_;
    bool in_request_ = false;
    size_t head_bytes_ = 0;
    size_t body_bytes_ = 0;
    size_t header_count_ = 0;
    unsigned kept_seen_ = 0;  // bit i: the i-th field kept for access control was seen
    int reject_status_ = 0;   // set by a parser callback that refuses the request

    bool closing_ = false;    // close once the output is sent
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
      timer_(server.loop_, [this] { on_timeout(); }) {
    llhttp_init(&parser_, HTTP_REQUEST, &parser_settings());
    parser_.data = this;
}

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

const llhttp_settings_t& Connection::parser_settings() {
    static const llhttp_settings_t settings = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_message_begin = [](llhttp_t* p) { return of(p).on_message_begin(); };
        s.on_method = [](llhttp_t* p, const char*, size_t n) { return of(p).head_bytes(n); };
        s.on_url = [](llhttp_t* p, const char* at, size_t n) {
            of(p).request_.target.append(at, n);
            return of(p).head_bytes(n);
        };
        s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
            of(p).field_.append(at, n);
            return of(p).head_bytes(n);
        };
        s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
            of(p).value_.append(at, n);  // n is 0 for an empty value (RFC 9110 §5.5)
            return of(p).head_bytes(n);
        };
        s.on_header_field_complete = [](llhttp_t* p) {
            Connection& c = of(p);
            return ++c.header_count_ > kMaxHeaderCount ? c.reject(431, "too many headers") : 0;
        };
        s.on_header_value_complete = [](llhttp_t* p) { return of(p).on_header_complete(); };
        s.on_headers_complete = [](llhttp_t* p) { return of(p).on_headers_complete(); };
        s.on_body = [](llhttp_t* p, const char*, size_t n) { return of(p).on_body(n); };
        // Pause after each request: it is answered before the next one is parsed.
        s.on_message_complete = [](llhttp_t*) { return static_cast<int>(HPE_PAUSED); };
        return s;
    }();
    return settings;
}

int Connection::reject(int status, const char* reason) {
    reject_status_ = status;
    llhttp_set_error_reason(&parser_, reason);
    return HPE_USER;
}

int Connection::head_bytes(size_t n) {
    head_bytes_ += n;
    return head_bytes_ > server_.limits_.max_head_bytes ? reject(431, "request head too large") : 0;
}

int Connection::on_message_begin() {
    request_ = Request{};
    request_.peer = peer_;
    request_.local = local_;
    field_.clear();
    value_.clear();
    in_request_ = true;
    head_bytes_ = body_bytes_ = header_count_ = 0;
    kept_seen_ = 0;
    // The whole request must arrive within request_timeout of its first byte.
    timer_.start(server_.limits_.request_timeout);
    return 0;
}

// Keeps the fields access control needs (access.cpp); a second Host is refused, as the
// proxy does, so that nothing downstream can read another one.
int Connection::on_header_complete() {
    auto is = [this](std::string_view name) {
        return field_.size() == name.size() &&
               std::equal(name.begin(), name.end(), field_.begin(), [](char a, char b) {
                   return a == std::tolower(static_cast<unsigned char>(b));
               });
    };
    static constexpr std::pair<std::string_view, std::string Request::*> kKept[] = {
        {"host", &Request::host},
        {"origin", &Request::origin},
        {"sec-fetch-site", &Request::sec_fetch_site},
        {"authorization", &Request::authorization},
    };
    trim_trailing_ows(value_);
    for (size_t i = 0; i < std::size(kKept); ++i) {
        if (!is(kKept[i].first)) continue;
        // Seen, not non-empty: an empty first Host must not let a second one through.
        if (kept_seen_ & (1u << i)) return reject(400, "duplicate header field");
        kept_seen_ |= 1u << i;
        request_.*kKept[i].second = value_;
    }
    field_.clear();
    value_.clear();
    return 0;
}

int Connection::on_headers_complete() {
    request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    if (request_.host.empty() && parser_.http_major == 1 && parser_.http_minor == 1)
        return reject(400, "HTTP/1.1 request without Host");
    if ((parser_.flags & F_CONTENT_LENGTH) &&
        parser_.content_length > server_.limits_.max_body_bytes)
        return reject(413, "request body too large");
    return 0;
}

int Connection::on_body(size_t n) {
    body_bytes_ += n;
    return body_bytes_ > server_.limits_.max_body_bytes ? reject(413, "request body too large") : 0;
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
    while (open() && !closing_ && !output_pending() && !in_.empty()) {
        // Refused as the proxy does, before llhttp sees it.
        if (folds_.found_in(in_)) return refuse(400, "obsolete line folding");
        llhttp_errno_t err = llhttp_execute(&parser_, in_.data(), in_.size());
        if (err == HPE_OK) {
            folds_.consumed(in_.size());
            in_.clear();
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            auto parsed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - in_.data());
            in_.erase(0, parsed);
            folds_.next_message();  // paused after a whole message: the next starts here
            // An Upgrade (or CONNECT) is not ours to honour: answer the request, then close.
            if (err == HPE_PAUSED_UPGRADE || llhttp_get_upgrade(&parser_)) closing_ = true;
            if (err == HPE_PAUSED) llhttp_resume(&parser_);
            dispatch();
            continue;
        }
        const char* reason = llhttp_get_error_reason(&parser_);
        return refuse(reject_status_ ? reject_status_ : 400,
                      reason ? reason : llhttp_errno_name(err));
    }
    update_watcher();
}

void Connection::refuse(int status, const char* reason) {
    spdlog::debug("admin: refusing request from {}: {} ({})", peer_.to_string(), status, reason);
    send_error(status, status == 400 ? "malformed request\n" : reason_phrase(status));
}

void Connection::dispatch() {
    in_request_ = false;
    bool keep_alive = !closing_ && llhttp_should_keep_alive(&parser_);
    Response response;
    try {
        response = server_.router_.handle(request_, server_.now());
    } catch (const std::exception& e) {  // a bug in a view must not take the process down
        spdlog::error("admin: {} {} failed: {}", request_.method, request_.target, e.what());
        response = text_response(500, "internal error\n");
    }
    // HTTP/1.0 keep-alive is opt-in on both sides: confirm it, or the client waits for a close.
    if (keep_alive && parser_.http_major == 1 && parser_.http_minor == 0)
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
    int events = output_pending() ? EV_WRITE : (closing_ && !lingering_) ? 0 : EV_READ;
    if (events)
        io_.start(fd_.get(), events);
    else
        io_.stop();
}

// ---------------------------------------------------------------------------------------
// Server

Server::Impl::Impl(struct ev_loop* loop, const net::SocketAddress& address, Sources sources,
                   Limits limits)
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
    listen_fd_ = net::listen_tcp(address, options, error);
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
               Limits limits)
    : impl_(std::make_unique<Impl>(control_loop, address, std::move(sources), limits)) {}

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
