#include "connector.hpp"

#include <algorithm>
#include <utility>

#include "contrail_lb/net/socket.hpp"

namespace clb::proxy {

Routing::Routing(std::shared_ptr<const runtime::Snapshot> snap, uint64_t seed)
    : snapshot(std::move(snap)) {
    pickers.reserve(snapshot->services.size());
    for (const auto& svc : snapshot->services)
        pickers.push_back(
            balance::make_picker(svc.config->balance, svc.candidates, svc.prepared, seed));
}

Connector::Connector(ConnectorHost& host, std::string service, uint64_t client_hash)
    : host_(host), service_name_(std::move(service)), client_hash_(client_hash) {}

void Connector::rebind(std::string_view service, uint64_t client_hash) {
    release();
    service_name_.assign(service);
    client_hash_ = client_hash;
}

bool Connector::begin() {
    tried_.clear();
    attempts_ = 0;
    last_error_ = 0;
    failed_last_.reset();
    preferred_ = nullptr;
    backend_ = nullptr;
    why_.clear();
    if (refresh()) return true;
    give_up(runtime::Termination::no_backend, "service removed by a reload");
    return false;
}

void Connector::release() {
    routing_.reset();
    service_ = nullptr;
    backend_ = nullptr;
}

bool Connector::refresh() {
    const auto& newest = host_.routing();
    if (routing_ == newest && service_) return true;
    // backend_ points into the Routing being let go.
    backend_ = nullptr;
    service_ = nullptr;
    routing_ = newest;
    const auto& services = routing_->snapshot->services;
    for (size_t i = 0; i < services.size(); ++i) {
        if (services[i].config->name == service_name_) {
            service_index_ = i;
            service_ = &services[i];
            return true;
        }
    }
    return false;
}

bool Connector::pick_preferred() {
    if (excluded(preferred_)) return false;
    for (const auto& b : service_->backends) {
        if (b.state.get() != preferred_) continue;
        if (!b.up || b.drained) return false;
        backend_ = &b;
        return true;
    }
    return false;  // gone from the configuration
}

bool Connector::pick() {
    if (preferred_ && pick_preferred()) return true;
    exclude_.clear();
    for (uint32_t i = 0; i < service_->eligible.size(); ++i)
        if (excluded(service_->backends[service_->eligible[i]].state.get())) exclude_.push_back(i);
    int index = routing_->pickers[service_index_]->pick(client_hash_, exclude_);
    if (index < 0) return false;
    backend_ = &service_->backends[service_->eligible[static_cast<size_t>(index)]];
    return true;
}

std::unique_ptr<Upstream> Connector::connect(bool allow_pooled) {
    full_.clear();
    all_full_ = false;
    for (;;) {
        if (!refresh())
            return give_up(runtime::Termination::no_backend, "service removed by a reload");
        // A local fault (out of fds, of source ports) would fail on any backend alike.
        if (last_error_ && !runtime::backend_caused(last_error_))
            return give_up(runtime::Termination::local_resource,
                           "no connection possible: " + net::error_text(last_error_));
        // One first attempt plus `retries`, each on a backend not tried yet.
        if (attempts_ > service_->config->retries || !pick()) {
            if (!full_.empty() && attempts_ <= service_->config->retries) {
                all_full_ = true;  // every candidate is at its max_connections: wait
                backend_ = nullptr;
                return nullptr;
            }
            if (tried_.empty())
                return give_up(runtime::Termination::no_backend, "no backend is UP");
            return give_up(runtime::connect_termination(last_error_),
                           "no backend accepted the connection");
        }
        if (!backend_->state->take_slot(backend_->config->max_connections)) {
            full_.push_back(backend_->state.get());
            continue;
        }
        ++attempts_;
        // A retry: the backend whose failure caused it is counted (HAProxy's wretr).
        if (failed_last_) std::exchange(failed_last_, nullptr)->retries.add();
        const auto& state = backend_->state;
        if (!find_tls()) {
            state->give_slot();
            return give_up(runtime::Termination::local_resource,
                           "backend_tls of service " + service_name_ + " is not loaded");
        }
        if (allow_pooled) {
            if (auto up = host_.upstreams().take(*state, tls_)) return up;
        }
        int error = 0;
        if (auto up = host_.upstreams().connect(state, tls_, error)) return up;
        state->give_slot();
        record_failure(state, error);
    }
}

bool Connector::find_tls() {
    tls_.reset();
    if (!service_->config->backend_tls) return true;
    tls_ = host_.backend_tls(service_name_);
    return tls_ != nullptr;
}

std::unique_ptr<Upstream> Connector::reconnect() {
    const auto& state = backend_->state;
    if (!state->take_slot(backend_->config->max_connections)) return nullptr;
    int error = 0;
    if (auto up = host_.upstreams().connect(state, tls_, error)) return up;
    state->give_slot();
    record_failure(state, error);
    return nullptr;
}

bool Connector::excluded(const runtime::Backend* backend) const {
    return std::find(tried_.begin(), tried_.end(), backend) != tried_.end() ||
           std::find(full_.begin(), full_.end(), backend) != full_.end();
}

void Connector::connected() {
    auto& streak = backend_->state->consecutive_errors;
    if (streak.load(std::memory_order_relaxed) != 0) streak.store(0, std::memory_order_relaxed);
}

void Connector::failed(int error, std::string_view detail) {
    record_failure(backend_->state, error, detail);
}

void Connector::record_failure(const std::shared_ptr<runtime::Backend>& backend, int error,
                               std::string_view detail) {
    host_.connect_failed(backend, error, detail, *service_->config);
    last_error_ = error;
    failed_last_ = backend;
    if (runtime::backend_caused(error)) tried_.push_back(backend.get());
}

std::unique_ptr<Upstream> Connector::give_up(runtime::Termination cause, std::string why) {
    cause_ = cause;
    why_ = std::move(why);
    return nullptr;
}

}  // namespace clb::proxy
