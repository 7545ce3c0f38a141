// The listening sockets of every service: one SO_REUSEPORT socket per address per worker,
// bound on the control thread so that errors surface at start and reload. A reload keeps
// the sockets of addresses that stay, so no connection in an accept queue is lost.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/proxy/worker.hpp"
#include "contrail_lb/upgrade/messages.hpp"

namespace clb::app {

class Listeners {
  public:
    explicit Listeners(unsigned workers) : workers_(workers) {}

    // Binds what `config` adds, closes what it drops, (re)loads TLS certificates (so a
    // reload picks up renewed ones). Returns the errors, one line each
    // ("contrail-api: cannot listen on 0.0.0.0:8082: Address already in use").
    std::vector<std::string> apply(const config::Config& config);
    // Before the first apply() of a process that takes over (upgrade): the previous
    // process's sockets, `fds` in the order of `groups`. apply() keeps those whose address
    // the configuration still lists (their accept queues are shared, nothing is refused).
    void adopt(const std::vector<upgrade::ListenerGroup>& groups, std::vector<net::Fd>& fds);
    // What adopt() takes in the next process; `fds` gets the sockets (still owned here).
    std::vector<upgrade::ListenerGroup> describe(std::vector<int>& fds) const;
    // A worker's sockets: each address's sockets are spread over the workers, so a process
    // with fewer workers than the one that bound them still serves every accept queue.
    std::vector<proxy::ListenerSocket> for_worker(unsigned worker) const;
    // Every listen address of the service is bound.
    bool listening(const std::string& service) const;
    // Retires session ticket keys past their time (the control thread, now and then).
    void expire_ticket_keys();

  private:
    using Keys = std::shared_ptr<tls::TicketKeys>;
    struct Group {
        std::string service;
        net::SocketAddress address;
        std::vector<std::shared_ptr<net::Fd>> fds;  // one per worker
        std::shared_ptr<const tls::ServerContext> tls;
    };
    std::string keep(const config::Service& svc, std::map<std::string, Group>& groups);
    // Binds more sockets until every worker has one; false with `error` set.
    bool fill(Group& g, std::string& error) const;
    std::shared_ptr<const tls::ServerContext> load_tls(const config::Service& svc,
                                                       std::map<std::string, Keys>& keys);

    unsigned workers_;
    std::map<std::string, Group> groups_;   // by address text
    std::map<std::string, bool> complete_;  // by service
    // Session ticket keys by service: the contexts a reload makes get the same ones, so
    // tickets issued before it still resume.
    std::map<std::string, Keys> tickets_;
};

}  // namespace clb::app
