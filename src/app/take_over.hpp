// Upgrade, the new process's side (`--take-over SOCKET`): asks the running process for
// its state and sockets, reports ready once its own loops run with everything adopted,
// and serves only after the running one has committed. Blocking: nothing else runs yet.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/upgrade/channel.hpp"
#include "contrail_lb/upgrade/messages.hpp"

namespace clb::app {

class TakeOver {
  public:
    static constexpr double kTimeout = 10;  // seconds for each answer of the old process

    // Connects, says hello, receives the state and its descriptors. False and `error` set
    // (refused, no process there, another protocol version, a timeout).
    bool receive(const std::string& socket, std::string& error);
    upgrade::State& state() { return state_; }
    std::vector<net::Fd>& fds() { return fds_; }
    // Everything is adopted and the loops run: waits for the commit, which brings the
    // Established BGP sessions (sockets attached). False and `error`.
    bool ready(std::string& error);
    bgp::SpeakerHandOver& speaker() { return speaker_; }
    // Why the BGP sessions did not come with the commit; empty when they did.
    const std::string& bgp_error() const { return bgp_error_; }
    // Something failed here: tells the old process, which goes on serving.
    void abort(const std::string& reason);

    // After the commit, the old process sends its idle keep-alive clients as it drains.
    int fd() const { return fd_.get(); }
    using OnClient = std::function<void(upgrade::Client client, net::Fd fd)>;
    // Reads what arrived (non-blocking); false once the old process is done (closed).
    bool read_clients(const OnClient& on_client);

  private:
    std::optional<upgrade::Message> next(std::string& error);
    bool receive_fds(size_t count, std::string& error);

    std::string socket_;
    net::Fd fd_;
    upgrade::FrameReader reader_;
    upgrade::State state_;
    std::vector<net::Fd> fds_;
    bgp::SpeakerHandOver speaker_;
    std::string bgp_error_;
};

}  // namespace clb::app
