#include "contrail_lb/bfd/engine.hpp"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::bfd {

namespace {

constexpr uint8_t kTtl = 255;                 // RFC 5881 §5: sent with 255, accepted only with 255
constexpr int kNetworkControlTos = 0xC0;      // DSCP CS6, as routing protocols mark themselves
constexpr uint16_t kFirstSourcePort = 49152;  // RFC 5881 §4: 49152-65535
constexpr int kSourcePortAttempts = 64;
constexpr double kSocketRetry = 5.0;    // receive sockets that could not be opened
constexpr int kMaxReadsPerWakeup = 64;  // a flood of datagrams does not starve the timers

int set_int(int fd, int level, int name, int value) {
    return ::setsockopt(fd, level, name, &value, sizeof value) < 0 ? errno : 0;
}

std::string describe(const net::IpAddress& peer) {
    return peer.to_string();
}

}  // namespace

namespace {

// What the client thread and the BFD thread share; every field under `mutex`.
struct Shared {
    std::mutex mutex;
    std::optional<std::vector<SessionConfig>> wanted;  // not yet taken by the BFD thread
    bool stopping = false;
    bool handing_over = false;       // the client waits for `handed`
    std::optional<HandOver> handed;  // filled by the BFD thread, then it stops
    std::condition_variable handed_ready;
    std::vector<Event> events;  // not yet taken by the client
    std::shared_ptr<const Snapshot> snapshot = std::make_shared<Snapshot>();
};

// ---------------------------------------------------------------------------------------------
// The BFD thread: its loop, the receive sockets, the sessions. Nothing here is touched by
// another thread except through Shared and the async watcher.

class Worker {
  public:
    Worker(Shared& shared, Options options, std::function<void()> notify_client, HandOver adopted)
        : shared_(shared),
          options_(options),
          adopted_(std::move(adopted)),
          notify_client_(std::move(notify_client)),
          random_(static_cast<unsigned>(std::random_device{}())),
          wake_(loop_.raw(), [this] { on_wake(); }),
          socket_retry_(loop_.raw(), [this] { open_receivers(); }) {}

    void run() { loop_.run(); }
    void wake() { wake_.send(); }  // any thread

  private:
    struct Session {
        Session(Worker& w, SessionConfig c, uint32_t discriminator)
            : config(std::move(c)),
              fsm(discriminator, config.timers),
              tx_timer(w.loop_.raw(), [&w, this] { w.on_tx_timer(*this); }),
              detect_timer(w.loop_.raw(), [&w, this] { w.on_detection_timeout(*this); }) {}
        Session(Worker& w, SessionConfig c, const Fsm::Saved& saved)
            : config(std::move(c)),
              fsm(config.timers, saved),
              tx_timer(w.loop_.raw(), [&w, this] { w.on_tx_timer(*this); }),
              detect_timer(w.loop_.raw(), [&w, this] { w.on_detection_timeout(*this); }) {}
        SessionConfig config;
        Fsm fsm;
        net::Fd fd;
        uint16_t source_port = 0;
        net::Timer tx_timer;
        net::Timer detect_timer;
        double state_since = 0;
        uint64_t packets_in = 0;
        uint64_t packets_out = 0;
        uint32_t flaps = 0;
        std::string error;
    };

    struct Receiver {
        Receiver(struct ev_loop* loop, net::Fd f, std::function<void(int)> cb)
            : fd(std::move(f)), io(loop, [this, cb = std::move(cb)](int) { cb(fd.get()); }) {}
        net::Fd fd;
        net::IoWatcher io;
    };

    // --- commands from the client -------------------------------------------------------

    void on_wake() {
        std::optional<std::vector<SessionConfig>> wanted;
        bool stopping = false, handing_over = false;
        {
            std::lock_guard lock(shared_.mutex);
            wanted.swap(shared_.wanted);
            stopping = shared_.stopping;
            handing_over = shared_.handing_over;
        }
        if (handing_over) return hand_over();
        if (stopping) return stop();
        if (wanted) reconcile(*wanted);
        publish();
    }

    void reconcile(const std::vector<SessionConfig>& wanted) {
        std::erase_if(sessions_, [&](const std::unique_ptr<Session>& s) {
            const bool kept = std::any_of(wanted.begin(), wanted.end(),
                                          [&](const auto& w) { return w.peer == s->config.peer; });
            if (!kept) {
                spdlog::info("bfd peer {}: session removed, sent AdminDown",
                             describe(s->config.peer));
                s->fsm.set_admin_down();
                send(*s, false);
            }
            return !kept;
        });
        for (const auto& w : wanted) {
            Session* s = find_by_peer(w.peer);
            if (!s) {
                add_session(w);
                continue;
            }
            if (s->config.timers == w.timers) continue;
            spdlog::info("bfd peer {}: new timers tx {}ms rx {}ms x{}{}", describe(w.peer),
                         w.timers.min_tx_us / 1000, w.timers.min_rx_us / 1000,
                         unsigned{w.timers.multiplier},
                         s->fsm.state() == State::up ? ", announced by a Poll sequence" : "");
            s->config.timers = w.timers;
            s->fsm.set_timers(w.timers);
            send(*s, false);
            schedule_tx(*s);
        }
        open_receivers();
    }

    // Upgrade: every session leaves as it is, with its socket; no AdminDown.
    void hand_over() {
        HandOver out;
        for (auto& s : sessions_) {
            if (!s->fd) continue;  // no socket to keep its source port: the next one starts anew
            s->tx_timer.stop();
            s->detect_timer.stop();
            out.sessions.push_back({s->config, s->fsm.save(), std::move(s->fd), s->source_port,
                                    s->state_since, s->packets_in, s->packets_out, s->flaps});
        }
        sessions_.clear();
        for (int i = 0; i < 2; ++i)
            if (receivers_[i]) out.receivers[i] = std::move(receivers_[i]->fd);
        for (auto& r : receivers_)
            r.reset();
        socket_retry_.stop();
        {
            std::lock_guard lock(shared_.mutex);
            shared_.handed = std::move(out);
        }
        shared_.handed_ready.notify_all();
        loop_.stop();
    }

    // Upgrade, the other side: the previous process's session for this peer, if any.
    bool adopt_session(const SessionConfig& config) {
        auto it = std::find_if(adopted_.sessions.begin(), adopted_.sessions.end(),
                               [&](const auto& h) { return h.config.peer == config.peer; });
        if (it == adopted_.sessions.end()) return false;
        auto s = std::make_unique<Session>(*this, config, it->fsm);
        s->fd = std::move(it->fd);
        s->source_port = it->source_port;
        s->state_since = it->state_since;
        s->packets_in = it->packets_in;
        s->packets_out = it->packets_out;
        s->flaps = it->flaps;
        adopted_.sessions.erase(it);
        if (!(config.timers == s->fsm.timers())) s->fsm.set_timers(config.timers);
        spdlog::info(
            "bfd peer {}: session taken over in state {} (discriminators {}/{}, "
            "source port {})",
            describe(config.peer), to_string(s->fsm.state()), s->fsm.local_discriminator(),
            s->fsm.remote_discriminator(), s->source_port);
        send(*s, false);  // at once: the peer's detection timer never runs out
        schedule_tx(*s);
        if (const uint64_t detect = s->fsm.detection_time_us())
            s->detect_timer.start(static_cast<double>(detect) / 1e6);
        sessions_.push_back(std::move(s));
        return true;
    }

    void add_session(const SessionConfig& config) {
        if (adopt_session(config)) return;
        auto s = std::make_unique<Session>(*this, config, new_discriminator());
        s->state_since = ev_now(loop_.raw());
        open_socket(*s);
        spdlog::info(
            "bfd peer {}: session created (tx {}ms rx {}ms x{}, discriminator {}, "
            "source port {})",
            describe(config.peer), config.timers.min_tx_us / 1000, config.timers.min_rx_us / 1000,
            unsigned{config.timers.multiplier}, s->fsm.local_discriminator(), s->source_port);
        send(*s, false);
        schedule_tx(*s);
        sessions_.push_back(std::move(s));
    }

    void stop() {
        for (auto& s : sessions_) {
            s->fsm.set_admin_down();
            send(*s, false);
        }
        sessions_.clear();
        for (auto& r : receivers_)
            r.reset();
        socket_retry_.stop();
        loop_.stop();
    }

    uint32_t new_discriminator() {
        std::uniform_int_distribution<uint32_t> any(1, UINT32_MAX);
        for (;;) {
            const uint32_t d = any(random_);
            if (!find_by_discriminator(d)) return d;
        }
    }

    Session* find_by_peer(const net::IpAddress& peer) const {
        for (const auto& s : sessions_)
            if (s->config.peer == peer) return s.get();
        return nullptr;
    }

    Session* find_by_discriminator(uint32_t d) const {
        for (const auto& s : sessions_)
            if (s->fsm.local_discriminator() == d) return s.get();
        return nullptr;
    }

    // --- sockets ----------------------------------------------------------------------------

    // One receive socket per address family in use, on the well-known port.
    void open_receivers() {
        bool want[2] = {false, false};
        for (const auto& s : sessions_)
            want[s->config.peer.is_v4() ? 0 : 1] = true;
        std::string error;
        for (int i = 0; i < 2; ++i) {
            if (!want[i] || receivers_[i]) continue;
            const int family = i == 0 ? AF_INET : AF_INET6;
            int err = 0;
            // Upgrade: the previous process's socket, so no datagram finds the port closed.
            net::Fd fd = adopted_.receivers[i] ? std::move(adopted_.receivers[i])
                                               : open_receiver(family, err);
            if (!fd) {
                error =
                    fmt::format("cannot receive BFD on UDP port {} ({}): {}", options_.listen_port,
                                family == AF_INET ? "IPv4" : "IPv6", net::error_text(err));
                continue;
            }
            auto r = std::make_unique<Receiver>(loop_.raw(), std::move(fd),
                                                [this](int rfd) { on_readable(rfd); });
            r->io.start(r->fd.get(), EV_READ);
            receivers_[i] = std::move(r);
        }
        if (error != socket_error_) {
            if (!error.empty())
                spdlog::error("bfd: {}; retrying every {:.0f}s", error, kSocketRetry);
            socket_error_ = error;
        }
        if (error.empty())
            socket_retry_.stop();
        else if (!socket_retry_.active())
            socket_retry_.start(kSocketRetry, kSocketRetry);
    }

    net::Fd open_receiver(int family, int& err) {
        net::Fd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            err = errno;
            return fd;
        }
        // No SO_REUSEADDR: with another BFD daemon on this host the kernel would hand each
        // datagram to one of the two; a bind that fails says so instead.
        if (family == AF_INET) {
            err = set_int(fd.get(), IPPROTO_IP, IP_RECVTTL, 1);
        } else {
            err = set_int(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1);
            if (!err) err = set_int(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
        }
        const auto any = net::IpAddress::parse(family == AF_INET ? "0.0.0.0" : "::");
        const net::SocketAddress addr(*any, options_.listen_port);
        if (!err && ::bind(fd.get(), addr.sa(), addr.len()) < 0) err = errno;
        if (err) fd.reset();
        return fd;
    }

    // The session's own sending socket: TTL 255, a source port of its own in 49152-65535.
    void open_socket(Session& s) {
        const int family = s.config.peer.family();
        net::Fd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int err = fd ? 0 : errno;
        if (!err && family == AF_INET) {
            err = set_int(fd.get(), IPPROTO_IP, IP_TTL, kTtl);
            set_int(fd.get(), IPPROTO_IP, IP_TOS, kNetworkControlTos);
        } else if (!err) {
            err = set_int(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, kTtl);
            set_int(fd.get(), IPPROTO_IPV6, IPV6_TCLASS, kNetworkControlTos);
        }
        const auto any = net::IpAddress::parse(family == AF_INET ? "0.0.0.0" : "::");
        std::uniform_int_distribution<int> port(kFirstSourcePort, 65535);
        uint16_t bound = 0;
        for (int attempt = 0; !err && attempt < kSourcePortAttempts && !bound; ++attempt) {
            const auto candidate = static_cast<uint16_t>(port(random_));
            const net::SocketAddress addr(*any, candidate);
            if (::bind(fd.get(), addr.sa(), addr.len()) == 0)
                bound = candidate;
            else if (errno != EADDRINUSE)
                err = errno;
        }
        if (!err && !bound) err = EADDRINUSE;
        if (err) {
            s.error = "cannot open a sending socket: " + net::error_text(err);
            return;
        }
        s.fd = std::move(fd);
        s.source_port = bound;
    }

    void send(Session& s, bool final) {
        if (!s.fd) open_socket(s);
        if (!s.fd) return;
        const auto bytes = encode(s.fsm.packet(final));
        const net::SocketAddress to(s.config.peer, options_.peer_port);
        if (::sendto(s.fd.get(), bytes.data(), bytes.size(), MSG_DONTWAIT, to.sa(), to.len()) < 0) {
            s.error = "send: " + net::error_text(errno);
            return;
        }
        s.error.clear();
        ++s.packets_out;
    }

    // --- timers -------------------------------------------------------------------------------

    // §6.8.7: the periodic interval less 0-25% jitter (10-25% with a multiplier of 1).
    double jittered(uint32_t interval_us, uint8_t multiplier) {
        std::uniform_real_distribution<double> factor(0.75, multiplier == 1 ? 0.90 : 1.0);
        return interval_us / 1e6 * factor(random_);
    }

    void schedule_tx(Session& s) {
        const uint32_t interval = s.fsm.tx_interval_us();
        if (interval == 0) return s.tx_timer.stop();
        // A shorter interval takes effect now, not after the old, longer one ran out.
        if (s.tx_timer.active() && s.tx_timer.remaining() <= interval / 1e6) return;
        s.tx_timer.start(jittered(interval, s.fsm.timers().multiplier));
    }

    void on_tx_timer(Session& s) {
        send(s, false);
        s.tx_timer.stop();
        schedule_tx(s);
        publish();
    }

    void on_detection_timeout(Session& s) {
        // After this thread was not scheduled for a while, the peer's packets wait in the
        // socket beside the expired timer, and libev runs the timer first: read them before
        // deciding the peer is silent, so a local stall is not taken for the peer's fault.
        read_waiting_packets();
        if (s.detect_timer.active()) return;  // a packet of the peer's restarted it
        const State before = s.fsm.state();
        if (s.fsm.detection_expired()) {
            changed(s, before);
            send(s, false);
            schedule_tx(s);
        }
        publish();
    }

    // --- receiving ------------------------------------------------------------------------

    void on_readable(int fd) {
        for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
            uint8_t buf[512];
            sockaddr_storage from{};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) * 4];
            iovec iov{buf, sizeof buf};
            msghdr msg{};
            msg.msg_name = &from;
            msg.msg_namelen = sizeof from;
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                break;  // EAGAIN, or an error the next readiness reports again
            }
            ++packets_in_;
            const auto source = net::SocketAddress::from_sockaddr(
                reinterpret_cast<sockaddr*>(&from), msg.msg_namelen);
            receive(std::span<const uint8_t>(buf, static_cast<size_t>(n)), source.ip(),
                    received_ttl(msg));
        }
        publish();
    }

    void read_waiting_packets() {
        for (auto& r : receivers_)
            if (r) on_readable(r->fd.get());
    }

    static int received_ttl(msghdr& msg) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            const bool ttl = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                             (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT);
            if (!ttl) continue;
            int value = 0;
            std::memcpy(&value, CMSG_DATA(c), sizeof value);
            return value;
        }
        return -1;
    }

    void drop(Drop why, const net::IpAddress& source) {
        ++dropped_[static_cast<size_t>(why)];
        spdlog::debug("bfd: dropped a packet from {}: {}", source.to_string(), to_string(why));
    }

    void receive(std::span<const uint8_t> bytes, const net::IpAddress& source, int ttl) {
        if (ttl != kTtl) return drop(Drop::bad_ttl, source);  // GTSM: not from this link
        const Decoded d = decode(bytes);
        if (!d.packet) return drop(d.drop, source);
        const ControlPacket& p = *d.packet;
        Session* s = p.your_discriminator ? find_by_discriminator(p.your_discriminator)
                                          : find_by_peer(source);
        // Single hop: a discriminator only counts when it comes from that session's peer.
        if (!s || s->config.peer != source) return drop(Drop::unknown_session, source);
        ++s->packets_in;
        const State before = s->fsm.state();
        const Fsm::Received r = s->fsm.receive(p);
        if (r.send_final) send(*s, true);
        if (r.state_changed) {
            changed(*s, before);
            send(*s, false);  // §6.8.7: a changed packet goes out at once
        }
        if (r.poll_finished)
            spdlog::info("bfd peer {}: Poll sequence done, tx every {}ms, detection {}ms",
                         describe(s->config.peer), s->fsm.tx_interval_us() / 1000,
                         s->fsm.detection_time_us() / 1000);
        schedule_tx(*s);
        if (const uint64_t detect = s->fsm.detection_time_us())
            s->detect_timer.start(static_cast<double>(detect) / 1e6);
    }

    void changed(Session& s, State before) {
        const State now = s.fsm.state();
        s.state_since = ev_now(loop_.raw());
        if (before == State::up) ++s.flaps;
        const auto level = before == State::up ? spdlog::level::warn : spdlog::level::info;
        spdlog::log(level, "bfd peer {}: {} -> {} ({}; remote {}, detection {}ms)",
                    describe(s.config.peer), to_string(before), to_string(now),
                    now == State::up ? "three-way handshake done" : to_string(s.fsm.diag()),
                    to_string(s.fsm.remote_state()), s.fsm.detection_time_us() / 1000);
        Event e{s.config.peer, before, now, s.fsm.diag(),
                s.fsm.diag() == Diag::neighbor_signaled_down &&
                    s.fsm.remote_state() == State::admin_down};
        publish();  // a client told of the change must find it in the snapshot too
        {
            std::lock_guard lock(shared_.mutex);
            shared_.events.push_back(e);
        }
        notify_client_();
    }

    void publish() {
        auto snap = std::make_shared<Snapshot>();
        snap->dropped = dropped_;
        snap->packets_in = packets_in_;
        snap->socket_error = socket_error_;
        for (const auto& s : sessions_) {
            const Fsm& f = s->fsm;
            snap->sessions.push_back(
                SessionStatus{s->config.peer, f.state(), f.remote_state(), f.diag(),
                              f.local_discriminator(), f.remote_discriminator(), s->source_port,
                              s->config.timers, f.tx_interval_us(), f.detection_time_us(),
                              f.remote_multiplier(), f.remote_min_rx_us(), f.remote_min_tx_us(),
                              s->state_since, s->packets_in, s->packets_out, s->flaps, s->error});
        }
        std::lock_guard lock(shared_.mutex);
        shared_.snapshot = std::move(snap);
    }

    Shared& shared_;
    Options options_;
    HandOver adopted_;  // until set_sessions() takes it
    std::function<void()> notify_client_;
    std::minstd_rand random_;
    net::Loop loop_;
    net::AsyncWaker wake_;
    net::Timer socket_retry_;
    std::unique_ptr<Receiver> receivers_[2];  // IPv4, IPv6
    std::vector<std::unique_ptr<Session>> sessions_;
    std::array<uint64_t, kDropCauses> dropped_{};
    uint64_t packets_in_ = 0;
    std::string socket_error_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

class Engine::Impl {
  public:
    Impl(struct ev_loop* client_loop, EventHandler on_event, Options options, HandOver adopted)
        : on_event_(std::move(on_event)),
          events_ready_(client_loop, [this] { deliver_events(); }),
          worker_(
              shared_, options, [this] { events_ready_.send(); }, std::move(adopted)),
          thread_([this] { worker_.run(); }) {}

    ~Impl() {
        {
            std::lock_guard lock(shared_.mutex);
            shared_.stopping = true;
        }
        worker_.wake();
        thread_.join();
    }

    void set_sessions(std::vector<SessionConfig> sessions) {
        {
            std::lock_guard lock(shared_.mutex);
            shared_.wanted = std::move(sessions);
        }
        worker_.wake();
    }

    std::shared_ptr<const Snapshot> snapshot() const {
        std::lock_guard lock(shared_.mutex);
        return shared_.snapshot;
    }

    HandOver hand_over() {
        {
            std::lock_guard lock(shared_.mutex);
            shared_.handing_over = true;
        }
        worker_.wake();
        std::unique_lock lock(shared_.mutex);
        shared_.handed_ready.wait(lock, [this] { return shared_.handed.has_value(); });
        HandOver out = std::move(*shared_.handed);
        shared_.handed.reset();
        return out;
    }

  private:
    void deliver_events() {
        std::vector<Event> events;
        {
            std::lock_guard lock(shared_.mutex);
            events.swap(shared_.events);
        }
        for (const auto& e : events)
            on_event_(e);
    }

    EventHandler on_event_;
    mutable Shared shared_;
    net::AsyncWaker events_ready_;
    Worker worker_;
    std::thread thread_;  // last: starts once everything it uses exists
};

Engine::Engine(struct ev_loop* client_loop, EventHandler on_event, Options options,
               HandOver adopted)
    : impl_(std::make_unique<Impl>(client_loop, std::move(on_event), options, std::move(adopted))) {
}
HandOver Engine::hand_over() {
    return impl_->hand_over();
}
Engine::~Engine() = default;
void Engine::set_sessions(std::vector<SessionConfig> sessions) {
    impl_->set_sessions(std::move(sessions));
}
std::shared_ptr<const Snapshot> Engine::snapshot() const {
    return impl_->snapshot();
}

}  // namespace clb::bfd
