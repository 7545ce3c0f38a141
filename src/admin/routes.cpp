// The endpoints of SPEC "Admin endpoints" (docs/admin.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>

#include "admin/http.hpp"
#include "admin/text.hpp"
#include "admin/views.hpp"

namespace clb::admin {

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 302:
            return "Found";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 429:
            return "Too Many Requests";
        case 413:
            return "Content Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Unknown";
    }
}

Response text_response(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

Response json_error(int status, std::string_view message) {
    JsonWriter w;
    w.begin_object();
    w.key("error");
    w.value(message);
    w.end_object();
    Response r;
    r.status = status;
    r.content_type = "application/json";
    r.body = w.str() + "\n";
    return r;
}

std::string serialize(const Response& response, bool head_only, bool keep_alive,
                      std::string_view version, double now) {
    auto t = static_cast<std::time_t>(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);

    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nServer: contrail-lb/{}\r\nDate: {}\r\nContent-Type: {}\r\n"
        "Content-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        response.status, reason_phrase(response.status), version, date, response.content_type,
        response.body.size());
    for (const auto& [name, value] : response.headers)
        out += fmt::format("{}: {}\r\n", name, value);
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head_only) out += response.body;
    return out;
}

std::string_view target_path(std::string_view target) {
    if (target.starts_with("http://") || target.starts_with("https://")) {
        size_t slash = target.find('/', target.find("//") + 2);
        if (slash == std::string_view::npos) return "/";
        target.remove_prefix(slash);
    }
    if (!target.starts_with('/')) return {};
    return target.substr(0, target.find_first_of("?#"));
}

std::string_view query_parameter(std::string_view target, std::string_view name) {
    size_t q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
        std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), pair.size() + 1));
        size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    return {};
}

namespace {

// Splits "/a/b/c" into {"a","b","c"}; an empty segment ("//") makes the path unknown.
std::vector<std::string_view> path_segments(std::string_view path) {
    std::vector<std::string_view> segments;
    path.remove_prefix(1);
    while (true) {
        size_t slash = path.find('/');
        segments.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return segments;
}

Response method_not_allowed(std::string_view allow, bool json) {
    std::string message = fmt::format("method not allowed; use {}", allow);
    Response r = json ? json_error(405, message) : text_response(405, message + "\n");
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

bool is_read(const Request& request) {
    return request.method == "GET" || request.method == "HEAD";
}

// ?refresh=N for the stats page, within reason (1 s .. 1 h); 0 when absent or invalid.
int refresh_seconds(std::string_view target) {
    std::string_view text = query_parameter(target, "refresh");
    int seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size()) return 0;
    return std::clamp(seconds, 0, 3600);
}

}  // namespace

Response Router::handle(const Request& request, double now) {
    std::string_view path = target_path(request.target);
    if (path.empty()) return text_response(400, "bad request target\n");
    // Probes (a kubelet, Prometheus) reach these by whatever address they were given.
    if (path != "/healthz" && path != "/metrics") {
        // With users, the token is one of two credentials for a change: checked below.
        std::string_view token = users_.enabled() ? std::string_view() : sources_.token;
        if (auto refused = refuse_access(request, token)) {
            spdlog::warn("admin: refused {} {} from {}: {}", request.method, path,
                         request.peer.ip().to_string(),
                         refused->body.substr(0, refused->body.find('\n')));
            return *refused;
        }
        if (users_.enabled()) {
            if (auto refused = refuse_unauthenticated(request, sources_.token, users_, now))
                return *refused;
        }
    }

    if (path.starts_with("/api/v1/services/")) {
        auto s = path_segments(path);  // api v1 services SVC backends BE ACTION
        if (s.size() == 7 && s[3] != "" && s[4] == "backends" && s[5] != "" &&
            (s[6] == "drain" || s[6] == "enable")) {
            if (request.method != "POST") return method_not_allowed("POST", true);
            return backend_admin(request, s[3], s[5], s[6]);
        }
        return json_error(404, "no such endpoint");
    }

    if (path == "/api/v1/upgrade") {
        if (request.method != "POST") return method_not_allowed("POST", true);
        return upgrade(request);
    }

    enum class View { healthz, metrics, stats, status, index, none };
    View view = path == "/healthz"         ? View::healthz
                : path == "/metrics"       ? View::metrics
                : path == "/stats"         ? View::stats
                : path == "/api/v1/status" ? View::status
                : path == "/"              ? View::index
                                           : View::none;
    if (view == View::none) {
        if (path.starts_with("/api/")) return json_error(404, "no such endpoint");
        return text_response(404, "not found\n");
    }
    if (!is_read(request)) return method_not_allowed("GET, HEAD", view == View::status);
    if (view == View::healthz) {
        std::string stalled = sources_.stalled ? sources_.stalled() : std::string();
        if (!stalled.empty()) return text_response(503, stalled + "\n");
        return text_response(200, "ok");
    }
    if (view == View::index) {
        Response r = text_response(302, "see /stats\n");
        r.headers.emplace_back("Location", "/stats");
        return r;
    }

    // The views read the registry; before the first configuration they show no services.
    std::shared_ptr<const runtime::Snapshot> snapshot;
    if (sources_.registry) snapshot = sources_.registry->snapshot();
    if (!snapshot) snapshot = std::make_shared<const runtime::Snapshot>();
    runtime::Registry no_registry;
    std::optional<bgp::SpeakerStatus> bgp;
    if (sources_.bgp) bgp = sources_.bgp();
    auto load = [](const std::atomic<uint64_t>* n) {
        return n ? n->load(std::memory_order_relaxed) : 0;
    };
    AcceptPauses pauses{load(sources_.proxy_accept_pauses), load(sources_.admin_accept_pauses),
                        bgp ? bgp->accept_pauses : 0};
    Context ctx{*snapshot,
                sources_.registry ? *sources_.registry : no_registry,
                bgp,
                sources_.version,
                sources_.started_at,
                now,
                pauses,
                sources_.log_lines_dropped ? sources_.log_lines_dropped() : 0,
                sources_.upgrade ? sources_.upgrade() : UpgradeView{},
                sources_.pools ? sources_.pools() : PoolCounts{}};

    Response r;
    if (view == View::metrics) {
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = render_metrics(ctx);
    } else if (view == View::status) {
        r.content_type = "application/json";
        r.body = render_status_json(ctx);
    } else {
        r.content_type = "text/html; charset=utf-8";
        r.body = render_stats_html(ctx, refresh_seconds(request.target));
    }
    return r;
}

Response Router::upgrade(const Request& request) {
    if (!sources_.start_upgrade) return json_error(501, "upgrades are not available here");
    std::string from = request.peer.ip().to_string();
    Response r;
    r.later = [this, from](std::function<void(Response)> answer) {
        std::string error;
        auto done = [answer](bool ok, int pid, const std::string& reason) {
            if (!ok) return answer(json_error(502, "the new process failed: " + reason));
            JsonWriter w;
            w.begin_object();
            w.field("result", "ok");
            w.field("pid", static_cast<int64_t>(pid));
            w.end_object();
            Response r;
            r.content_type = "application/json";
            r.body = w.str() + "\n";
            answer(r);
        };
        spdlog::info("admin: upgrade requested (from {})", from);
        if (!sources_.start_upgrade(done, error))
            answer(
                json_error(error.find("already running") != std::string::npos ? 409 : 500, error));
    };
    return r;
}

Response Router::backend_admin(const Request& request, std::string_view service,
                               std::string_view backend, std::string_view action) {
    bool drain = action == "drain";
    runtime::Registry* registry = sources_.registry;
    auto snapshot = registry ? registry->snapshot() : nullptr;
    const runtime::ServiceEntry* svc = snapshot ? snapshot->find(service) : nullptr;
    if (!svc) return json_error(404, fmt::format("no service named \"{}\"", service));
    auto entry = std::find_if(svc->backends.begin(), svc->backends.end(),
                              [&](const auto& b) { return b.config->name == backend; });
    if (entry == svc->backends.end())
        return json_error(
            404, fmt::format("service \"{}\" has no backend named \"{}\"", service, backend));

    bool changed = entry->drained != drain;
    registry->set_drained(service, backend, drain);
    std::string from = request.peer.ip().to_string();
    if (changed)
        spdlog::info("admin: {} backend {}/{} (from {})", drain ? "drained" : "enabled", service,
                     backend, from);
    else
        spdlog::debug("admin: backend {}/{} already {} (from {})", service, backend,
                      drain ? "drained" : "enabled", from);

    JsonWriter w;
    w.begin_object();
    w.key("service");
    w.value(service);
    w.key("backend");
    w.value(backend);
    w.key("drained");
    w.value(drain);
    w.key("changed");
    w.value(changed);
    w.end_object();
    Response r;
    r.content_type = "application/json";
    r.body = w.str() + "\n";
    return r;
}

}  // namespace clb::admin
