#include "listeners.hpp"

#include <spdlog/spdlog.h>

#include "contrail_lb/net/socket.hpp"
#include "tls_settings.hpp"

namespace clb::app {

std::vector<std::string> Listeners::apply(const config::Config& config) {
    std::vector<std::string> errors;
    std::map<std::string, Group> groups;
    std::map<std::string, Keys> tickets;
    complete_.clear();
    for (const auto& svc : config.services) {
        complete_[svc.name] = true;
        std::shared_ptr<const tls::ServerContext> tls;
        if (svc.tls) {
            try {
                tls = load_tls(svc, tickets);
            } catch (const std::exception& e) {
                // Checked when the file was loaded, so the files changed since: the
                // service keeps its listeners and the certificate it serves now.
                errors.push_back(svc.name + ": " + e.what() + "; " + keep(svc, groups));
                continue;
            }
        }
        for (const auto& addr : svc.listen) {
            std::string key = addr.to_string();
            if (auto old = groups_.find(key); old != groups_.end()) {
                old->second.service = svc.name;  // an address may move to another service
                old->second.tls = tls;
                std::string error;
                if (!fill(old->second, error)) errors.push_back(svc.name + ": " + error);
                groups[key] = std::move(old->second);
                groups_.erase(old);
                continue;
            }
            Group g{svc.name, addr, {}, tls};
            std::string error;
            if (!fill(g, error)) {
                errors.push_back(svc.name + ": " + error);
                complete_[svc.name] = false;
            } else {
                spdlog::info("{}: listening on {}{}", svc.name, key, tls ? " (TLS)" : "");
                groups[key] = std::move(g);
            }
        }
    }
    for (const auto& [key, g] : groups_)
        spdlog::info("{}: no longer listening on {}", g.service, key);
    groups_ = std::move(groups);
    // A service that kept its previous context (its files broke) keeps its keys as well.
    for (auto& [service, keys] : tickets_)
        if (complete_.count(service)) tickets.try_emplace(service, std::move(keys));
    tickets_ = std::move(tickets);
    return errors;
}

// The service's context, with the ticket keys it had if their period is unchanged (a new
// session_timeout starts new keys: the old tickets then make full handshakes).
std::shared_ptr<const tls::ServerContext> Listeners::load_tls(const config::Service& svc,
                                                              std::map<std::string, Keys>& keys) {
    tls::Settings settings = tls_settings(*svc.tls);
    Keys ticket_keys;
    if (settings.session_tickets) {
        auto old = tickets_.find(svc.name);
        if (old != tickets_.end() && old->second->period() == settings.session_timeout)
            ticket_keys = old->second;
        else
            ticket_keys = std::make_shared<tls::TicketKeys>(settings.session_timeout);
    }
    auto context = tls::ServerContext::load(settings, ticket_keys);
    if (ticket_keys) keys[svc.name] = std::move(ticket_keys);
    if (settings.ktls == tls::Ktls::on && !tls::kernel_has_tls())
        spdlog::warn("{}: tls.ktls: on, but the kernel offers no tls module: user-space TLS",
                     svc.name);
    spdlog::info("{}: TLS session tickets {}, kernel TLS {}", svc.name,
                 settings.session_tickets ? "on" : "off", context->ktls() ? "asked" : "off");
    return context;
}

void Listeners::expire_ticket_keys() {
    auto now = tls::TicketKeys::Clock::now();
    for (auto& [service, keys] : tickets_)
        keys->expire(now);
}

// Moves the service's TLS listeners, old certificate and all, into `groups`; says what
// became of them.
std::string Listeners::keep(const config::Service& svc, std::map<std::string, Group>& groups) {
    size_t kept = 0;
    for (const auto& addr : svc.listen) {
        auto old = groups_.find(addr.to_string());
        if (old == groups_.end() || old->second.service != svc.name || !old->second.tls) continue;
        groups[old->first] = std::move(old->second);
        groups_.erase(old);
        ++kept;
    }
    complete_[svc.name] = kept == svc.listen.size();
    if (kept == 0) return "not listening";
    return "keeping the previous certificate" +
           std::string(kept < svc.listen.size() ? " on the addresses it had" : "");
}

bool Listeners::fill(Group& g, std::string& error) const {
    while (g.fds.size() < workers_) {
        int err = 0;
        net::Fd fd = net::listen_tcp(g.address, {}, err);
        if (!fd) {
            error = "cannot listen on " + g.address.to_string() + ": " + net::error_text(err);
            return false;
        }
        g.fds.push_back(std::make_shared<net::Fd>(std::move(fd)));
    }
    return true;
}

void Listeners::adopt(const std::vector<upgrade::ListenerGroup>& groups,
                      std::vector<net::Fd>& fds) {
    size_t next = 0;
    for (const auto& received : groups) {
        Group g{received.service, received.address, {}, nullptr};
        for (size_t i = 0; i < received.fds && next < fds.size(); ++i)
            g.fds.push_back(std::make_shared<net::Fd>(std::move(fds[next++])));
        groups_[received.address.to_string()] = std::move(g);
    }
}

std::vector<upgrade::ListenerGroup> Listeners::describe(std::vector<int>& fds) const {
    std::vector<upgrade::ListenerGroup> out;
    for (const auto& [key, g] : groups_) {
        out.push_back({g.service, g.address, g.fds.size()});
        for (const auto& fd : g.fds)
            fds.push_back(fd->get());
    }
    return out;
}

std::vector<proxy::ListenerSocket> Listeners::for_worker(unsigned worker) const {
    std::vector<proxy::ListenerSocket> out;
    for (const auto& [key, g] : groups_)
        for (size_t i = worker; i < g.fds.size(); i += workers_)
            out.push_back({g.fds[i], g.address, g.service, g.tls});
    return out;
}

bool Listeners::listening(const std::string& service) const {
    auto it = complete_.find(service);
    return it != complete_.end() && it->second;
}

}  // namespace clb::app
