#include "contrail_lb/bgp/speaker.hpp"
#include "contrail_lb/net/acceptor.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "bgp/session.hpp"
#include "contrail_lb/bfd/engine.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::bgp {

namespace {

constexpr double kShutdownBound = 1.0;  // after the Cease, at most this long for the FIN

uint16_t hold_seconds(config::Duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s <= 0) return 0;
    return static_cast<uint16_t>(std::clamp<long long>(s, 3, 65535));  // 1 and 2 are illegal
}

std::vector<wire::AddressFamily> families_for(const config::Bgp& config) {
    bool v4 = false, v6 = false;
    for (const auto& vip : config.vips)
        (vip.prefix.address.is_v4() ? v4 : v6) = true;
    std::vector<wire::AddressFamily> families;
    if (v4 || !v6) families.push_back(wire::kIpv4Unicast);
    if (v6) families.push_back(wire::kIpv6Unicast);
    return families;
}

SessionSettings settings_for(const config::Bgp& config, const config::BgpPeer& peer) {
    return SessionSettings{peer.address,
                           peer.port,
                           peer.remote_as,
                           peer.password,
                           config.router_id,
                           config.local_as,
                           hold_seconds(config.hold_time),
                           families_for(config)};
}

bfd::Timers bfd_timers(const config::Bfd& b) {
    auto us = [](config::Duration d) { return static_cast<uint32_t>(d.count() * 1000); };
    return bfd::Timers{us(b.min_tx), us(b.min_rx), static_cast<uint8_t>(b.multiplier)};
}

// What BGP knows of the BFD session to one peer address (RFC 5882, BIRD's model): BFD
// that has never been Up blocks nothing; once it was Up, its going Down holds the BGP
// sessions to that address down until it is Up again.
struct BfdGate {
    net::IpAddress peer;
    bfd::State state = bfd::State::down;
    bool holding = false;
    std::string reason;
};

struct VipState {
    bool announced = false;
    std::string reason = "not evaluated yet";
    double changed_at = 0;
};

}  // namespace

class Speaker::Impl {
  public:
    Impl(struct ev_loop* loop, const config::Bgp& config, SpeakerHandOver adopted,
         ServiceHealthMap health)
        : loop_(loop),
          random_(static_cast<unsigned>(std::random_device{}())),
          graceful_timer_(loop, [this] { withdraw_and_close(); }),
          withdraw_wait_timer_(loop, [this] { close_sessions(); }),
          shutdown_timer_(loop, [this] { finish_shutdown("the 1 s bound ran out"); }),
          finish_check_(loop, [this] { check_shutdown_done(); }) {
        adopted_ = std::move(adopted.sessions);
        adopted_bfd_ = std::move(adopted.bfd);
        health_ = std::move(health);
        apply(config);
        for (const auto& h : adopted_)
            spdlog::warn("bgp: a session handed over for {} has no configured peer: closed",
                         h.peer.to_string());
        adopted_.clear();
    }

    SpeakerHandOver hand_over() {
        shutting_down_ = true;
        listeners_.clear();
        SpeakerHandOver out;
        for (auto& session : sessions_)
            if (auto h = session->hand_over()) out.sessions.push_back(std::move(*h));
        if (bfd_) out.bfd = bfd_->hand_over();
        return out;
    }

    ~Impl() {
        // Destroyed without shutdown(): sockets simply close and the kernel ends the sessions.
        listeners_.clear();
        sessions_.clear();
    }

    void apply(const config::Bgp& config) {
        if (shutting_down_) {
            spdlog::warn("bgp: reload ignored: shutting down");
            return;
        }
        const bool listen_changed = !config_ || config_->listen != config.listen ||
                                    config_->listen_port != config.listen_port ||
                                    listen_keys(*config_) != listen_keys(config);
        std::vector<net::IpPrefix> old_prefixes;
        if (config_)
            for (const auto& vip : config_->vips)
                old_prefixes.push_back(vip.prefix);
        config_ = config;
        reconcile_sessions();
        configure_bfd();
        if (listen_changed) open_listeners();
        // VIP state follows the prefix across reloads.
        std::vector<VipState> vips(config.vips.size());
        for (size_t i = 0; i < config.vips.size(); ++i)
            for (size_t j = 0; j < old_prefixes.size(); ++j)
                if (old_prefixes[j] == config.vips[i].prefix) vips[i] = vips_[j];
        vips_ = std::move(vips);
        evaluate();
    }

    void set_service_health(const ServiceHealthMap& health) {
        health_ = health;
        evaluate();
    }

    void set_node_healthy(bool healthy, const std::string& reason) {
        if (healthy == node_healthy_ && reason == node_reason_) return;
        node_healthy_ = healthy;
        node_reason_ = reason;
        if (healthy)
            spdlog::info("bgp: node healthy again{}", reason.empty() ? "" : ": " + reason);
        else
            spdlog::warn("bgp: node unhealthy: {}", reason);
        evaluate();
    }

    void shutdown(std::function<void()> done) {
        done_.push_back(std::move(done));
        if (shutting_down_) {
            if (withdrawing_) finish_check_.start(0);  // may already be complete
            return;
        }
        shutting_down_ = true;
        listeners_.clear();
        const bool announced = std::any_of(sessions_.begin(), sessions_.end(),
                                           [](const auto& s) { return s->has_announced(); });
        const double grace = std::chrono::duration<double>(config_->graceful_shutdown).count();
        if (grace > 0 && announced) {
            spdlog::info("bgp: graceful shutdown: announcing GRACEFUL_SHUTDOWN for {:.1f}s", grace);
            graceful_phase_ = true;
            evaluate();
            graceful_timer_.start(grace);
            return;
        }
        withdraw_and_close();
    }

    SpeakerStatus status() const {
        SpeakerStatus s;
        s.router_id = config_->router_id.to_string();
        s.local_as = config_->local_as;
        s.accept_pauses = accept_pauses_.load(std::memory_order_relaxed);
        const auto bfd = bfd_ ? bfd_->snapshot() : nullptr;
        for (const auto& session : sessions_)
            if (!session->stopped() || shutting_down_)
                s.peers.push_back(peer_status(*session, bfd.get()));
        if (bfd) {
            for (size_t i = 0; i < bfd::kDropCauses; ++i)
                s.bfd_dropped.emplace_back(bfd::to_string(static_cast<bfd::Drop>(i)),
                                           bfd->dropped[i]);
            s.bfd_error = bfd->socket_error;
        }
        for (size_t i = 0; i < config_->vips.size(); ++i) {
            s.vips.push_back(VipStatus{config_->vips[i].prefix.to_string(), vips_[i].announced,
                                       vips_[i].reason, vips_[i].changed_at});
        }
        return s;
    }

  private:
    PeerStatus peer_status(const Session& session, const bfd::Snapshot* bfd) const {
        PeerStatus p = session.status();
        const BfdGate* gate = find_gate(session.settings().address);
        if (!gate || !bfd) return p;
        for (const auto& b : bfd->sessions) {
            if (b.peer != gate->peer) continue;
            auto sec = [](uint64_t us) { return static_cast<double>(us) / 1e6; };
            p.bfd = BfdStatus{bfd::to_string(b.state),
                              bfd::to_string(b.remote_state),
                              b.state == bfd::State::up,
                              bfd::to_string(b.diag),
                              gate->holding,
                              b.state_since,
                              b.local_discriminator,
                              b.remote_discriminator,
                              sec(b.timers.min_tx_us),
                              sec(b.timers.min_rx_us),
                              b.timers.multiplier,
                              sec(b.tx_interval_us),
                              sec(b.detection_time_us),
                              b.remote_multiplier,
                              sec(b.remote_min_tx_us),
                              sec(b.remote_min_rx_us),
                              b.packets_in,
                              b.packets_out,
                              b.flaps,
                              b.error};
        }
        return p;
    }

    // One BFD session per peer address with `bfd` (the first such peer's timers); the engine
    // and its thread exist from the first time any peer asks for BFD.
    void configure_bfd() {
        std::vector<bfd::SessionConfig> wanted;
        for (const auto& peer : config_->peers) {
            if (!peer.bfd) continue;
            const bool seen = std::any_of(wanted.begin(), wanted.end(),
                                          [&](const auto& w) { return w.peer == peer.address; });
            if (!seen) wanted.push_back({peer.address, bfd_timers(*peer.bfd)});
        }
        std::erase_if(gates_, [&](BfdGate& gate) {
            const bool kept = std::any_of(wanted.begin(), wanted.end(),
                                          [&](const auto& w) { return w.peer == gate.peer; });
            if (!kept) {
                gate.holding = false;
                apply_gate(gate);
            }
            return !kept;
        });
        for (const auto& w : wanted)
            if (!find_gate(w.peer))
                gates_.push_back(BfdGate{w.peer, adopted_state(w.peer), false, {}});
        for (auto& gate : gates_)
            apply_gate(gate);  // sessions a reload created for a held address
        if (wanted.empty() && !bfd_) return;
        if (!bfd_)
            bfd_ = std::make_unique<bfd::Engine>(
                loop_, [this](const bfd::Event& e) { on_bfd_event(e); }, bfd::Options{},
                std::move(adopted_bfd_));
        bfd_->set_sessions(std::move(wanted));
    }

    // Upgrade: the state of the BFD session handed over for `peer` (Down when none).
    bfd::State adopted_state(const net::IpAddress& peer) const {
        for (const auto& s : adopted_bfd_.sessions)
            if (s.config.peer == peer) return s.fsm.state;
        return bfd::State::down;
    }

    const BfdGate* find_gate(const net::IpAddress& peer) const {
        for (const auto& gate : gates_)
            if (gate.peer == peer) return &gate;
        return nullptr;
    }

    void apply_gate(const BfdGate& gate) {
        for (auto& session : sessions_) {
            if (session->settings().address != gate.peer) continue;
            if (gate.holding)
                session->hold_down(gate.reason);
            else
                session->release();
        }
    }

    // Runs on the control loop, delivered from the BFD thread.
    void on_bfd_event(const bfd::Event& e) {
        auto gate = std::find_if(gates_.begin(), gates_.end(),
                                 [&](const BfdGate& g) { return g.peer == e.peer; });
        if (gate == gates_.end()) return;  // deconfigured meanwhile
        gate->state = e.to;
        if (e.to == bfd::State::up) {
            if (gate->holding)
                spdlog::info("bgp: BFD to {} is Up again: BGP may reconnect", e.peer.to_string());
            gate->holding = false;
        } else if (e.from == bfd::State::up && !e.remote_admin_down) {
            // RFC 5882 §4.3: the forwarding path failed; so did the session over it.
            gate->holding = true;
            gate->reason = std::string("BFD session down: ") + bfd::to_string(e.diag);
            spdlog::warn(
                "bgp: BFD to {} went Down ({}): tearing its BGP sessions down until "
                "BFD is Up again",
                e.peer.to_string(), bfd::to_string(e.diag));
        } else if (e.remote_admin_down && gate->holding) {
            gate->holding = false;  // the peer switched BFD off: it no longer vouches for BGP
        }
        apply_gate(*gate);
    }

    // What the listening sockets depend on: the peers' addresses (families) and MD5 keys.
    static std::vector<std::pair<std::string, std::string>> listen_keys(const config::Bgp& c) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& p : c.peers)
            out.emplace_back(p.address.to_string(), p.password);
        return out;
    }

    // Keeps sessions whose settings did not change; stops the others; starts the new ones.
    void reconcile_sessions() {
        std::vector<SessionSettings> wanted;
        for (const auto& peer : config_->peers)
            wanted.push_back(settings_for(*config_, peer));
        std::vector<std::unique_ptr<Session>> kept;
        for (auto& session : sessions_) {
            auto it = std::find(wanted.begin(), wanted.end(), session->settings());
            if (!session->stopped() && it != wanted.end()) {
                wanted.erase(it);
                kept.push_back(std::move(session));
                continue;
            }
            if (!session->stopped()) {
                const bool same_peer = std::any_of(
                    config_->peers.begin(), config_->peers.end(), [&](const config::BgpPeer& p) {
                        return p.address == session->settings().address &&
                               p.port == session->settings().port;
                    });
                session->stop(wire::Notification{
                    wire::err::kCease,
                    same_peer ? wire::err::kOtherConfigurationChange : wire::err::kPeerDeconfigured,
                    {}});
            }
            retiring_.push_back(std::move(session));
        }
        sessions_ = std::move(kept);
        for (auto& settings : wanted) {
            auto session = std::make_unique<Session>(loop_, std::move(settings), desired_, random_);
            session->set_on_finished([this] { finish_check_.start(0); });
            const BfdGate* gate = find_gate(session->settings().address);
            if (take_adopted(*session)) {
                // Established already, handed over by the previous process.
            } else if (gate && gate->holding) {
                session->hold_down(gate->reason);
            } else {
                session->start();
            }
            sessions_.push_back(std::move(session));
        }
        finish_check_.start(0);  // reaps retired sessions
    }

    // Upgrade: the session the previous process handed over for this peer, if any.
    bool take_adopted(Session& session) {
        auto it = std::find_if(adopted_.begin(), adopted_.end(), [&](const SessionHandOver& h) {
            return h.peer == session.settings().address && h.port == session.settings().port;
        });
        if (it == adopted_.end()) return false;
        SessionHandOver h = std::move(*it);
        adopted_.erase(it);
        if (session.adopt(std::move(h))) return true;
        spdlog::warn("bgp peer {}: the session handed over is unusable: opening a new one",
                     session.label());
        return false;
    }

    void open_listeners() {
        listeners_.clear();
        md5_unprotected_.clear();
        if (!config_->listen || shutting_down_) return;
        bool v4 = false, v6 = false;
        for (const auto& p : config_->peers)
            (p.address.is_v4() ? v4 : v6) = true;
        if (v4) open_listener(*net::IpAddress::parse("0.0.0.0"));
        if (v6) open_listener(*net::IpAddress::parse("::"));
    }

    void open_listener(const net::IpAddress& any) {
        const net::SocketAddress addr(any, config_->listen_port);
        int err = 0;
        net::Fd fd =
            net::listen_tcp(addr, {.reuse_port = false, .backlog = 16, .v6_only = true}, err);
        if (!fd) {
            spdlog::error("bgp: cannot listen on {}: {}", addr.to_string(), net::error_text(err));
            return;
        }
        for (const auto& p : config_->peers) {
            if (p.password.empty() || p.address.family() != any.family()) continue;
            if (int e = set_tcp_md5(fd.get(), p.address, p.password)) {
                spdlog::error(
                    "bgp: cannot set the TCP MD5 key for {} on {}: {}; refusing its "
                    "connections",
                    p.address.to_string(), addr.to_string(), net::error_text(e));
                md5_unprotected_.push_back(p.address);
            }
        }
        auto listener = std::make_unique<Listener>(
            loop_, std::move(fd), "bgp: listener " + addr.to_string(),
            [this](net::Fd conn, const net::SocketAddress&) { on_accept(std::move(conn)); },
            &accept_pauses_);
        listeners_.push_back(std::move(listener));
        spdlog::info("bgp: accepting sessions from configured peers on {}", addr.to_string());
    }

    // A passive BGP socket; hands accepted connections to on_accept.
    struct Listener {
        Listener(struct ev_loop* loop, net::Fd f, std::string label,
                 net::Acceptor::OnAccept on_accept, std::atomic<uint64_t>* pauses)
            : fd(std::move(f)), acceptor(loop, std::move(label), std::move(on_accept), pauses) {
            acceptor.start(fd.get());
        }
        net::Fd fd;
        net::Acceptor acceptor;
    };

    void on_accept(net::Fd fd) {
        const net::SocketAddress remote = net::peer_address(fd.get());
        // Passive peers are matched by address; with several sessions to one address (test
        // beds on loopback ports) the first one without a session takes it.
        Session* match = nullptr;
        for (auto& s : sessions_) {
            if (s->settings().address != remote.ip()) continue;
            if (!match ||
                (match->state() == State::established && s->state() != State::established))
                match = s.get();
        }
        if (!match) {
            spdlog::warn("bgp: refused connection from {}: not a configured peer",
                         remote.to_string());
            return;
        }
        if (std::find(md5_unprotected_.begin(), md5_unprotected_.end(), remote.ip()) !=
            md5_unprotected_.end()) {
            match->refuse_without_md5("incoming connection without the TCP MD5 key");
            return;
        }
        match->accept(std::move(fd));
    }

    // The policy: which VIPs hold, and why not.
    std::pair<bool, std::string> evaluate_vip(const config::Vip& vip) const {
        if (withdrawing_) return {false, "shutting down"};
        if (!node_healthy_) return {false, "node unhealthy: " + node_reason_};
        for (const auto& name : vip.require.services) {
            auto it = health_.find(name);
            const unsigned healthy = it == health_.end() ? 0 : it->second.healthy_backends;
            bool answers_itself = it != health_.end() && it->second.answers_itself;
            if (!answers_itself && healthy < vip.require.min_healthy_backends)
                return {false, fmt::format("{} has {} healthy backends (needs {})", name, healthy,
                                           vip.require.min_healthy_backends)};
            if (it == health_.end() || !it->second.listening)
                return {false, name + " is not listening"};
        }
        return {true, ""};
    }

    void evaluate() {
        desired_.clear();
        const double now = ev_now(loop_);
        for (size_t i = 0; i < config_->vips.size(); ++i) {
            const auto& vip = config_->vips[i];
            auto [ok, reason] = evaluate_vip(vip);
            VipState& state = vips_[i];
            if (ok != state.announced || state.changed_at == 0) {
                if (ok)
                    spdlog::info("bgp: announcing {}", vip.prefix.to_string());
                else if (state.announced || state.changed_at == 0)
                    spdlog::info("bgp: {} {}: {}",
                                 state.announced ? "withdrawing" : "not announcing",
                                 vip.prefix.to_string(), reason);
                state.changed_at = now;
            }
            state.announced = ok;
            state.reason = reason;
            if (!ok) continue;
            Advertisement ad{vip.prefix, vip.next_hop, vip.med, vip.as_path_prepend,
                             vip.communities};
            if (graceful_phase_) ad.communities.push_back(wire::kCommunityGracefulShutdown);
            desired_.push_back(std::move(ad));
        }
        for (auto& s : sessions_)
            s->sync();
    }

    // Withdraw, then keep the sessions (and the caller its listeners) up for withdraw_wait:
    // a router applies a withdraw to its FIB some time after receiving it (FRR's zebra
    // batches for 50 ms), and a Cease or closed listener before then refuses connections
    // the router still sends here.
    void withdraw_and_close() {
        graceful_phase_ = false;
        const bool announced = std::any_of(sessions_.begin(), sessions_.end(),
                                           [](const auto& s) { return s->has_announced(); });
        withdrawing_ = true;
        evaluate();  // the withdraws are queued before the Cease on every connection
        const double wait = std::chrono::duration<double>(config_->withdraw_wait).count();
        if (!announced || wait <= 0) {
            close_sessions();
            return;
        }
        spdlog::info(
            "bgp: shutdown: VIPs withdrawn, sessions stay up for {} (withdraw_wait) "
            "while the routers move traffic",
            config::format_duration(config_->withdraw_wait));
        ev_now_update(loop_);  // the wait counts from now, not from the loop's last wakeup
        withdraw_wait_timer_.start(wait);
    }

    void close_sessions() {
        for (auto& s : sessions_)
            s->stop(wire::Notification{wire::err::kCease, wire::err::kAdministrativeShutdown, {}});
        shutdown_timer_.start(kShutdownBound);
        finish_check_.start(0);
    }

    void check_shutdown_done() {
        std::erase_if(retiring_, [](const auto& s) { return s->finished(); });
        if (!withdrawing_) return;
        const bool all_closed = std::all_of(sessions_.begin(), sessions_.end(),
                                            [](const auto& s) { return s->finished(); });
        if (all_closed) finish_shutdown("every session closed");
    }

    void finish_shutdown(const char* why) {
        if (done_.empty()) return;
        shutdown_timer_.stop();
        finish_check_.stop();
        spdlog::info("bgp: shutdown complete: {}", why);
        // Last thing: a `done` may destroy the speaker.
        auto callbacks = std::move(done_);
        done_.clear();
        for (auto& cb : callbacks)
            if (cb) cb();
    }

    struct ev_loop* loop_;
    std::optional<config::Bgp> config_;
    std::minstd_rand random_;
    std::vector<Advertisement> desired_;  // declared before the sessions that read it
    std::vector<VipState> vips_;
    ServiceHealthMap health_;
    bool node_healthy_ = true;
    std::string node_reason_;
    bool shutting_down_ = false;
    bool graceful_phase_ = false;
    bool withdrawing_ = false;
    std::vector<std::function<void()>> done_;
    std::vector<std::unique_ptr<Session>> sessions_;
    std::vector<std::unique_ptr<Session>> retiring_;  // stopped by a reload, flushing their Cease
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<net::IpAddress> md5_unprotected_;  // peers whose key the listeners lack
    std::atomic<uint64_t> accept_pauses_{0};
    net::Timer graceful_timer_;
    net::Timer withdraw_wait_timer_;
    net::Timer shutdown_timer_;
    net::Timer finish_check_;
    std::vector<BfdGate> gates_;
    std::vector<SessionHandOver> adopted_;  // at construction, until their sessions take them
    bfd::HandOver adopted_bfd_;             // at construction, for the engine
    std::unique_ptr<bfd::Engine> bfd_;      // last: its thread stops before anything it reports to
};

Speaker::Speaker(struct ev_loop* loop, const config::Bgp& config, SpeakerHandOver adopted,
                 ServiceHealthMap health)
    : impl_(std::make_unique<Impl>(loop, config, std::move(adopted), std::move(health))) {}
SpeakerHandOver Speaker::hand_over() {
    return impl_->hand_over();
}
Speaker::~Speaker() = default;
void Speaker::reconfigure(const config::Bgp& config) {
    impl_->apply(config);
}
void Speaker::set_service_health(const ServiceHealthMap& health) {
    impl_->set_service_health(health);
}
void Speaker::set_node_healthy(bool healthy, const std::string& reason) {
    impl_->set_node_healthy(healthy, reason);
}
void Speaker::shutdown(std::function<void()> done) {
    impl_->shutdown(std::move(done));
}
SpeakerStatus Speaker::status() const {
    return impl_->status();
}

}  // namespace clb::bgp
