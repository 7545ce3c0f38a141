// GET /stats: one self-contained HTML page for a person at a browser (inline CSS, no
// JavaScript), in the spirit of HAProxy's stats page. Every value from the configuration,
// the health checker or the BGP speaker goes through html_escape.
#include <fmt/format.h>

#include "admin/text.hpp"
#include "admin/views.hpp"

namespace clb::admin {
namespace {

constexpr std::string_view kStyle = R"css(
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;
--up:#1f9d55;--up-bg:#e3f9e5;--down:#cf1124;--down-bg:#ffe3e3;--drain:#b44d12;--drain-bg:#fff3c4;
--accent:#2b6cb0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#102a43;color:#f0f4f8;padding:14px 24px;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
header h1{margin:0;font-size:20px;font-weight:600}
header .meta{color:#9fb3c8;font-size:13px}
header nav{margin-left:auto;font-size:13px}
header a{color:#bcccdc}
main{padding:16px 24px;max-width:1600px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}
.card .n{font-size:22px;font-weight:600}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin-bottom:16px;overflow-x:auto}
section h2{margin:0;padding:10px 16px;font-size:16px;border-bottom:1px solid var(--line);display:flex;gap:10px;align-items:center}
.facts{margin:0;padding:8px 16px;color:var(--muted);font-size:13px}
h3{margin:0;padding:8px 16px;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;border-top:1px solid var(--line)}
.facts b{color:var(--fg);font-weight:600}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;text-align:left;border-top:1px solid var(--line);white-space:nowrap}
th{background:#f0f4f8;font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#fafbfc}
tbody tr:hover{background:#eef4fb}
tr.proxy td{color:var(--muted);font-style:italic}
td.reason{white-space:normal;min-width:180px;color:var(--muted)}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:700;letter-spacing:.03em}
.UP,.ANNOUNCED,.Established{color:var(--up);background:var(--up-bg)}
.DOWN,.WITHDRAWN,.peer-down{color:var(--down);background:var(--down-bg)}
.DRAINED{color:var(--drain);background:var(--drain-bg)}
.tag{font-size:11px;font-weight:600;color:var(--accent);border:1px solid #bee3f8;background:#ebf8ff;border-radius:4px;padding:0 6px}
.dim{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:0 24px 24px}
)css";

std::string pill(std::string_view css_class, std::string_view text) {
    return fmt::format(R"(<span class="pill {}">{}</span>)", html_escape(css_class),
                       html_escape(text));
}

// A response-time quantile estimated from the histogram's buckets; "-" before any response.
std::string quantile_cell(const runtime::Histogram& h, double q) {
    if (h.count() == 0) return "<td class=num>-</td>";
    double ms = h.quantile(q) * 1000;
    return fmt::format("<td class=num title=\"{} responses\">{} ms</td>", h.count(),
                       ms < 10 ? fmt::format("{:.1f}", ms) : fmt::format("{:.0f}", ms));
}

std::string num(uint64_t n) {
    return fmt::format(R"(<td class="num">{}</td>)", n);
}

std::string since(double changed_at, double now) {
    if (changed_at <= 0) return R"(<td class="dim">-</td>)";
    return fmt::format(R"(<td title="{}">{} ago</td>)", html_escape(utc_time(changed_at)),
                       html_escape(human_duration(now - changed_at)));
}

std::string check_summary(const config::HealthCheck& hc) {
    using config::CheckType;
    if (hc.type == CheckType::none) return "none (backends count as UP)";
    std::string what = hc.type == CheckType::http ? "HTTP GET " + hc.path : "TCP connect";
    if (hc.port != 0) what += fmt::format(" on port {}", hc.port);
    return fmt::format("{} every {}, timeout {}, rise {}, fall {}", what,
                       config::format_duration(hc.interval), config::format_duration(hc.timeout),
                       hc.rise, hc.fall);
}

void summary_cards(std::string& out, const Context& ctx) {
    size_t backends = 0, usable = 0;
    int64_t active = 0;
    for (const auto& svc : ctx.snapshot.services) {
        backends += svc.backends.size();
        usable += svc.up_count;
        active += svc.state->active_connections.load(std::memory_order_relaxed);
    }
    auto card = [&](std::string_view label, std::string value) {
        out +=
            fmt::format(R"(<div class="card"><div class="n">{}</div><div class="l">{}</div></div>)",
                        html_escape(value), html_escape(label));
    };
    out += R"(<div class="cards">)";
    card("services", std::to_string(ctx.snapshot.services.size()));
    card("backends up", fmt::format("{} / {}", usable, backends));
    card("client connections", std::to_string(active));
    if (ctx.bgp) {
        size_t established = 0, announced = 0;
        for (const auto& p : ctx.bgp->peers)
            established += p.established;
        for (const auto& v : ctx.bgp->vips)
            announced += v.announced;
        card("BGP peers established", fmt::format("{} / {}", established, ctx.bgp->peers.size()));
        card("VIPs announced", fmt::format("{} / {}", announced, ctx.bgp->vips.size()));
    }
    out += "</div>\n";
}

// The traffic address, and the checked one below it when health_check.port sends the
// checks elsewhere: the reason a backend answering on its port is DOWN.
std::string address_cell(const runtime::ServiceEntry& svc, const config::Backend& backend) {
    std::string out = html_escape(backend.address.to_string());
    const config::HealthCheck& hc = svc.config->health_check;
    if (hc.type != config::CheckType::none && hc.port != 0)
        out += fmt::format(R"(<br><span class="dim">checked at {}</span>)",
                           html_escape(config::check_address(hc, backend.address).to_string()));
    return out;
}

constexpr std::string_view kBackendHeader =
    "<thead><tr><th>Backend</th><th>Address</th><th>State</th><th class=num>Weight</th>"
    "<th>Role</th><th>Last check</th><th>Since</th><th class=num>Checks</th>"
    "<th class=num>Check fails</th><th class=num>Active</th><th class=num>Conns</th>"
    "<th class=num>Conn fails</th><th class=num title=\"connect failures retried on another "
    "backend\">Retries</th><th class=num title=\"response head time, request on the wire to "
    "response head\">Resp p50</th><th class=num>Resp p99</th><th class=num title=\"responses "
    "framed wrongly: unparsable, or more bytes than announced\">Proto errs</th>"
    "<th class=num>1xx</th><th class=num>2xx</th>"
    "<th class=num>3xx</th><th class=num>4xx</th><th class=num>5xx</th>"
    "<th class=num>Bytes in</th><th class=num>Bytes out</th></tr></thead>\n";

void backend_row(std::string& out, const Context& ctx, const runtime::ServiceEntry& svc,
                 size_t index) {
    const auto& b = svc.backends[index];
    const runtime::Backend& c = *b.state;
    const runtime::HealthDetail* health = ctx.registry.health(c);
    const char* state = backend_state(b);
    std::string role = b.config->backup ? "backup" : "primary";
    if (backend_eligible(svc, index)) role += ", in use";
    out += "<tr>";
    // A drained backend still has a health verdict: show it on hover.
    out += fmt::format(R"(<td><b>{}</b></td><td>{}</td><td title="health checks: {}">{}</td>)",
                       html_escape(b.config->name), address_cell(svc, *b.config),
                       b.up ? "UP" : "DOWN", pill(state, state));
    out += num(b.config->weight);
    out += fmt::format("<td>{}</td>", html_escape(role));
    out += fmt::format(R"(<td class="reason">{}</td>)",
                       html_escape(health ? health->last_reason : ""));
    out += since(health ? health->changed_at : 0, ctx.now);
    out += num(health ? health->checks : 0);
    out += num(health ? health->check_failures : 0);
    // In flight, and the limit beyond which requests queue (max_connections).
    auto active = static_cast<uint64_t>(std::max(0, c.active_connections.load()));
    if (b.config->max_connections)
        out += fmt::format(R"(<td class="num" title="max_connections">{} / {}</td>)", active,
                           b.config->max_connections);
    else
        out += num(active);
    out += num(c.connections_total.get());
    out += num(c.connect_failures.get());
    out += num(c.retries.get());
    out += quantile_cell(c.response_time, 0.5);
    out += quantile_cell(c.response_time, 0.99);
    out += num(c.protocol_errors.get());
    for (uint64_t n : status_classes(c.responses))
        out += num(n);
    out += fmt::format(R"(<td class="num" title="{} bytes">{}</td>)", c.bytes_in.get(),
                       html_escape(human_bytes(c.bytes_in.get())));
    out += fmt::format(R"(<td class="num" title="{} bytes">{}</td>)", c.bytes_out.get(),
                       html_escape(human_bytes(c.bytes_out.get())));
    out += "</tr>\n";
}

// "how requests ended: completed 1200 · client_timeout 3 · backend_refused 1" (non-zero only).
void termination_line(std::string& out, const runtime::Service& c) {
    std::string causes;
    for (size_t i = 0; i < c.terminations.size(); ++i) {
        uint64_t n = c.terminations[i].get();
        if (n == 0) continue;
        causes += fmt::format("{}<span class=cause>{}</span> <b>{}</b>",
                              causes.empty() ? "" : " &middot; ",
                              runtime::name(static_cast<runtime::Termination>(i)), n);
    }
    out += fmt::format("<p class=facts>how requests and connections ended: {}</p>",
                       causes.empty() ? "none yet" : causes);
}

void service_section(std::string& out, const Context& ctx, const runtime::ServiceEntry& svc) {
    const config::Service& cfg = *svc.config;
    const runtime::Service& c = *svc.state;
    std::string listen;
    for (const auto& a : cfg.listen)
        listen += (listen.empty() ? "" : ", ") + a.to_string();
    out += fmt::format("<section><h2>{} <span class=tag>{}</span>{}</h2>\n", html_escape(cfg.name),
                       html_escape(config::to_string(cfg.mode)),
                       cfg.tls ? " <span class=tag>tls</span>" : "");
    out += fmt::format(
        "<p class=facts>listen <b>{}</b> &middot; balance <b>{}</b> &middot; retries <b>{}</b>"
        " &middot; health check <b>{}</b><br>backends up <b>{} / {}</b> &middot; client "
        "connections <b>{}</b> active, <b>{}</b> total, <b>{}</b> refused &middot; requests "
        "<b>{}</b> &middot; queue <b>{}</b> waiting, <b>{}</b> timed out</p>\n",
        html_escape(listen), html_escape(config::to_string(cfg.balance)), cfg.retries,
        html_escape(check_summary(cfg.health_check)), svc.up_count, svc.backends.size(),
        std::max(0, c.active_connections.load()), c.connections_total.get(),
        c.refused_connections.get(), c.duration.count(), std::max(0, c.queued.load()),
        c.queue_timeouts.get());
    out += "<table>";
    out += kBackendHeader;
    out += "<tbody>\n";
    for (size_t i = 0; i < svc.backends.size(); ++i)
        backend_row(out, ctx, svc, i);
    auto own = status_classes(c.responses_without_backend);
    out += "<tr class=proxy><td colspan=16>answered by the proxy itself (no backend)</td>";
    for (uint64_t n : own)
        out += num(n);
    out += "<td></td><td></td></tr>\n</tbody></table>";
    termination_line(out, c);
    out += "</section>\n";
}

// State, negotiated interval and detection time; why it is Down and whether BGP waits on it.
std::string bfd_cell(const bgp::PeerStatus& p) {
    if (!p.bfd) return "<td class=dim>off</td>";
    const bgp::BfdStatus& b = *p.bfd;
    std::string title =
        fmt::format("remote {}, tx {:.0f}ms, {} packets in, {} out, {} flaps", b.remote_state,
                    b.tx_interval * 1000, b.packets_in, b.packets_out, b.flaps);
    std::string text = b.up ? fmt::format("detect {:.0f}ms", b.detection_time * 1000)
                            : b.diag + (b.holding_bgp ? "; holding BGP down" : "");
    if (!b.error.empty()) text += "; " + b.error;
    return fmt::format(R"(<td title="{}">{} <span class="reason">{}</span></td>)",
                       html_escape(title), pill(b.up ? "Established" : "peer-down", b.state),
                       html_escape(text));
}

void bgp_section(std::string& out, const Context& ctx) {
    if (!ctx.bgp) return;
    const bgp::SpeakerStatus& s = *ctx.bgp;
    out += fmt::format(
        "<section><h2>BGP</h2>\n<p class=facts>router id <b>{}</b> &middot; local AS "
        "<b>{}</b></p>\n",
        html_escape(s.router_id), s.local_as);
    out +=
        "<h3>Peers</h3><table><thead><tr><th>Peer</th><th class=num>Remote AS</th><th>State</th>"
        "<th>Uptime</th><th>Last error</th><th class=num>Msgs in</th><th class=num>Msgs out</th>"
        "<th class=num>Updates in</th><th class=num>Updates out</th><th class=num>Flaps</th>"
        "<th>BFD</th></tr></thead><tbody>\n";
    for (const auto& p : s.peers) {
        out += fmt::format("<tr><td><b>{}</b></td>{}<td>{}</td>", html_escape(p.address),
                           num(p.remote_as),
                           pill(p.established ? "Established" : "peer-down", p.state));
        out += p.established
                   ? fmt::format("<td title=\"since {}\">{}</td>",
                                 html_escape(utc_time(p.established_since)),
                                 html_escape(human_duration(ctx.now - p.established_since)))
                   : "<td class=dim>-</td>";
        out += fmt::format(R"(<td class="reason">{}</td>)", html_escape(p.last_error));
        out += num(p.messages_in) + num(p.messages_out) + num(p.updates_in) + num(p.updates_out) +
               num(p.flaps);
        out += bfd_cell(p);
        out += "</tr>\n";
    }
    if (s.peers.empty()) out += "<tr><td colspan=11 class=dim>no peers configured</td></tr>\n";
    out += "</tbody></table>\n";
    out +=
        "<h3>VIPs</h3><table><thead><tr><th>VIP</th><th>Status</th><th>Reason</th><th>Since</th></"
        "tr>"
        "</thead><tbody>\n";
    for (const auto& v : s.vips) {
        const char* status = v.announced ? "ANNOUNCED" : "WITHDRAWN";
        out += fmt::format(R"(<tr><td><b>{}</b></td><td>{}</td><td class="reason">{}</td>{}</tr>)",
                           html_escape(v.prefix), pill(status, status), html_escape(v.reason),
                           since(v.changed_at, ctx.now));
        out += '\n';
    }
    if (s.vips.empty()) out += "<tr><td colspan=4 class=dim>no VIPs configured</td></tr>\n";
    out += "</tbody></table></section>\n";
}

}  // namespace

std::string render_stats_html(const Context& ctx, int refresh_seconds) {
    std::string out;
    out.reserve(16 * 1024);
    out +=
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
        "<title>contrail-lb stats</title>";
    if (refresh_seconds > 0)
        out += fmt::format(R"(<meta http-equiv="refresh" content="{}">)", refresh_seconds);
    out += "<style>";
    out += kStyle;
    out += "</style></head><body>\n<header><h1>contrail-lb</h1>";
    out += fmt::format(
        "<span class=meta>version {} &middot; up {} &middot; started {} &middot; state "
        "generation {}</span>",
        html_escape(ctx.version), html_escape(human_duration(ctx.now - ctx.started_at)),
        html_escape(utc_time(ctx.started_at)), ctx.snapshot.generation);
    out += fmt::format(
        "<nav>auto-refresh: <a href=\"/stats\">off</a> <a href=\"/stats?refresh=5\">5s</a> "
        "<a href=\"/stats?refresh=30\">30s</a>{} &middot; <a href=\"/metrics\">metrics</a> "
        "&middot; <a href=\"/api/v1/status\">JSON</a></nav></header>\n<main>\n",
        refresh_seconds > 0 ? fmt::format(" (now every {}s)", refresh_seconds) : "");
    summary_cards(out, ctx);
    for (const auto& svc : ctx.snapshot.services)
        service_section(out, ctx, svc);
    if (ctx.snapshot.services.empty())
        out += "<section><p class=facts>no services configured</p></section>\n";
    bgp_section(out, ctx);
    out += fmt::format("</main>\n<footer>generated {}</footer>\n</body></html>\n",
                       html_escape(utc_time(ctx.now)));
    return out;
}

}  // namespace clb::admin
