#include "contrail_lb/runtime/state.hpp"

#include <algorithm>
#include <ctime>

namespace clb::runtime {

namespace {
std::string cookie_id_of(const std::string& service, const std::string& name) {
    static constexpr char kHex[] = "0123456789abcdef";
    uint64_t h = balance::hash_key(service + "/" + name);
    std::string id(16, '0');
    for (int i = 15; i >= 0; --i, h >>= 4)
        id[static_cast<size_t>(i)] = kHex[h & 0xf];
    return id;
}
}  // namespace

Backend::Backend(std::string service_name, std::string backend_name, net::SocketAddress addr)
    : service(std::move(service_name)),
      name(std::move(backend_name)),
      address(addr),
      key_hash(balance::hash_key(name)),
      cookie_id(cookie_id_of(service, name)) {}

bool Backend::take_slot(uint32_t limit) {
    int32_t n = active_connections.load(std::memory_order_relaxed);
    do {
        if (limit && n >= static_cast<int32_t>(limit)) return false;
    } while (!active_connections.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    return true;
}

void Histogram::observe(double seconds) {
    seconds = std::max(seconds, 0.);
    size_t i = 0;
    while (i < kDurationBuckets.size() && seconds > kDurationBuckets[i])
        ++i;
    buckets[i].add();
    sum_us.add(static_cast<uint64_t>(seconds * 1e6));
}

uint64_t Histogram::count() const {
    uint64_t n = 0;
    for (const auto& b : buckets)
        n += b.get();
    return n;
}

double Histogram::quantile(double q) const {
    std::array<uint64_t, kDurationBuckets.size() + 1> counts{};
    uint64_t total = 0;
    for (size_t i = 0; i < counts.size(); ++i)
        total += counts[i] = buckets[i].get();  // one read each: a consistent view
    if (total == 0) return 0;
    double rank = q * static_cast<double>(total);
    uint64_t below = 0;
    for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
        if (static_cast<double>(below + counts[i]) >= rank && counts[i] > 0) {
            double lower = i == 0 ? 0. : kDurationBuckets[i - 1];
            double share = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
            return lower + (kDurationBuckets[i] - lower) * share;
        }
        below += counts[i];
    }
    return kDurationBuckets.back();  // in +Inf: no bound above to interpolate to
}

const ServiceEntry* Snapshot::find(std::string_view service) const {
    for (const auto& s : services)
        if (s.config->name == service) return &s;
    return nullptr;
}

namespace {

bool same_backend(const Backend& b, const std::string& service, const config::Backend& cfg) {
    return b.service == service && b.name == cfg.name && b.address == cfg.address;
}

// Eligible backends: primaries that are usable, else usable backups.
void choose_eligible(ServiceEntry& svc) {
    for (bool backup : {false, true}) {
        for (uint32_t i = 0; i < svc.backends.size(); ++i) {
            const auto& b = svc.backends[i];
            if (b.config->backup != backup || !b.up || b.drained || b.config->weight == 0) continue;
            svc.eligible.push_back(i);
            svc.candidates.push_back(
                {b.config->weight, b.state->key_hash, &b.state->active_connections});
        }
        if (!svc.eligible.empty()) break;
    }
    svc.prepared = balance::prepare(svc.config->balance, svc.candidates);
}

}  // namespace

void Registry::apply(std::shared_ptr<const config::Config> config) {
    std::vector<Slot> slots;
    std::vector<std::shared_ptr<Service>> services;
    for (const auto& svc : config->services) {
        auto old_svc = std::find_if(services_.begin(), services_.end(),
                                    [&](const auto& s) { return s->name == svc.name; });
        services.push_back(old_svc != services_.end() ? *old_svc
                                                      : std::make_shared<Service>(svc.name));
        for (const auto& b : svc.backends) {
            // Slots already taken over are moved-from (null state): skip them.
            auto old = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
                return s.state && same_backend(*s.state, svc.name, b);
            });
            if (old != slots_.end()) {
                slots.push_back(std::move(*old));
                continue;
            }
            Slot slot{std::make_shared<Backend>(svc.name, b.name, b.address), {}, false};
            // Without active checks a backend counts as UP (SPEC "Health checks").
            slot.health.up = svc.health_check.type == config::CheckType::none;
            slot.health.last_reason = slot.health.up ? "no health check" : "not checked yet";
            slot.health.changed_at = static_cast<double>(std::time(nullptr));
            slots.push_back(std::move(slot));
        }
    }
    // A backend that lost its checks (type: none) counts as UP from now on.
    for (auto& slot : slots) {
        const auto* svc = config->find_service(slot.state->service);
        if (svc && svc->health_check.type == config::CheckType::none && !slot.health.up) {
            slot.health.up = true;
            slot.health.last_reason = "no health check";
        }
    }
    config_ = std::move(config);
    slots_ = std::move(slots);
    services_ = std::move(services);
    publish();
}

Registry::Slot* Registry::find_slot(const Backend& backend) {
    for (auto& s : slots_)
        if (s.state.get() == &backend) return &s;
    return nullptr;
}

const HealthDetail* Registry::health(const Backend& backend) const {
    for (const auto& s : slots_)
        if (s.state.get() == &backend) return &s.health;
    return nullptr;
}

void Registry::record_check(const Backend& backend, bool ok, const std::string& reason) {
    Slot* slot = find_slot(backend);
    if (!slot) return;
    slot->health.checked = true;
    slot->health.checks++;
    if (!ok) slot->health.check_failures++;
    slot->health.last_reason = reason;
}

void Registry::set_health(const Backend& backend, bool up, const std::string& reason) {
    Slot* slot = find_slot(backend);
    if (!slot || slot->health.up == up) return;
    slot->health.up = up;
    slot->health.last_reason = reason;
    slot->health.changed_at = static_cast<double>(std::time(nullptr));
    publish();
}

bool Registry::set_drained(std::string_view service, std::string_view backend, bool drained) {
    for (auto& s : slots_) {
        if (s.state->service != service || s.state->name != backend) continue;
        if (s.drained != drained) {
            s.drained = drained;
            publish();
        }
        return true;
    }
    return false;
}

std::vector<BackendHealth> Registry::export_health() const {
    std::vector<BackendHealth> out;
    for (const auto& s : slots_)
        out.push_back({s.state->service, s.state->name, s.state->address, s.health.up,
                       s.health.checked, s.drained, s.health.last_reason});
    return out;
}

size_t Registry::restore_health(const std::vector<BackendHealth>& health) {
    size_t matched = 0;
    for (const auto& h : health) {
        for (auto& s : slots_) {
            if (s.state->service != h.service || s.state->name != h.name ||
                !(s.state->address == h.address))
                continue;
            s.health.up = h.up;
            s.health.checked = h.checked;
            s.health.last_reason = h.reason;
            s.drained = h.drained;
            ++matched;
        }
    }
    publish();
    return matched;
}

void Registry::publish() {
    auto snap = std::make_shared<Snapshot>();
    snap->generation = ++generation_;
    snap->config = config_;
    for (size_t si = 0; si < config_->services.size(); ++si) {
        const auto& svc_cfg = config_->services[si];
        ServiceEntry entry;
        entry.config = &svc_cfg;
        entry.state = services_[si];
        for (const auto& b : svc_cfg.backends) {
            auto slot = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
                return same_backend(*s.state, svc_cfg.name, b);
            });
            entry.backends.push_back({slot->state, &b, slot->health.up, slot->drained});
            if (slot->health.up && !slot->drained) entry.up_count++;
        }
        choose_eligible(entry);
        snap->services.push_back(std::move(entry));
    }
    snapshot_ = std::move(snap);
    for (const auto& s : subscribers_)
        s(snapshot_);
}

}  // namespace clb::runtime
