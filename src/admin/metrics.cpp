// Prometheus text exposition format 0.0.4: every family once, with HELP and TYPE, then
// its samples. Counters are read with relaxed loads: each value is exact, the set of
// values is not one atomic instant, which Prometheus does not need.
#include <fmt/format.h>

#include <initializer_list>
#include <optional>
#include <utility>

#include "admin/text.hpp"
#include "admin/views.hpp"

namespace clb::admin {
namespace {

using Label = std::pair<std::string_view, std::string_view>;

class Exposition {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value) {
        write_series(name, labels);
        out_ += fmt::format(" {}\n", value);
    }
    void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
        write_series(name, labels);
        out_ += ' ';
        out_ += format_number(value);
        out_ += '\n';
    }
    void sample(std::string_view name, std::initializer_list<Label> labels, bool value) {
        sample(name, labels, uint64_t{value ? 1u : 0u});
    }
    // NAME_bucket (cumulative, with `le`), NAME_sum and NAME_count. The count is the +Inf
    // bucket, so the two agree even under concurrent updates.
    void histogram(std::string_view name, std::initializer_list<Label> labels,
                   const runtime::Histogram& h) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.buckets.size(); ++i) {
            cumulative += h.buckets[i].get();
            std::string le = i < runtime::kDurationBuckets.size()
                                 ? format_number(runtime::kDurationBuckets[i])
                                 : "+Inf";
            write_series(fmt::format("{}_bucket", name), labels, Label{"le", le});
            out_ += fmt::format(" {}\n", cumulative);
        }
        sample(fmt::format("{}_sum", name), labels, static_cast<double>(h.sum_us.get()) / 1e6);
        sample(fmt::format("{}_count", name), labels, cumulative);
    }
    std::string take() { return std::move(out_); }

  private:
    void write_series(std::string_view name, std::initializer_list<Label> labels,
                      std::optional<Label> last = std::nullopt) {
        out_ += name;
        if (labels.size() == 0 && !last) return;
        out_ += '{';
        bool first = true;
        auto write = [&](const Label& l) {
            if (!first) out_ += ',';
            first = false;
            out_ += fmt::format("{}=\"{}\"", l.first, prometheus_label_escape(l.second));
        };
        for (const auto& label : labels)
            write(label);
        if (last) write(*last);
        out_ += '}';
    }
    std::string out_;
};

uint64_t gauge_value(const std::atomic<int32_t>& v) {
    int32_t n = v.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<uint64_t>(n) : 0;
}

// What stays allocated between requests: after a burst these fall back to what the steady
// load uses (docs/operations.md, "Memory after a burst").
void pool_metrics(Exposition& m, const PoolCounts& pools) {
    auto count = [](int64_t n) { return static_cast<uint64_t>(n > 0 ? n : 0); };
    m.family("contrail_lb_idle_backend_connections", "gauge",
             "Idle keep-alive connections to backends in the workers' pools, all backends.");
    m.sample("contrail_lb_idle_backend_connections", {}, count(pools.idle_backend_connections));
    m.family("contrail_lb_pooled_exchanges", "gauge",
             "Request states kept warm in the workers' pools for the next requests.");
    m.sample("contrail_lb_pooled_exchanges", {}, count(pools.pooled_exchanges));
    m.family("contrail_lb_pooled_buffers", "gauge",
             "32 KiB connection buffers kept in the workers' pools for the next requests.");
    m.sample("contrail_lb_pooled_buffers", {}, count(pools.pooled_buffers));
}

void process_metrics(Exposition& m, const Context& ctx) {
    m.family("contrail_lb_build_info", "gauge", "Build information of the running contrail-lb.");
    m.sample("contrail_lb_build_info", {{"version", ctx.version}}, uint64_t{1});
    m.family("contrail_lb_start_time_seconds", "gauge", "Unix time the process started.");
    m.sample("contrail_lb_start_time_seconds", {}, ctx.started_at);
    m.family("contrail_lb_state_generation", "gauge",
             "Number of state snapshots published (configuration, health and drain changes).");
    m.sample("contrail_lb_state_generation", {}, ctx.snapshot.generation);
    m.family("contrail_lb_log_lines_dropped_total", "counter",
             "Log lines dropped because stderr did not keep up (the queues were full).");
    m.sample("contrail_lb_log_lines_dropped_total", {}, ctx.log_lines_dropped);
    m.family("contrail_lb_accept_pauses_total", "counter",
             "Times a listener stopped accepting for 100ms because the process or the system "
             "was out of file descriptors or socket memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).");
    m.sample("contrail_lb_accept_pauses_total", {{"listener", "proxy"}}, ctx.accept_pauses.proxy);
    m.sample("contrail_lb_accept_pauses_total", {{"listener", "admin"}}, ctx.accept_pauses.admin);
    m.sample("contrail_lb_accept_pauses_total", {{"listener", "bgp"}}, ctx.accept_pauses.bgp);
    pool_metrics(m, ctx.pools);
}

void request_metrics(Exposition& m, const Context& ctx) {
    m.family("contrail_lb_requests_total", "counter",
             "HTTP responses sent to clients, by service, backend and status code "
             "(backend=\"\" for answers from the proxy itself).");
    for (const auto& svc : ctx.snapshot.services) {
        const std::string& service = svc.config->name;
        for (const auto& b : svc.backends) {
            for (size_t i = 0; i < b.state->responses.size(); ++i) {
                uint64_t n = b.state->responses[i].get();
                if (n == 0) continue;
                auto code = std::to_string(i + 100);
                m.sample("contrail_lb_requests_total",
                         {{"service", service}, {"backend", b.config->name}, {"code", code}}, n);
            }
        }
        for (size_t i = 0; i < svc.state->responses_without_backend.size(); ++i) {
            uint64_t n = svc.state->responses_without_backend[i].get();
            if (n == 0) continue;
            auto code = std::to_string(i + 100);
            m.sample("contrail_lb_requests_total",
                     {{"service", service}, {"backend", ""}, {"code", code}}, n);
        }
    }

    m.family("contrail_lb_request_duration_seconds", "histogram",
             "Time from the first byte of a request to the last byte of its response.");
    for (const auto& svc : ctx.snapshot.services)
        m.histogram("contrail_lb_request_duration_seconds", {{"service", svc.config->name}},
                    svc.state->duration);
}

// Requests waiting for a backend slot (backends[].max_connections).
void queue_metrics(Exposition& m, const std::vector<runtime::ServiceEntry>& services) {
    m.family("contrail_lb_queue_depth", "gauge",
             "Requests (tcp: connections) waiting for a backend below its max_connections.");
    for (const auto& svc : services)
        m.sample("contrail_lb_queue_depth", {{"service", svc.config->name}},
                 gauge_value(svc.state->queued));
    m.family("contrail_lb_queue_timeouts_total", "counter",
             "Requests answered 503 after waiting timeouts.queue for a backend slot.");
    for (const auto& svc : services)
        m.sample("contrail_lb_queue_timeouts_total", {{"service", svc.config->name}},
                 svc.state->queue_timeouts.get());
    m.family("contrail_lb_queue_wait_seconds", "histogram",
             "Time requests waited for a backend slot, those that waited at all.");
    for (const auto& svc : services)
        m.histogram("contrail_lb_queue_wait_seconds", {{"service", svc.config->name}},
                    svc.state->queue_wait);
}

void service_metrics(Exposition& m, const Context& ctx) {
    const auto& services = ctx.snapshot.services;
    m.family("contrail_lb_active_connections", "gauge", "Open client connections per service.");
    for (const auto& svc : services)
        m.sample("contrail_lb_active_connections", {{"service", svc.config->name}},
                 gauge_value(svc.state->active_connections));
    m.family("contrail_lb_connections_total", "counter", "Client connections accepted.");
    for (const auto& svc : services)
        m.sample("contrail_lb_connections_total", {{"service", svc.config->name}},
                 svc.state->connections_total.get());
    m.family("contrail_lb_refused_connections_total", "counter",
             "Client connections refused because global.max_connections was reached.");
    for (const auto& svc : services)
        m.sample("contrail_lb_refused_connections_total", {{"service", svc.config->name}},
                 svc.state->refused_connections.get());
    m.family("contrail_lb_terminations_total", "counter",
             "How requests (http mode) and connections (tcp mode) ended, by cause "
             "(docs/operations.md \"Termination causes\").");
    for (const auto& svc : services) {
        for (size_t i = 0; i < svc.state->terminations.size(); ++i) {
            auto cause = runtime::name(static_cast<runtime::Termination>(i));
            m.sample("contrail_lb_terminations_total",
                     {{"service", svc.config->name}, {"cause", cause}},
                     svc.state->terminations[i].get());
        }
    }
    m.family("contrail_lb_service_backends_up", "gauge",
             "Backends of the service that are UP and not drained, backups included.");
    for (const auto& svc : services)
        m.sample("contrail_lb_service_backends_up", {{"service", svc.config->name}},
                 uint64_t{svc.up_count});
    queue_metrics(m, services);
}

// One family over every backend; `value` picks the number from a backend entry.
template <typename Value>
void backend_family(Exposition& m, const Context& ctx, std::string_view name, std::string_view type,
                    std::string_view help, Value value) {
    m.family(name, type, help);
    for (const auto& svc : ctx.snapshot.services)
        for (const auto& b : svc.backends)
            m.sample(name, {{"service", svc.config->name}, {"backend", b.config->name}}, value(b));
}

// One histogram family over every backend; `histogram` picks it from a backend entry.
template <typename Pick>
void backend_histograms(Exposition& m, const Context& ctx, std::string_view name,
                        std::string_view help, Pick histogram) {
    m.family(name, "histogram", help);
    for (const auto& svc : ctx.snapshot.services)
        for (const auto& b : svc.backends)
            m.histogram(name, {{"service", svc.config->name}, {"backend", b.config->name}},
                        histogram(b));
}

void backend_metrics(Exposition& m, const Context& ctx) {
    using Entry = runtime::BackendEntry;
    auto health = [&](const Entry& b) {
        const runtime::HealthDetail* h = ctx.registry.health(*b.state);
        return h ? *h : runtime::HealthDetail{};
    };
    backend_family(m, ctx, "contrail_lb_backend_up", "gauge",
                   "1 when the backend passes its health checks (or has none), else 0.",
                   [](const Entry& b) { return b.up; });
    backend_family(m, ctx, "contrail_lb_backend_drained", "gauge",
                   "1 when an operator drained the backend through the admin API.",
                   [](const Entry& b) { return b.drained; });
    backend_family(m, ctx, "contrail_lb_backend_weight", "gauge", "Configured balancing weight.",
                   [](const Entry& b) { return uint64_t{b.config->weight}; });
    backend_family(m, ctx, "contrail_lb_backend_max_connections", "gauge",
                   "Configured limit of requests in flight (tcp: connections); 0 = none.",
                   [](const Entry& b) { return uint64_t{b.config->max_connections}; });
    backend_family(m, ctx, "contrail_lb_backend_active_connections", "gauge",
                   "Open connections to the backend, all workers.",
                   [](const Entry& b) { return gauge_value(b.state->active_connections); });
    backend_family(m, ctx, "contrail_lb_backend_connections_total", "counter",
                   "Connections opened to the backend.",
                   [](const Entry& b) { return b.state->connections_total.get(); });
    backend_family(m, ctx, "contrail_lb_backend_connect_failures_total", "counter",
                   "Failed connection attempts to the backend.",
                   [](const Entry& b) { return b.state->connect_failures.get(); });
    backend_family(m, ctx, "contrail_lb_backend_bytes_in_total", "counter",
                   "Bytes received from the backend.",
                   [](const Entry& b) { return b.state->bytes_in.get(); });
    backend_family(m, ctx, "contrail_lb_backend_bytes_out_total", "counter",
                   "Bytes sent to the backend.",
                   [](const Entry& b) { return b.state->bytes_out.get(); });
    backend_family(m, ctx, "contrail_lb_retries_total", "counter",
                   "Failed connects to the backend after which the request was retried on "
                   "another one.",
                   [](const Entry& b) { return b.state->retries.get(); });
    backend_histograms(
        m, ctx, "contrail_lb_backend_connect_seconds",
        "TCP handshake time of new connections to the backend.",
        [](const Entry& b) -> const auto& { return b.state->connect_time; });
    backend_histograms(
        m, ctx, "contrail_lb_backend_response_seconds",
        "Time from the request on the wire to the backend's response head.",
        [](const Entry& b) -> const auto& { return b.state->response_time; });
    backend_family(m, ctx, "contrail_lb_backend_protocol_errors_total", "counter",
                   "Responses the backend framed wrongly (unparsable, or followed by bytes "
                   "it never announced); each closed its connection.",
                   [](const Entry& b) { return b.state->protocol_errors.get(); });
    backend_family(m, ctx, "contrail_lb_health_checks_total", "counter",
                   "Active health checks completed.",
                   [&](const Entry& b) { return health(b).checks; });
    backend_family(m, ctx, "contrail_lb_health_check_failures_total", "counter",
                   "Active health checks that failed.",
                   [&](const Entry& b) { return health(b).check_failures; });
    backend_family(m, ctx, "contrail_lb_backend_last_change_seconds", "gauge",
                   "Unix time of the backend's last UP/DOWN transition.",
                   [&](const Entry& b) { return health(b).changed_at; });
}

void bgp_metrics(Exposition& m, const Context& ctx) {
    static const std::vector<bgp::PeerStatus> kNoPeers;
    static const std::vector<bgp::VipStatus> kNoVips;
    const auto& peers = ctx.bgp ? ctx.bgp->peers : kNoPeers;
    const auto& vips = ctx.bgp ? ctx.bgp->vips : kNoVips;

    auto peer_family = [&](std::string_view name, std::string_view type, std::string_view help,
                           auto value) {
        m.family(name, type, help);
        for (const auto& p : peers)
            m.sample(name, {{"peer", p.address}}, value(p));
    };
    using Peer = bgp::PeerStatus;
    peer_family("contrail_lb_bgp_session_established", "gauge",
                "1 while the BGP session with the peer is Established.",
                [](const Peer& p) { return p.established; });
    peer_family("contrail_lb_bgp_messages_in_total", "counter", "BGP messages received.",
                [](const Peer& p) { return p.messages_in; });
    peer_family("contrail_lb_bgp_messages_out_total", "counter", "BGP messages sent.",
                [](const Peer& p) { return p.messages_out; });
    peer_family("contrail_lb_bgp_updates_in_total", "counter", "BGP UPDATE messages received.",
                [](const Peer& p) { return p.updates_in; });
    peer_family("contrail_lb_bgp_updates_out_total", "counter", "BGP UPDATE messages sent.",
                [](const Peer& p) { return p.updates_out; });
    peer_family("contrail_lb_bgp_session_flaps_total", "counter",
                "Times the session left the Established state.",
                [](const Peer& p) { return uint64_t{p.flaps}; });
    peer_family("contrail_lb_bgp_md5_failures_total", "counter",
                "Connections to or from a peer with a password not used because the TCP MD5 "
                "key could not be set on them.",
                [](const Peer& p) { return p.md5_failures; });

    // BFD: only the peers that run it.
    auto bfd_family = [&](std::string_view name, std::string_view type, std::string_view help,
                          auto value) {
        m.family(name, type, help);
        for (const auto& p : peers)
            if (p.bfd) m.sample(name, {{"peer", p.address}}, value(*p.bfd));
    };
    using Bfd = bgp::BfdStatus;
    bfd_family("contrail_lb_bfd_session_up", "gauge",
               "1 while the BFD session beside the peer's BGP session is Up.",
               [](const Bfd& b) { return b.up; });
    bfd_family("contrail_lb_bfd_detection_time_seconds", "gauge",
               "Time without BFD packets from the peer before its session goes Down "
               "(remote multiplier x agreed interval); 0 until the peer is heard.",
               [](const Bfd& b) { return b.detection_time; });
    bfd_family("contrail_lb_bfd_tx_interval_seconds", "gauge",
               "Negotiated BFD transmit interval to the peer, before jitter.",
               [](const Bfd& b) { return b.tx_interval; });
    bfd_family("contrail_lb_bfd_session_flaps_total", "counter",
               "Times the BFD session left the Up state.",
               [](const Bfd& b) { return uint64_t{b.flaps}; });
    bfd_family("contrail_lb_bfd_packets_in_total", "counter",
               "BFD control packets accepted from the peer.",
               [](const Bfd& b) { return b.packets_in; });
    bfd_family("contrail_lb_bfd_packets_out_total", "counter", "BFD control packets sent.",
               [](const Bfd& b) { return b.packets_out; });
    if (ctx.bgp && !ctx.bgp->bfd_dropped.empty()) {
        m.family("contrail_lb_bfd_packets_dropped_total", "counter",
                 "BFD packets discarded before reaching a session, by cause.");
        for (const auto& [cause, count] : ctx.bgp->bfd_dropped)
            m.sample("contrail_lb_bfd_packets_dropped_total", {{"reason", cause}}, count);
    }

    m.family("contrail_lb_vip_announced", "gauge",
             "1 while the VIP prefix is announced to the BGP peers, 0 while withdrawn.");
    for (const auto& v : vips)
        m.sample("contrail_lb_vip_announced", {{"prefix", v.prefix}}, v.announced);
}

}  // namespace

std::string render_metrics(const Context& ctx) {
    Exposition m;
    process_metrics(m, ctx);
    request_metrics(m, ctx);
    service_metrics(m, ctx);
    backend_metrics(m, ctx);
    bgp_metrics(m, ctx);
    return m.take();
}

}  // namespace clb::admin
