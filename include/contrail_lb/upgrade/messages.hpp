// The hand-over protocol (docs/operations.md "Upgrade"), one JSON document per frame:
//   new → old  hello {version, pid}
//   old → new  state {version, pid, fds, listeners, admin, backends}, then `fds` frames
//              carrying the descriptors in the order the state lists them
//              (or refused {reason}: busy, another version, another user)
//   new → old  ready (loops running, everything adopted) or abort {reason}
//   old → new  client {service, peer, listen_port} with its socket, during the drain: an
//              idle plain-HTTP keep-alive connection, served next by the new process
//   old → new  committed {pid, bgp, bfd}: the old one has stopped accepting and drains;
//              its Established BGP sessions and its BFD sessions come with it, their
//              sockets in `fds` frames (BGP sessions, BFD sessions, BFD receive sockets)
// Every message carries the protocol version; a different one is refused with a reason.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/bgp/hand_over.hpp"
#include "contrail_lb/runtime/state.hpp"

namespace clb::upgrade {

inline constexpr int kProtocolVersion = 1;

// The sockets of one listen address: one per worker of the process that bound them.
struct ListenerGroup {
    std::string service;
    net::SocketAddress address;
    size_t fds = 0;
};

struct State {
    int pid = 0;
    std::vector<ListenerGroup> listeners;     // their fds first, in this order
    std::optional<net::SocketAddress> admin;  // then the admin listener's, when present
    std::vector<runtime::BackendHealth> backends;
    size_t fd_count() const;
};

enum class MessageType { hello, refused, state, fds, ready, abort, committed, client };

// An idle keep-alive client connection (its socket rides on the frame).
struct Client {
    std::string service;
    net::SocketAddress peer;
    uint16_t listen_port = 0;
};

struct Message {
    MessageType type = MessageType::hello;
    int pid = 0;                          // hello, committed
    std::string reason;                   // refused, abort
    size_t fds = 0;                       // fds
    State state;                          // state
    bgp::SpeakerHandOver speaker;         // committed; the fds follow (speaker_fds())
    std::array<bool, 2> bfd_receivers{};  // committed: which BFD receive sockets follow
    Client client;                        // client
};

std::string encode_hello(int pid);
std::string encode_refused(std::string_view reason);
std::string encode_state(const State& state);
std::string encode_fds(size_t count);
std::string encode_ready();
std::string encode_abort(std::string_view reason);
std::string encode_committed(int pid, const bgp::SpeakerHandOver& speaker);
std::string encode_client(const Client& client);
// The descriptors of a speaker's hand-over, in the order the commit sends them.
std::vector<int> speaker_fds(const bgp::SpeakerHandOver& speaker);
// How many descriptors follow a decoded commit.
size_t committed_fd_count(const Message& committed);
// Gives `fds` (in that order) to the hand-over of a decoded commit; false when the count
// is not the one it needs.
bool attach_fds(Message& committed, std::vector<net::Fd>& fds);

// A message from the other process; nullopt and `error` set (a sentence for the log)
// when it is not valid JSON, not a known message, misses a field, or speaks another
// protocol version.
std::optional<Message> decode(std::string_view json, std::string& error);

}  // namespace clb::upgrade
