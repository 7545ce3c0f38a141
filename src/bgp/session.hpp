// One BGP peer: the RFC 4271 finite state machine, its TCP connections (one dialled out,
// possibly one accepted, resolved by BGP Identifier on collision), timers, and the routes
// this peer was sent (Adj-RIB-Out) so that only changes go on the wire.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "contrail_lb/bgp/hand_over.hpp"
#include "contrail_lb/bgp/status.hpp"
#include "contrail_lb/bgp/wire.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/net/loop.hpp"

namespace clb::bgp {

// A VIP the announcement policy wants on the wire, before per-session details (next hop
// self, AS_PATH, LOCAL_PREF) are filled in.
struct Advertisement {
    net::IpPrefix prefix;
    std::optional<net::IpAddress> next_hop;  // nullopt: the session's local address
    std::optional<uint32_t> med;
    unsigned as_path_prepend = 0;
    std::vector<uint32_t> communities;
    friend bool operator==(const Advertisement&, const Advertisement&) = default;
};

// Everything that, when changed by a reload, restarts the session.
struct SessionSettings {
    net::IpAddress address;
    uint16_t port = 179;
    uint32_t remote_as = 0;
    std::string password;
    net::IpAddress router_id;
    uint32_t local_as = 0;
    uint16_t hold_time = 9;                     // seconds: 0 or >= 3
    std::vector<wire::AddressFamily> families;  // the multiprotocol capabilities we send
    friend bool operator==(const SessionSettings&, const SessionSettings&) = default;
};

enum class State { idle, connect, active, open_sent, open_confirm, established };
const char* to_string(State s);

// Sets (or with an empty password clears) the RFC 2385 key for `peer` on `fd`; errno or 0.
int set_tcp_md5(int fd, const net::IpAddress& peer, const std::string& password);

class Session {
  public:
    // `desired` is the policy's current list, owned by the speaker and outliving the session.
    Session(struct ev_loop* loop, SessionSettings settings,
            const std::vector<Advertisement>& desired, std::minstd_rand& random);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const SessionSettings& settings() const { return settings_; }
    const std::string& label() const { return label_; }  // "10.0.0.1:179"
    State state() const { return state_; }
    bool stopped() const { return stopped_; }
    // True once stopped and every connection is closed: the speaker may destroy it.
    bool finished() const { return stopped_ && connections_.empty(); }

    void start();  // dial at once
    // Brings the peer's routes in line with `desired` (no-op unless Established).
    void sync();
    // An accepted TCP connection from this peer's address.
    void accept(net::Fd fd);
    // A connection of this peer could not be protected by its TCP MD5 key: counted,
    // logged, and not used.
    void refuse_without_md5(const std::string& why);
    // Sends `reason` on every connection that got as far as OPEN, closes them, stops dialling.
    void stop(const wire::Notification& reason);
    // RFC 5882: BFD saw the path to the peer fail. Ends every connection at once (Cease/BFD
    // Down, RFC 9384) and neither dials nor accepts until release().
    void hold_down(const std::string& reason);
    // BFD is Up again: dial at once.
    void release();
    bool held_down() const { return held_down_; }
    // Called whenever the session may have become finished().
    void set_on_finished(std::function<void()> cb) { on_finished_ = std::move(cb); }

    // Upgrade: an Established session gives its socket away (pending output flushed, nothing
    // read past a message boundary) and stops without a word to the peer; nullopt (and the
    // connections simply closed) when not Established.
    std::optional<SessionHandOver> hand_over();
    // Upgrade, the other side: goes on with a session the previous process handed over
    // (KEEPALIVE at once, then on schedule; no OPEN). False when it cannot.
    bool adopt(SessionHandOver&& session);

    PeerStatus status() const;
    bool has_announced() const { return !adj_rib_out_.empty(); }

  private:
    class Connection;
    friend class Connection;
    struct Sent {
        net::IpPrefix prefix;
        wire::PathAttributes attributes;
    };

    void dial();
    void schedule_retry();
    void on_retry();
    void on_message(Connection& c, wire::Message&& m);
    void on_open(Connection& c, wire::Open&& open);
    void on_update(Connection& c, const wire::Update& u);
    void on_established(Connection& c);
    // Ends `c` (sending `n` first when set), records `cause`, and moves the FSM on.
    void fail(Connection& c, std::optional<wire::Notification> n, const std::string& cause);
    void on_closed(Connection& c);
    void update_state(const std::string& cause);
    Connection* established_connection() const;
    std::optional<wire::PathAttributes> attributes_for(const Connection& c,
                                                       const Advertisement& ad) const;
    void send_update(Connection& c, const wire::Update& u);
    void withdraw(Connection& c, const std::vector<net::IpPrefix>& prefixes);
    void reap();

    struct ev_loop* loop_;
    SessionSettings settings_;
    std::string label_;
    const std::vector<Advertisement>& desired_;
    std::minstd_rand& random_;
    std::vector<std::unique_ptr<Connection>> connections_;
    net::Timer retry_timer_;
    net::Timer reap_timer_;  // destroys closed connections outside their own callbacks
    double backoff_ = 1.0;
    State state_ = State::idle;
    bool idle_after_error_ = false;
    bool stopped_ = false;
    bool held_down_ = false;
    std::vector<Sent> adj_rib_out_;
    std::function<void()> on_finished_;

    // Status counters.
    SessionCounters counters_;
    std::string last_error_;
    uint64_t md5_failures_ = 0;
};

}  // namespace clb::bgp
