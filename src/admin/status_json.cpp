// GET /api/v1/status: the stats page as JSON. Field names are a contract
// (docs/admin.md "JSON schema"): add fields, never rename or remove one.
#include <unistd.h>

#include "admin/text.hpp"
#include "admin/views.hpp"

namespace clb::admin {
namespace {

void status_counters(JsonWriter& w, const runtime::StatusCounters& counters) {
    w.begin_object();
    for (size_t i = 0; i < counters.size(); ++i) {
        uint64_t n = counters[i].get();
        if (n == 0) continue;
        w.key(std::to_string(i + 100));
        w.value(n);
    }
    w.end_object();
}

void status_classes_object(JsonWriter& w, const runtime::StatusCounters& counters) {
    auto classes = status_classes(counters);
    w.begin_object();
    for (size_t i = 0; i < classes.size(); ++i) {
        w.key(std::to_string(i + 1) + "xx");
        w.value(classes[i]);
    }
    w.end_object();
}

// Every cause, zero included: the keys are the documented list (docs/operations.md).
void terminations(JsonWriter& w, const runtime::Service& counters) {
    w.begin_object();
    for (size_t i = 0; i < counters.terminations.size(); ++i) {
        w.key(runtime::name(static_cast<runtime::Termination>(i)));
        w.value(counters.terminations[i].get());
    }
    w.end_object();
}

int32_t load(const std::atomic<int32_t>& v) {
    return v.load(std::memory_order_relaxed);
}

// Estimates from the histogram's buckets (see runtime::Histogram::quantile).
void quantiles(JsonWriter& w, const runtime::Histogram& h) {
    w.begin_object();
    w.field("count", h.count());
    w.field("p50", h.quantile(0.5));
    w.field("p99", h.quantile(0.99));
    w.end_object();
}

void health_check(JsonWriter& w, const config::HealthCheck& hc) {
    w.begin_object();
    w.field("type", config::to_string(hc.type));
    if (hc.type != config::CheckType::none) {
        if (hc.port != 0) w.field("port", unsigned{hc.port});
        if (hc.type == config::CheckType::http) {
            w.field("path", hc.path);
            w.key("expect_status");
            w.begin_array();
            for (int code : hc.expect_status)
                w.value(code);
            w.end_array();
        }
        w.field("interval_seconds", static_cast<double>(hc.interval.count()) / 1000);
        w.field("timeout_seconds", static_cast<double>(hc.timeout.count()) / 1000);
        w.field("rise", hc.rise);
        w.field("fall", hc.fall);
    }
    w.end_object();
}

void backend(JsonWriter& w, const Context& ctx, const runtime::ServiceEntry& svc, size_t index) {
    const auto& b = svc.backends[index];
    const auto& counters = *b.state;
    const runtime::HealthDetail* health = ctx.registry.health(counters);
    w.begin_object();
    w.field("name", b.config->name);
    w.field("address", b.config->address.to_string());
    w.field("state", backend_state(b));
    w.field("up", b.up);
    w.field("drained", b.drained);
    w.field("eligible", backend_eligible(svc, index));
    w.field("weight", b.config->weight);
    w.field("backup", b.config->backup);
    w.key("check");
    w.begin_object();
    w.field("checked", health && health->checked);
    // Only when the checks go elsewhere (health_check.port).
    const config::HealthCheck& settings = svc.config->health_check;
    if (settings.type != config::CheckType::none && settings.port != 0)
        w.field("address", config::check_address(settings, b.config->address).to_string());
    w.field("last_reason", health ? health->last_reason : std::string());
    w.field("changed_at", health ? health->changed_at : 0.);
    w.field("checks", health ? health->checks : 0);
    w.field("failures", health ? health->check_failures : 0);
    w.end_object();
    w.field("active_connections", load(counters.active_connections));
    w.field("max_connections", uint64_t{b.config->max_connections});
    w.field("connections_total", counters.connections_total.get());
    w.field("connect_failures", counters.connect_failures.get());
    w.field("bytes_in", counters.bytes_in.get());
    w.field("bytes_out", counters.bytes_out.get());
    w.field("protocol_errors", counters.protocol_errors.get());
    w.field("retries", counters.retries.get());
    w.key("response_seconds");
    quantiles(w, counters.response_time);
    w.key("connect_seconds");
    quantiles(w, counters.connect_time);
    w.key("responses");
    status_counters(w, counters.responses);
    w.key("responses_by_class");
    status_classes_object(w, counters.responses);
    w.end_object();
}

void service(JsonWriter& w, const Context& ctx, const runtime::ServiceEntry& svc) {
    const config::Service& cfg = *svc.config;
    const runtime::Service& counters = *svc.state;
    w.begin_object();
    w.field("name", cfg.name);
    w.field("mode", config::to_string(cfg.mode));
    w.field("balance", config::to_string(cfg.balance));
    w.key("listen");
    w.begin_array();
    for (const auto& a : cfg.listen)
        w.value(a.to_string());
    w.end_array();
    w.field("tls", cfg.tls.has_value());
    w.key("health_check");
    health_check(w, cfg.health_check);
    w.field("backends_up", svc.up_count);
    w.field("active_connections", load(counters.active_connections));
    w.field("connections_total", counters.connections_total.get());
    w.field("refused_connections", counters.refused_connections.get());
    w.key("responses_without_backend");
    status_counters(w, counters.responses_without_backend);
    w.key("terminations");
    terminations(w, counters);
    w.key("queue");
    w.begin_object();
    w.field("depth", load(counters.queued));
    w.field("timeouts", counters.queue_timeouts.get());
    w.key("wait_seconds");
    quantiles(w, counters.queue_wait);
    w.end_object();
    w.key("request_duration");
    w.begin_object();
    w.field("count", counters.duration.count());
    w.field("sum_seconds", static_cast<double>(counters.duration.sum_us.get()) / 1e6);
    w.end_object();
    w.key("backends");
    w.begin_array();
    for (size_t i = 0; i < svc.backends.size(); ++i)
        backend(w, ctx, svc, i);
    w.end_array();
    w.end_object();
}

void bfd(JsonWriter& w, const bgp::BfdStatus& b) {
    w.begin_object();
    w.field("state", b.state);
    w.field("up", b.up);
    w.field("remote_state", b.remote_state);
    w.field("diagnostic", b.diag);
    w.field("holding_bgp_down", b.holding_bgp);
    w.field("state_since", b.state_since);
    w.field("local_discriminator", uint64_t{b.local_discriminator});
    w.field("remote_discriminator", uint64_t{b.remote_discriminator});
    w.field("min_tx_seconds", b.min_tx);
    w.field("min_rx_seconds", b.min_rx);
    w.field("multiplier", b.multiplier);
    w.field("tx_interval_seconds", b.tx_interval);
    w.field("detection_time_seconds", b.detection_time);
    w.field("remote_multiplier", b.remote_multiplier);
    w.field("remote_min_tx_seconds", b.remote_min_tx);
    w.field("remote_min_rx_seconds", b.remote_min_rx);
    w.field("packets_in", b.packets_in);
    w.field("packets_out", b.packets_out);
    w.field("flaps", uint64_t{b.flaps});
    w.field("error", b.error);
    w.end_object();
}

void peer(JsonWriter& w, const bgp::PeerStatus& p, double now) {
    w.begin_object();
    w.field("address", p.address);
    w.field("remote_as", uint64_t{p.remote_as});
    w.field("state", p.state);
    w.field("established", p.established);
    w.field("established_since", p.established_since);
    w.field("uptime_seconds", p.established ? now - p.established_since : 0.);
    w.field("last_error", p.last_error);
    w.field("messages_in", p.messages_in);
    w.field("messages_out", p.messages_out);
    w.field("updates_in", p.updates_in);
    w.field("updates_out", p.updates_out);
    w.field("flaps", uint64_t{p.flaps});
    w.key("bfd");
    if (p.bfd)
        bfd(w, *p.bfd);
    else
        w.null();
    w.end_object();
}

void bgp_section(JsonWriter& w, const Context& ctx) {
    if (!ctx.bgp) {
        w.null();
        return;
    }
    const bgp::SpeakerStatus& s = *ctx.bgp;
    w.begin_object();
    w.field("router_id", s.router_id);
    w.field("local_as", uint64_t{s.local_as});
    w.key("peers");
    w.begin_array();
    for (const auto& p : s.peers)
        peer(w, p, ctx.now);
    w.end_array();
    w.key("vips");
    w.begin_array();
    for (const auto& v : s.vips) {
        w.begin_object();
        w.field("prefix", v.prefix);
        w.field("announced", v.announced);
        w.field("reason", v.reason);
        w.field("changed_at", v.changed_at);
        w.end_object();
    }
    w.end_array();
    w.key("bfd_packets_dropped");
    w.begin_object();
    for (const auto& [cause, count] : s.bfd_dropped) {
        w.key(cause);
        w.value(count);
    }
    w.end_object();
    w.field("bfd_error", s.bfd_error);
    w.end_object();
}

}  // namespace

std::string render_status_json(const Context& ctx) {
    JsonWriter w;
    w.begin_object();
    w.field("version", ctx.version);
    w.field("started_at", ctx.started_at);
    w.field("now", ctx.now);
    w.field("uptime_seconds", ctx.now - ctx.started_at);
    w.field("generation", ctx.snapshot.generation);
    w.field("pid", static_cast<int64_t>(::getpid()));
    w.key("upgrade");
    w.begin_object();
    w.field("state", ctx.upgrade.state);
    w.field("last_result", ctx.upgrade.last_result);
    w.field("last_reason", ctx.upgrade.last_reason);
    w.field("last_pid", static_cast<int64_t>(ctx.upgrade.last_pid));
    w.end_object();
    w.key("services");
    w.begin_array();
    for (const auto& svc : ctx.snapshot.services)
        service(w, ctx, svc);
    w.end_array();
    w.key("bgp");
    bgp_section(w, ctx);
    w.end_object();
    std::string out = w.str();
    out += '\n';
    return out;
}

}  // namespace clb::admin
