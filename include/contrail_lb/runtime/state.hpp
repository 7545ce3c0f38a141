// Live state shared between the control thread and the workers.
//
// The control thread owns a Registry: the current configuration, every backend's health
// and drain flag. Each change publishes a new immutable Snapshot; workers pick it up
// between events and never lock. Per-backend and per-service counters are the only
// shared mutable data: relaxed atomics, written by workers, read by the admin endpoints.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/balance/balancer.hpp"
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/runtime/termination.hpp"

namespace clb::runtime {

struct Counter {
    std::atomic<uint64_t> value{0};
    void add(uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
    uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

// HTTP status codes 100..599 (index code - 100); anything else lands on 0.
using StatusCounters = std::array<Counter, 500>;
inline void count_status(StatusCounters& counters, int status) {
    size_t i = (status >= 100 && status < 600) ? static_cast<size_t>(status - 100) : 0;
    counters[i].add();
}

// Histogram buckets in seconds (Prometheus `le`), +Inf implied.
inline constexpr std::array<double, 12> kDurationBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                         0.1,   0.25,   0.5,   1.,   2.5,   10.};

// A Prometheus-style histogram of durations over kDurationBuckets.
struct Histogram {
    std::array<Counter, kDurationBuckets.size() + 1> buckets;  // not cumulative; last: +Inf
    Counter sum_us;
    // Negative durations count as 0 (they never wrap the sum).
    void observe(double seconds);
    uint64_t count() const;
    // The q-quantile (0 < q < 1), interpolated inside its bucket as Prometheus'
    // histogram_quantile does; 0 with no observation, the last bound past it.
    double quantile(double q) const;
};

// One backend across its whole life: it keeps this object (and so its counters and health)
// across reloads while its service, name and address stay the same.
struct Backend {
    Backend(std::string service, std::string name, net::SocketAddress address);
    const std::string service;
    const std::string name;
    const net::SocketAddress address;
    const uint64_t key_hash;  // balance::hash_key(name)
    // The value of the sticky cookie that names it: 16 hex digits of a hash of service
    // and name, the same on every node with the same configuration, never the address.
    const std::string cookie_id;

    std::atomic<int32_t> active_connections{0};  // to this backend, all workers
    // One more request (http) or connection (tcp) in active_connections, unless `limit`
    // (backends[].max_connections; 0 = none) is reached: the check and the count are one
    // atomic step, so workers together never exceed it. give_slot() undoes it.
    bool take_slot(uint32_t limit);
    void give_slot() { active_connections.fetch_sub(1, std::memory_order_relaxed); }
    Counter connections_total;
    Counter connect_failures;
    // Failed connects on live traffic since the last good one (passive detection).
    std::atomic<uint32_t> consecutive_errors{0};
    Counter bytes_in;   // from the backend
    Counter bytes_out;  // to the backend
    // Failed connects to this backend after which the request tried another one.
    Counter retries;
    Histogram connect_time;   // TCP handshakes of new connections
    Histogram response_time;  // from the request on the wire to the response head
    // Responses the backend framed wrongly: unparsable, or followed by bytes it never
    // announced. The connection is closed each time.
    Counter protocol_errors;
    StatusCounters responses;
};

struct Service {
    explicit Service(std::string name) : name(std::move(name)) {}
    const std::string name;
    std::atomic<int32_t> active_connections{0};  // client connections
    Counter connections_total;
    Counter refused_connections;               // max_connections reached
    StatusCounters responses_without_backend;  // 400, 408, 431, 503 ... from the proxy itself
    // How requests (http mode) and connections (tcp mode) ended, by Termination.
    std::array<Counter, kTerminationCount> terminations;
    void count(Termination cause) { terminations[static_cast<size_t>(cause)].add(); }
    // From the first byte of a request to the last byte of its response.
    Histogram duration;
    // Requests waiting for a backend slot (max_connections), all workers; how long each
    // waited; how many waited timeouts.queue in vain (503).
    std::atomic<int32_t> queued{0};
    Histogram queue_wait;
    Counter queue_timeouts;
};

struct BackendEntry {
    std::shared_ptr<Backend> state;
    const config::Backend* config = nullptr;  // points into Snapshot::config
    bool up = false;
    bool drained = false;
};

struct ServiceEntry {
    const config::Service* config = nullptr;  // points into Snapshot::config
    std::shared_ptr<Service> state;
    std::vector<BackendEntry> backends;
    // The backends that take new traffic now: UP, not drained, weight > 0; the backups
    // only when no primary qualifies. `candidates[i]` describes `backends[eligible[i]]`.
    std::vector<uint32_t> eligible;
    std::vector<balance::Candidate> candidates;
    std::shared_ptr<const balance::Prepared> prepared;
    unsigned up_count = 0;  // UP and not drained, backups included
};

struct Snapshot {
    uint64_t generation = 0;
    std::shared_ptr<const config::Config> config;
    std::vector<ServiceEntry> services;  // in config order

    const ServiceEntry* find(std::string_view service) const;
};

// What the health checker knows about a backend beyond UP/DOWN, for logs and /stats.
struct HealthDetail {
    bool up = false;
    bool checked = false;     // at least one check finished
    std::string last_reason;  // "status 500", "connection refused", "timeout after 1s"
    double changed_at = 0;    // unix time of the last transition
    uint64_t checks = 0;
    uint64_t check_failures = 0;
};

// A backend's health and drain flag as one process hands them to the next (upgrade):
// same identity rule as a reload (service, name, address).
struct BackendHealth {
    std::string service;
    std::string name;
    net::SocketAddress address;
    bool up = false;
    bool checked = false;
    bool drained = false;
    std::string reason;
};

class Registry {
  public:
    using Subscriber = std::function<void(const std::shared_ptr<const Snapshot>&)>;

    // Installs a configuration. Backends keep their state, health and drain flag when
    // service, name and address match; new backends start DOWN (or UP with no checks).
    void apply(std::shared_ptr<const config::Config> config);

    // From the health checker; publishes a snapshot when the state changes.
    void set_health(const Backend& backend, bool up, const std::string& reason);
    void record_check(const Backend& backend, bool ok, const std::string& reason);
    // Admin API; false when the service or backend does not exist.
    bool set_drained(std::string_view service, std::string_view backend, bool drained);

    // Every backend's health, to hand to the next process.
    std::vector<BackendHealth> export_health() const;
    // After apply(): the backends named in `health` take its state (one publish). Returns
    // how many matched.
    size_t restore_health(const std::vector<BackendHealth>& health);

    std::shared_ptr<const Snapshot> snapshot() const { return snapshot_; }
    const HealthDetail* health(const Backend& backend) const;
    // Called on the control thread after every publish, in subscription order.
    void subscribe(Subscriber s) { subscribers_.push_back(std::move(s)); }

  private:
    struct Slot {
        std::shared_ptr<Backend> state;
        HealthDetail health;
        bool drained = false;
    };
    Slot* find_slot(const Backend& backend);
    void publish();

    std::shared_ptr<const config::Config> config_;
    std::vector<Slot> slots_;
    std::vector<std::shared_ptr<Service>> services_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::vector<Subscriber> subscribers_;
    uint64_t generation_ = 0;
};

// Workers report failures seen on live traffic (passive health); implemented by the
// health checker. Thread-safe; called only on the failure path.
class FailureSink {
  public:
    virtual ~FailureSink() = default;
    // `streak` failures in a row (health_check.error_limit reached); backend-caused only.
    virtual void connect_failed(const std::shared_ptr<Backend>& backend, int error,
                                unsigned streak) = 0;
};

}  // namespace clb::runtime
