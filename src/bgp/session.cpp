#include "bgp/session.hpp"

#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::bgp {

namespace {

constexpr double kConnectTimeout = 5.0;
constexpr double kOpenSentHoldTime = 240.0;  // RFC 4271 §8.2.2: "a large value", 4 minutes
constexpr double kCloseTimeout = 1.0;        // a peer that stops reading delays no shutdown longer
constexpr double kMinBackoff = 1.0;
constexpr double kMaxBackoff = 30.0;
// A session must stay up this long before the backoff starts again from kMinBackoff: a peer
// that drops us right after Established (e.g. refusing our UPDATE) is not redialled every second.
constexpr double kStableSession = 10.0;
constexpr size_t kMaxPendingOutput = 1 << 20;  // a peer that does not read is reset, not buffered
constexpr size_t kMaxPrefixesPerUpdate = 400;  // keeps every UPDATE well under 4096 bytes
constexpr uint32_t kLocalPref = 100;

std::string lowercase_first(std::string s) {
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

net::IpAddress v4_mapped(const net::IpAddress& v4) {
    in6_addr a{};
    a.s6_addr[10] = 0xFF;
    a.s6_addr[11] = 0xFF;
    std::memcpy(&a.s6_addr[12], v4.bytes(), 4);
    return net::IpAddress::v6(a);
}

wire::AddressFamily family_of(const net::IpPrefix& p) {
    return p.address.is_v4() ? wire::kIpv4Unicast : wire::kIpv6Unicast;
}

// RFC 8203 shutdown communication: a length octet then UTF-8 text, in Cease 2 and 4.
std::string shutdown_text(const wire::Notification& n) {
    if (n.code != wire::err::kCease || (n.subcode != 2 && n.subcode != 4) || n.data.empty())
        return {};
    const size_t len = std::min<size_t>(n.data[0], n.data.size() - 1);
    std::string text(n.data.begin() + 1, n.data.begin() + 1 + static_cast<ptrdiff_t>(len));
    std::replace_if(
        text.begin(), text.end(), [](char ch) { return ch < 0x20; }, '?');
    return text.empty() ? text : " \"" + text + "\"";
}

std::string message_name(uint8_t type) {
    switch (type) {
        case 1:
            return "OPEN";
        case 2:
            return "UPDATE";
        case 3:
            return "NOTIFICATION";
        case 4:
            return "KEEPALIVE";
        case 5:
            return "ROUTE-REFRESH";
        default:
            return "message";
    }
}

}  // namespace

const char* to_string(State s) {
    switch (s) {
        case State::idle:
            return "Idle";
        case State::connect:
            return "Connect";
        case State::active:
            return "Active";
        case State::open_sent:
            return "OpenSent";
        case State::open_confirm:
            return "OpenConfirm";
        case State::established:
            return "Established";
    }
    return "?";
}

int set_tcp_md5(int fd, const net::IpAddress& peer, const std::string& password) {
    tcp_md5sig sig{};
    const net::SocketAddress addr(peer, 0);
    std::memcpy(&sig.tcpm_addr, addr.sa(), addr.len());
    if (password.size() > TCP_MD5SIG_MAXKEYLEN) return EINVAL;
    sig.tcpm_keylen = static_cast<uint16_t>(password.size());
    std::memcpy(sig.tcpm_key, password.data(), password.size());
    return ::setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) < 0 ? errno : 0;
}

// ---------------------------------------------------------------------------------------------
// One TCP connection of a session: framing, timers, output buffer, graceful close.

class Session::Connection {
  public:
    enum class Phase { connecting, open_sent, open_confirm, established, closing };

    Connection(Session& session, net::Fd fd, bool outbound)
        : session_(session),
          fd_(std::move(fd)),
          outbound_(outbound),
          io_(session.loop_, [this](int revents) { on_io(revents); }),
          hold_timer_(session.loop_, [this] { on_hold_timer(); }),
          keepalive_timer_(session.loop_, [this] { send(wire::Keepalive{}); }) {}

    Phase phase() const { return phase_; }
    bool live() const { return phase_ != Phase::closing; }
    bool closed() const { return !fd_.valid(); }
    bool outbound() const { return outbound_; }
    const net::SocketAddress& local() const { return local_; }
    const wire::SessionOptions& options() const { return options_; }
    const std::vector<wire::AddressFamily>& families() const { return families_; }
    uint16_t hold_time() const { return hold_time_; }

    void start_connecting() {
        phase_ = Phase::connecting;
        io_.start(fd_.get(), EV_WRITE);
        hold_timer_.start(kConnectTimeout);
    }

    // TCP is up: send our OPEN and wait for theirs.
    void start_open() {
        phase_ = Phase::open_sent;
        local_ = net::local_address(fd_.get());
        io_.start(fd_.get(), EV_READ);
        hold_timer_.start(kOpenSentHoldTime);
        const auto& s = session_.settings_;
        wire::Open open;
        open.my_as = s.local_as > 0xFFFF ? wire::kAsTrans : static_cast<uint16_t>(s.local_as);
        open.hold_time = s.hold_time;
        open.bgp_identifier = s.router_id.v4_host_order();
        open.capabilities.multiprotocol = s.families;
        open.capabilities.route_refresh = true;
        open.capabilities.four_octet_as = s.local_as;
        send(open);
    }

    // The peer's OPEN was acceptable: fix what the session negotiated.
    void negotiate(const wire::Open& open) {
        const auto& s = session_.settings_;
        options_.four_octet_as = open.capabilities.four_octet_as.has_value();
        options_.ibgp = s.remote_as == s.local_as;
        // RFC 4760 §8: a peer without multiprotocol capabilities speaks IPv4 unicast only.
        std::vector<wire::AddressFamily> theirs = open.capabilities.multiprotocol;
        if (theirs.empty()) theirs.push_back(wire::kIpv4Unicast);
        families_.clear();
        for (const auto& af : s.families)
            if (std::find(theirs.begin(), theirs.end(), af) != theirs.end())
                families_.push_back(af);
        hold_time_ = std::min(s.hold_time, open.hold_time);
        phase_ = Phase::open_confirm;
        send(wire::Keepalive{});
        restart_hold_timer();
        if (hold_time_ > 0) keepalive_timer_.start(hold_time_ / 3.0, hold_time_ / 3.0);
    }

    void set_established() { phase_ = Phase::established; }

    // Upgrade: the socket leaves with its unread bytes once our output is on the wire
    // (bounded wait). Nothing is sent; the connection is closed here without a FIN.
    bool release(SessionHandOver& out) {
        io_.stop();
        hold_timer_.stop();
        keepalive_timer_.stop();
        const double deadline = net::monotonic_seconds() + kCloseTimeout;
        while (out_pos_ < out_.size() && net::monotonic_seconds() < deadline) {
            const ssize_t n =
                ::send(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
            if (n > 0) {
                out_pos_ += static_cast<size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                pollfd p{fd_.get(), POLLOUT, 0};
                ::poll(&p, 1, 50);
            } else {
                break;
            }
        }
        if (out_pos_ < out_.size()) return false;
        out.fd = std::move(fd_);
        out.options = options_;
        out.families = families_;
        out.hold_time = hold_time_;
        out.unread = std::move(in_);
        phase_ = Phase::closing;
        return true;
    }

    // Upgrade, the other side.
    void adopt(SessionHandOver& in) {
        options_ = in.options;
        families_ = in.families;
        hold_time_ = in.hold_time;
        in_ = std::move(in.unread);
        local_ = net::local_address(fd_.get());
        phase_ = Phase::established;
        io_.start(fd_.get(), EV_READ);
        send(wire::Keepalive{});
        restart_hold_timer();
        if (hold_time_ > 0) keepalive_timer_.start(hold_time_ / 3.0, hold_time_ / 3.0);
        if (!in_.empty()) process_input();
    }

    void restart_hold_timer() {
        if (phase_ == Phase::open_confirm || phase_ == Phase::established) {
            if (hold_time_ > 0)
                hold_timer_.start(hold_time_);
            else
                hold_timer_.stop();
        }
    }

    void send(const wire::Message& m) {
        if (!live()) return;
        send_bytes(wire::encode(m, options_), std::holds_alternative<wire::Update>(m));
    }

    // Sends `n` when the peer has seen our OPEN, then half-closes and waits (bounded) for the
    // peer's FIN, so the NOTIFICATION is not lost to a reset.
    void close(std::optional<wire::Notification> n) {
        if (!live() || closed()) return;
        const bool opened = phase_ != Phase::connecting;
        // Closing before the NOTIFICATION is written: a write that fails now only aborts
        // this connection instead of failing the session a second time (a second flap).
        phase_ = Phase::closing;
        keepalive_timer_.stop();
        if (!opened) return abort();
        hold_timer_.start(kCloseTimeout);
        if (n) send_bytes(wire::encode(*n, options_), false);
        if (!closed()) flush();
    }

    void abort() {
        if (closed()) return;
        io_.stop();
        hold_timer_.stop();
        keepalive_timer_.stop();
        phase_ = Phase::closing;
        fd_.reset();
        session_.on_closed(*this);
    }

  private:
    void send_bytes(const std::vector<uint8_t>& bytes, bool is_update) {
        ++session_.counters_.messages_out;
        if (is_update) ++session_.counters_.updates_out;
        out_.insert(out_.end(), bytes.begin(), bytes.end());
        if (out_.size() - out_pos_ > kMaxPendingOutput) {
            out_.clear();
            out_pos_ = 0;
            session_.fail(*this,
                          wire::Notification{wire::err::kCease, wire::err::kOutOfResources, {}},
                          "peer does not read: output buffer full");
            return;
        }
        flush();
    }

    void flush() {
        while (out_pos_ < out_.size()) {
            const ssize_t n =
                ::send(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
            if (n > 0) {
                out_pos_ += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            return on_error("send: " + net::error_text(errno));
        }
        if (out_pos_ == out_.size()) {
            out_.clear();
            out_pos_ = 0;
            if (phase_ == Phase::closing && !write_shut_) {
                write_shut_ = true;
                ::shutdown(fd_.get(), SHUT_WR);
            }
        }
        const int events = EV_READ | (out_.empty() ? 0 : EV_WRITE);
        if (phase_ != Phase::connecting) io_.start(fd_.get(), events);
    }

    void on_error(const std::string& cause) {
        if (phase_ == Phase::closing) return abort();
        session_.fail(*this, std::nullopt, cause);
    }

    void on_io(int revents) {
        if (phase_ == Phase::connecting) {
            const int err = net::take_socket_error(fd_.get());
            if (err)
                return session_.fail(*this, std::nullopt, lowercase_first(net::error_text(err)));
            start_open();
            return session_.update_state("TCP connection up, OPEN sent");
        }
        if (revents & EV_READ) on_readable();
        if (!closed() && (revents & EV_WRITE)) flush();
    }

    void on_readable() {
        uint8_t buf[16384];
        for (int round = 0; round < 4 && !closed(); ++round) {
            const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
            if (n == 0) {
                if (phase_ == Phase::closing) return abort();
                return session_.fail(*this, std::nullopt, "connection closed by peer");
            }
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                return on_error("read: " + net::error_text(errno));
            }
            if (phase_ == Phase::closing) continue;  // draining until the peer's FIN
            in_.insert(in_.end(), buf, buf + n);
            process_input();
        }
    }

    void process_input() {
        size_t pos = 0;
        while (live()) {
            const std::span<const uint8_t> rest(in_.data() + pos, in_.size() - pos);
            const wire::Frame frame = wire::check_header(rest);
            if (frame.status == wire::Frame::Status::incomplete) break;
            if (frame.status == wire::Frame::Status::error)
                return session_.fail(*this, frame.error, "received a malformed message header");
            wire::Decoded d = wire::decode(rest.first(frame.length), options_);
            pos += frame.length;
            ++session_.counters_.messages_in;
            if (d.error)
                return session_.fail(*this, *d.error,
                                     "received a malformed " + message_name(rest[18]));
            restart_hold_timer();
            session_.on_message(*this, std::move(*d.message));
        }
        in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(std::min(pos, in_.size())));
    }

    void on_hold_timer() {
        switch (phase_) {
            case Phase::connecting:
                return session_.fail(*this, std::nullopt, "connect timeout");
            case Phase::closing:
                return abort();
            default:
                return session_.fail(*this, wire::Notification{wire::err::kHoldTimerExpired, 0, {}},
                                     "hold timer expired");
        }
    }

    Session& session_;
    net::Fd fd_;
    bool outbound_;
    net::IoWatcher io_;
    net::Timer hold_timer_;
    net::Timer keepalive_timer_;
    Phase phase_ = Phase::connecting;
    bool write_shut_ = false;
    net::SocketAddress local_;
    std::vector<uint8_t> in_;
    std::vector<uint8_t> out_;
    size_t out_pos_ = 0;
    wire::SessionOptions options_;
    std::vector<wire::AddressFamily> families_;
    uint16_t hold_time_ = 0;
};

// ---------------------------------------------------------------------------------------------

Session::Session(struct ev_loop* loop, SessionSettings settings,
                 const std::vector<Advertisement>& desired, std::minstd_rand& random)
    : loop_(loop),
      settings_(std::move(settings)),
      label_(net::SocketAddress(settings_.address, settings_.port).to_string()),
      desired_(desired),
      random_(random),
      retry_timer_(loop, [this] { on_retry(); }),
      reap_timer_(loop, [this] { reap(); }) {}

Session::~Session() = default;

void Session::start() {
    if (stopped_ || !connections_.empty()) return;
    dial();
}

void Session::dial() {
    const net::SocketAddress addr(settings_.address, settings_.port);
    net::Fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int err = fd ? 0 : errno;
    // The RFC 2385 key must be on the socket before the SYN leaves. Without it there is no
    // session: an unauthenticated one is what the password is there to prevent.
    if (!err && !settings_.password.empty()) {
        if (int md5 = set_tcp_md5(fd.get(), settings_.address, settings_.password)) {
            schedule_retry();
            refuse_without_md5("cannot set the TCP MD5 key: " + net::error_text(md5));
            return;
        }
    }
    if (!err) {
        net::set_nodelay(fd.get());
        if (::connect(fd.get(), addr.sa(), addr.len()) < 0 && errno != EINPROGRESS) err = errno;
    }
    if (err) {
        last_error_ = lowercase_first(net::error_text(err));
        schedule_retry();
        update_state(last_error_);
        return;
    }
    connections_.push_back(std::make_unique<Connection>(*this, std::move(fd), true));
    connections_.back()->start_connecting();
    update_state("dialling out");
}

void Session::refuse_without_md5(const std::string& why) {
    ++md5_failures_;
    last_error_ = why;
    spdlog::error("bgp peer {}: {}; no session without MD5", label_, why);
    update_state(last_error_);
}

void Session::schedule_retry() {
    if (stopped_ || held_down_) return;
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    const double delay = std::min(kMaxBackoff, backoff_ * jitter(random_));
    backoff_ = std::min(kMaxBackoff, backoff_ * 2);
    retry_timer_.start(delay);
}

void Session::on_retry() {
    idle_after_error_ = false;
    if (stopped_ || held_down_) return;
    const bool busy = std::any_of(connections_.begin(), connections_.end(),
                                  [](const auto& c) { return c->live(); });
    if (!busy) dial();
}

void Session::accept(net::Fd fd) {
    const auto live_inbound =
        std::any_of(connections_.begin(), connections_.end(),
                    [](const auto& c) { return c->live() && !c->outbound(); });
    if (stopped_ || held_down_ || established_connection() || live_inbound) {
        // RFC 4271 §6.8: a collision with an Established session closes the new connection.
        const auto bytes =
            wire::encode(wire::Notification{wire::err::kCease, wire::err::kConnectionRejected, {}});
        [[maybe_unused]] auto n = ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        spdlog::info("bgp peer {}: rejected an incoming connection ({})", label_,
                     stopped_     ? "stopping"
                     : held_down_ ? "waiting for BFD Up"
                                  : "a session already exists");
        return;
    }
    retry_timer_.stop();
    idle_after_error_ = false;
    net::set_nodelay(fd.get());
    connections_.push_back(std::make_unique<Connection>(*this, std::move(fd), false));
    connections_.back()->start_open();
    update_state("accepted incoming connection");
}

void Session::stop(const wire::Notification& reason) {
    if (stopped_) return;
    stopped_ = true;
    retry_timer_.stop();
    adj_rib_out_.clear();
    counters_.established_since = 0;
    for (auto& c : connections_)
        if (c->live()) c->close(reason);
    update_state("stopping: sent " + wire::describe(reason));
    reap_timer_.start(0);
}

void Session::hold_down(const std::string& reason) {
    if (held_down_ || stopped_) return;
    held_down_ = true;
    retry_timer_.stop();
    last_error_ = reason;
    for (auto& c : connections_)
        if (c->live())
            fail(*c, wire::Notification{wire::err::kCease, wire::err::kBfdDown, {}}, reason);
    update_state(reason + "; waiting for BFD Up");
}

void Session::release() {
    if (!held_down_) return;
    held_down_ = false;
    if (stopped_) return;
    backoff_ = kMinBackoff;
    const bool busy = std::any_of(connections_.begin(), connections_.end(),
                                  [](const auto& c) { return c->live(); });
    retry_timer_.stop();
    if (!busy) dial();
}

Session::Connection* Session::established_connection() const {
    for (const auto& c : connections_)
        if (c->phase() == Connection::Phase::established) return c.get();
    return nullptr;
}

void Session::on_message(Connection& c, wire::Message&& m) {
    using Phase = Connection::Phase;
    auto unexpected = [&](const char* what) {
        const uint8_t sub = c.phase() == Phase::open_sent ? wire::err::kUnexpectedInOpenSent
                            : c.phase() == Phase::open_confirm
                                ? wire::err::kUnexpectedInOpenConfirm
                                : wire::err::kUnexpectedInEstablished;
        fail(c, wire::Notification{wire::err::kFsm, sub, {}},
             std::string("unexpected ") + what + " in " + to_string(state_));
    };
    if (auto* open = std::get_if<wire::Open>(&m)) {
        if (c.phase() != Phase::open_sent) return unexpected("OPEN");
        return on_open(c, std::move(*open));
    }
    if (std::holds_alternative<wire::Keepalive>(m)) {
        if (c.phase() == Phase::open_sent) return unexpected("KEEPALIVE");
        if (c.phase() == Phase::open_confirm) on_established(c);
        return;
    }
    if (auto* update = std::get_if<wire::Update>(&m)) {
        ++counters_.updates_in;
        if (c.phase() != Phase::established) return unexpected("UPDATE");
        return on_update(c, *update);
    }
    if (auto* n = std::get_if<wire::Notification>(&m)) {
        // A router going down on purpose (restart, maintenance) comes back as a whole: dial
        // it again at the shortest delay, whatever earlier flaps did to the backoff.
        if (c.phase() == Phase::established && n->code == wire::err::kCease &&
            (n->subcode == wire::err::kAdministrativeShutdown ||
             n->subcode == wire::err::kAdministrativeReset))
            backoff_ = kMinBackoff;
        // Never answered: a NOTIFICATION ends the connection (RFC 4271 §6.1).
        return fail(c, std::nullopt,
                    "received NOTIFICATION " + wire::describe(*n) + shutdown_text(*n));
    }
    if (auto* rr = std::get_if<wire::RouteRefresh>(&m)) {
        if (c.phase() != Phase::established) return unexpected("ROUTE-REFRESH");
        // RFC 2918: re-send the Adj-RIB-Out of that family.
        spdlog::info("bgp peer {}: route refresh requested (afi {} safi {})", label_,
                     rr->family.afi, rr->family.safi);
        std::erase_if(adj_rib_out_,
                      [&](const Sent& s) { return family_of(s.prefix) == rr->family; });
        sync();
    }
}

void Session::on_open(Connection& c, wire::Open&& open) {
    const uint32_t peer_as = open.capabilities.four_octet_as.value_or(open.my_as);
    if (peer_as != settings_.remote_as)
        return fail(c, wire::Notification{wire::err::kOpen, wire::err::kBadPeerAs, {}},
                    "peer says AS " + std::to_string(peer_as) + ", configured " +
                        std::to_string(settings_.remote_as));
    const uint32_t our_id = settings_.router_id.v4_host_order();
    if (settings_.remote_as == settings_.local_as && open.bgp_identifier == our_id)
        return fail(c, wire::Notification{wire::err::kOpen, wire::err::kBadBgpIdentifier, {}},
                    "peer uses our BGP identifier");
    // Collision resolution (RFC 4271 §6.8): the connection dialled by the higher BGP
    // Identifier survives.
    for (auto& other : connections_) {
        if (other.get() == &c || !other->live()) continue;
        if (other->phase() == Connection::Phase::connecting) {
            other->abort();
            continue;
        }
        const bool keep_inbound = our_id < open.bgp_identifier;
        Connection& loser = (c.outbound() == keep_inbound) ? c : *other;
        spdlog::info("bgp peer {}: connection collision, keeping the {} connection", label_,
                     keep_inbound ? "incoming" : "outgoing");
        loser.close(
            wire::Notification{wire::err::kCease, wire::err::kConnectionCollisionResolution, {}});
        if (&loser == &c) return update_state("connection collision");
    }
    c.negotiate(open);
    update_state("OPEN received");
}

void Session::on_established(Connection& c) {
    c.set_established();
    counters_.established_since = net::monotonic_seconds();
    last_error_.clear();
    update_state("hold time " + std::to_string(c.hold_time()) + "s");
    adj_rib_out_.clear();
    sync();
    // End-of-RIB per family (RFC 4724 §2): the peer knows our initial table is complete.
    for (const auto& af : c.families()) {
        wire::Update eor;
        if (af != wire::kIpv4Unicast) eor.attributes.mp_unreach = wire::MpUnreach{af, {}};
        send_update(c, eor);
    }
}

void Session::on_update(Connection&, const wire::Update& u) {
    // We do not route: received routes are validated (by the decoder) and dropped.
    if (u.treat_as_withdraw)
        spdlog::warn("bgp peer {}: malformed UPDATE treated as withdraw: {}", label_,
                     u.malformation);
}

void Session::fail(Connection& c, std::optional<wire::Notification> n, const std::string& cause) {
    if (!c.live()) return;
    const bool was_established = c.phase() == Connection::Phase::established;
    const bool had_opened = c.phase() != Connection::Phase::connecting;
    std::string why = cause;
    if (n && had_opened) why += "; sent NOTIFICATION " + wire::describe(*n);
    last_error_ = why;
    c.close(std::move(n));
    if (was_established) {
        if (net::monotonic_seconds() - counters_.established_since >= kStableSession)
            backoff_ = kMinBackoff;
        ++counters_.flaps;
        counters_.established_since = 0;
        adj_rib_out_.clear();
    }
    const bool busy = std::any_of(connections_.begin(), connections_.end(),
                                  [](const auto& other) { return other->live(); });
    if (!busy && !stopped_ && !held_down_) {
        idle_after_error_ = had_opened;
        schedule_retry();
        why += "; retry in " + fmt::format("{:.1f}s", retry_timer_.remaining());
    }
    update_state(why);
}

void Session::on_closed(Connection&) {
    reap_timer_.start(0);
}

void Session::reap() {
    std::erase_if(connections_, [](const auto& c) { return c->closed(); });
    if (finished() && on_finished_) on_finished_();
}

void Session::update_state(const std::string& cause) {
    State next = State::idle;
    bool any_live = false;
    for (const auto& c : connections_) {
        if (!c->live()) continue;
        any_live = true;
        State s = State::connect;
        switch (c->phase()) {
            case Connection::Phase::open_sent:
                s = State::open_sent;
                break;
            case Connection::Phase::open_confirm:
                s = State::open_confirm;
                break;
            case Connection::Phase::established:
                s = State::established;
                break;
            default:
                break;
        }
        next = std::max(next, s);
    }
    if (!any_live && !stopped_ && !idle_after_error_ && retry_timer_.active()) next = State::active;
    if (next == state_) return;
    // Leaving Established unasked is what an operator looks for.
    const auto level =
        state_ == State::established && !stopped_ ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "bgp peer {}: {} -> {} ({})", label_, to_string(state_), to_string(next),
                cause);
    state_ = next;
}

std::optional<wire::PathAttributes> Session::attributes_for(const Connection& c,
                                                            const Advertisement& ad) const {
    const wire::AddressFamily family = family_of(ad.prefix);
    if (std::find(c.families().begin(), c.families().end(), family) == c.families().end())
        return std::nullopt;
    const bool ibgp = c.options().ibgp;
    wire::PathAttributes a;
    a.origin = wire::Origin::igp;
    a.as_path = wire::AsPath{};
    if (!ibgp)
        a.as_path->push_back(
            {wire::kAsSequence, std::vector<uint32_t>(1 + ad.as_path_prepend, settings_.local_as)});
    a.med = ad.med;
    if (ibgp) a.local_pref = kLocalPref;
    a.communities = ad.communities;
    const net::IpAddress local = c.local().ip();
    if (family == wire::kIpv4Unicast) {
        if (ad.next_hop && ad.next_hop->is_v4())
            a.next_hop = *ad.next_hop;
        else
            a.next_hop = local.is_v4() ? local : settings_.router_id;
    } else {
        net::IpAddress nh = ad.next_hop ? *ad.next_hop : local;
        if (nh.is_v4()) nh = v4_mapped(nh);  // IPv6 route over an IPv4 session (RFC 4291 §2.5.5.2)
        a.mp_reach = wire::MpReach{family, {nh}, {ad.prefix}};
    }
    return a;
}

void Session::send_update(Connection& c, const wire::Update& u) {
    c.send(u);
}

void Session::withdraw(Connection& c, const std::vector<net::IpPrefix>& prefixes) {
    std::vector<net::IpPrefix> v4, v6;
    for (const auto& p : prefixes)
        (p.address.is_v4() ? v4 : v6).push_back(p);
    for (size_t i = 0; i < v4.size(); i += kMaxPrefixesPerUpdate) {
        wire::Update u;
        const size_t end = std::min(v4.size(), i + kMaxPrefixesPerUpdate);
        u.withdrawn.assign(v4.begin() + static_cast<ptrdiff_t>(i),
                           v4.begin() + static_cast<ptrdiff_t>(end));
        send_update(c, u);
    }
    for (size_t i = 0; i < v6.size(); i += kMaxPrefixesPerUpdate / 4) {
        wire::Update u;
        const size_t end = std::min(v6.size(), i + kMaxPrefixesPerUpdate / 4);
        u.attributes.mp_unreach = wire::MpUnreach{
            wire::kIpv6Unicast,
            {v6.begin() + static_cast<ptrdiff_t>(i), v6.begin() + static_cast<ptrdiff_t>(end)}};
        send_update(c, u);
    }
}

void Session::sync() {
    Connection* c = established_connection();
    if (!c) return;
    // Withdrawals first: they are the urgent half of a failover.
    std::vector<net::IpPrefix> gone;
    std::erase_if(adj_rib_out_, [&](const Sent& s) {
        const bool wanted =
            std::any_of(desired_.begin(), desired_.end(),
                        [&](const Advertisement& ad) { return ad.prefix == s.prefix; });
        if (!wanted) gone.push_back(s.prefix);
        return !wanted;
    });
    if (!gone.empty()) withdraw(*c, gone);
    for (const auto& ad : desired_) {
        auto attrs = attributes_for(*c, ad);
        if (!attrs) continue;
        auto sent = std::find_if(adj_rib_out_.begin(), adj_rib_out_.end(),
                                 [&](const Sent& s) { return s.prefix == ad.prefix; });
        if (sent != adj_rib_out_.end() && sent->attributes == *attrs) continue;  // unchanged
        wire::Update u;
        u.attributes = *attrs;
        if (ad.prefix.address.is_v4()) u.nlri.push_back(ad.prefix);
        send_update(*c, u);
        if (!c->live()) return;
        if (sent != adj_rib_out_.end())
            sent->attributes = std::move(*attrs);
        else
            adj_rib_out_.push_back(Sent{ad.prefix, std::move(*attrs)});
    }
}

std::optional<SessionHandOver> Session::hand_over() {
    std::optional<SessionHandOver> out;
    Connection* c = established_connection();
    if (c) {
        SessionHandOver h;
        h.peer = settings_.address;
        h.port = settings_.port;
        for (const auto& sent : adj_rib_out_) {
            wire::Update u;
            u.attributes = sent.attributes;
            if (sent.prefix.address.is_v4()) u.nlri.push_back(sent.prefix);
            h.adj_rib_out.push_back(wire::encode(u, c->options()));
        }
        h.counters = counters_;
        if (c->release(h))
            out = std::move(h);
        else
            spdlog::warn("bgp peer {}: output not flushed within {}s: not handed over", label_,
                         kCloseTimeout);
    }
    stopped_ = true;
    retry_timer_.stop();
    adj_rib_out_.clear();
    for (auto& other : connections_)
        other->abort();
    return out;
}

bool Session::adopt(SessionHandOver&& h) {
    if (!connections_.empty() || stopped_) return false;
    // The routes as sent: each UPDATE decodes back to its prefix and attributes.
    std::vector<Sent> sent;
    for (const auto& bytes : h.adj_rib_out) {
        auto d = wire::decode(bytes, h.options);
        auto* u = d.message ? std::get_if<wire::Update>(&*d.message) : nullptr;
        if (!u) return false;
        if (!u->nlri.empty())
            sent.push_back({u->nlri.front(), u->attributes});
        else if (u->attributes.mp_reach && !u->attributes.mp_reach->nlri.empty())
            sent.push_back({u->attributes.mp_reach->nlri.front(), u->attributes});
    }
    adj_rib_out_ = std::move(sent);
    counters_ = h.counters;
    connections_.push_back(std::make_unique<Connection>(*this, std::move(h.fd), true));
    connections_.back()->adopt(h);
    update_state("taken over from the previous process, hold time " + std::to_string(h.hold_time) +
                 "s");
    return true;
}

PeerStatus Session::status() const {
    PeerStatus s;
    s.address = label_;
    s.remote_as = settings_.remote_as;
    s.state = to_string(state_);
    s.established = state_ == State::established;
    s.established_since = counters_.established_since;
    s.last_error = last_error_;
    s.messages_in = counters_.messages_in;
    s.messages_out = counters_.messages_out;
    s.updates_in = counters_.updates_in;
    s.updates_out = counters_.updates_out;
    s.flaps = counters_.flaps;
    s.md5_failures = md5_failures_;
    return s;
}

}  // namespace clb::bgp
