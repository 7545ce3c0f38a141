// GET /api/v1/status: the stats page as JSON. Field names are a contract
// (docs/admin.md "JSON schema"): add fields, never rename or remove one.
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

void health_check(JsonWriter& w, const config::HealthCheck& hc) {
    w.begin_object();
    w.key("type");
    w.value(config::to_string(hc.type));
    if (hc.type != config::CheckType::none) {
        if (hc.type == config::CheckType::http) {
            w.key("path");
            w.value(hc.path);
            w.key("expect_status");
            w.begin_array();
            for (int code : hc.expect_status)
                w.value(code);
            w.end_array();
        }
        w.key("interval_seconds");
        w.value(static_cast<double>(hc.interval.count()) / 1000);
        w.key("timeout_seconds");
        w.value(static_cast<double>(hc.timeout.count()) / 1000);
        w.key("rise");
        w.value(hc.rise);
        w.key("fall");
        w.value(hc.fall);
    }
    w.end_object();
}

void backend(JsonWriter& w, const Context& ctx, const runtime::ServiceEntry& svc, size_t index) {
    const auto& b = svc.backends[index];
    const auto& counters = *b.state;
    const runtime::HealthDetail* health = ctx.registry.health(counters);
    w.begin_object();
    w.key("name");
    w.value(b.config->name);
    w.key("address");
    w.value(b.config->address.to_string());
    w.key("state");
    w.value(backend_state(b));
    w.key("up");
    w.value(b.up);
    w.key("drained");
    w.value(b.drained);
    w.key("eligible");
    w.value(backend_eligible(svc, index));
    w.key("weight");
    w.value(b.config->weight);
    w.key("backup");
    w.value(b.config->backup);
    w.key("check");
    w.begin_object();
    w.key("checked");
    w.value(health && health->checked);
    w.key("last_reason");
    w.value(health ? health->last_reason : std::string());
    w.key("changed_at");
    w.value(health ? health->changed_at : 0.);
    w.key("checks");
    w.value(health ? health->checks : 0);
    w.key("failures");
    w.value(health ? health->check_failures : 0);
    w.end_object();
    w.key("active_connections");
    w.value(load(counters.active_connections));
    w.key("connections_total");
    w.value(counters.connections_total.get());
    w.key("connect_failures");
    w.value(counters.connect_failures.get());
    w.key("bytes_in");
    w.value(counters.bytes_in.get());
    w.key("bytes_out");
    w.value(counters.bytes_out.get());
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
    w.key("name");
    w.value(cfg.name);
    w.key("mode");
    w.value(config::to_string(cfg.mode));
    w.key("balance");
    w.value(config::to_string(cfg.balance));
    w.key("listen");
    w.begin_array();
    for (const auto& a : cfg.listen)
        w.value(a.to_string());
    w.end_array();
    w.key("tls");
    w.value(cfg.tls.has_value());
    w.key("health_check");
    health_check(w, cfg.health_check);
    w.key("backends_up");
    w.value(svc.up_count);
    w.key("active_connections");
    w.value(load(counters.active_connections));
    w.key("connections_total");
    w.value(counters.connections_total.get());
    w.key("refused_connections");
    w.value(counters.refused_connections.get());
    w.key("responses_without_backend");
    status_counters(w, counters.responses_without_backend);
    w.key("terminations");
    terminations(w, counters);
    w.key("request_duration");
    w.begin_object();
    w.key("count");
    w.value(counters.duration_count.get());
    w.key("sum_seconds");
    w.value(static_cast<double>(counters.duration_sum_us.get()) / 1e6);
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
    w.key("state");
    w.value(b.state);
    w.key("up");
    w.value(b.up);
    w.key("remote_state");
    w.value(b.remote_state);
    w.key("diagnostic");
    w.value(b.diag);
    w.key("holding_bgp_down");
    w.value(b.holding_bgp);
    w.key("state_since");
    w.value(b.state_since);
    w.key("local_discriminator");
    w.value(uint64_t{b.local_discriminator});
    w.key("remote_discriminator");
    w.value(uint64_t{b.remote_discriminator});
    w.key("min_tx_seconds");
    w.value(b.min_tx);
    w.key("min_rx_seconds");
    w.value(b.min_rx);
    w.key("multiplier");
    w.value(b.multiplier);
    w.key("tx_interval_seconds");
    w.value(b.tx_interval);
    w.key("detection_time_seconds");
    w.value(b.detection_time);
    w.key("remote_multiplier");
    w.value(b.remote_multiplier);
    w.key("remote_min_tx_seconds");
    w.value(b.remote_min_tx);
    w.key("remote_min_rx_seconds");
    w.value(b.remote_min_rx);
    w.key("packets_in");
    w.value(b.packets_in);
    w.key("packets_out");
    w.value(b.packets_out);
    w.key("flaps");
    w.value(uint64_t{b.flaps});
    w.key("error");
    w.value(b.error);
    w.end_object();
}

void peer(JsonWriter& w, const bgp::PeerStatus& p, double now) {
    w.begin_object();
    w.key("address");
    w.value(p.address);
    w.key("remote_as");
    w.value(uint64_t{p.remote_as});
    w.key("state");
    w.value(p.state);
    w.key("established");
    w.value(p.established);
    w.key("established_since");
    w.value(p.established_since);
    w.key("uptime_seconds");
    w.value(p.established ? now - p.established_since : 0.);
    w.key("last_error");
    w.value(p.last_error);
    w.key("messages_in");
    w.value(p.messages_in);
    w.key("messages_out");
    w.value(p.messages_out);
    w.key("updates_in");
    w.value(p.updates_in);
    w.key("updates_out");
    w.value(p.updates_out);
    w.key("flaps");
    w.value(uint64_t{p.flaps});
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
    w.key("router_id");
    w.value(s.router_id);
    w.key("local_as");
    w.value(uint64_t{s.local_as});
    w.key("peers");
    w.begin_array();
    for (const auto& p : s.peers)
        peer(w, p, ctx.now);
    w.end_array();
    w.key("vips");
    w.begin_array();
    for (const auto& v : s.vips) {
        w.begin_object();
        w.key("prefix");
        w.value(v.prefix);
        w.key("announced");
        w.value(v.announced);
        w.key("reason");
        w.value(v.reason);
        w.key("changed_at");
        w.value(v.changed_at);
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
    w.key("bfd_error");
    w.value(s.bfd_error);
    w.end_object();
}

}  // namespace

std::string render_status_json(const Context& ctx) {
    JsonWriter w;
    w.begin_object();
    w.key("version");
    w.value(ctx.version);
    w.key("started_at");
    w.value(ctx.started_at);
    w.key("now");
    w.value(ctx.now);
    w.key("uptime_seconds");
    w.value(ctx.now - ctx.started_at);
    w.key("generation");
    w.value(ctx.snapshot.generation);
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
