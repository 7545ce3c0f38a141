// Service, admin and global drafts -> YAML, keys in the order of docs/configuration.md.
#include "import/emit.hpp"

#include "contrail_lb/config/config.hpp"

namespace clb::import {

namespace {

std::string duration(long long ms) {
    return config::format_duration(config::Duration(ms));
}

// HAProxy's httpchk passes any 2xx or 3xx status: the registered ones.
std::vector<int> haproxy_check_statuses() {
    return {200, 201, 202, 203, 204, 205, 206, 207, 208,
            226, 300, 301, 302, 303, 304, 305, 307, 308};
}

YamlNode int_list(const std::vector<int>& values) {
    YamlNode list = YamlNode::list().flow();
    for (int v : values)
        list.add(YamlNode::raw(std::to_string(v)));
    return list;
}

// The servers must agree on a setting contrail-lb has once per service.
template <typename T>
std::optional<T> shared_setting(ServiceDraft& s, Notes& notes, const char* what,
                                std::optional<T> ServerDraft::*field) {
    std::optional<T> first;
    const ServerDraft* first_server = nullptr;
    for (auto& server : s.servers) {
        if (!server.check) continue;
        if (!first_server) {
            first_server = &server;
            first = server.*field;
        } else if (server.*field != first) {
            notes.untranslated(server.origin, "server " + server.name + " " + what,
                               std::string("differs from server ") + first_server->name +
                                   "'s: contrail-lb has one health_check." + what + " per service",
                               s.notes);
        }
    }
    return first;
}

YamlNode health_check(ServiceDraft& s, Notes& notes, bool http) {
    YamlNode check = YamlNode::map();
    bool any = false;
    for (auto& server : s.servers)
        any = any || server.check;
    if (!any) return check;
    for (auto& server : s.servers)
        if (!server.check)
            notes.untranslated(server.origin, "server " + server.name + " without check",
                               "contrail-lb checks every backend of a checked service", s.notes);
    auto inter = shared_setting(s, notes, "interval", &ServerDraft::inter_ms).value_or(2000);
    auto rise = shared_setting(s, notes, "rise", &ServerDraft::rise).value_or(2);
    auto fall = shared_setting(s, notes, "fall", &ServerDraft::fall).value_or(3);
    auto port = shared_setting(s, notes, "port", &ServerDraft::port);
    auto error_limit = shared_setting(s, notes, "error_limit", &ServerDraft::error_limit);
    bool http_check = s.httpchk && http;
    YamlNode& type = check.set("type", YamlNode::raw(http_check ? "http" : "tcp"));
    if (!http_check) type.trailing("HAProxy's check connects, nothing more");
    if (port) check.set("port", YamlNode::raw(std::to_string(*port)));
    if (http_check) {
        check.set("path", YamlNode::text(s.check_path));
        if (!s.check_note.empty()) check.find("path")->trailing(s.check_note);
        if (s.expect_status) {
            check.set("expect_status", int_list(*s.expect_status));
        } else {
            check.set("expect_status", int_list(haproxy_check_statuses()))
                .comment("HAProxy's httpchk passes any 2xx or 3xx");
        }
    }
    check.set("interval", YamlNode::raw(duration(inter)));
    check.set("timeout", YamlNode::raw(duration(s.check_timeout_ms.value_or(inter))));
    if (!s.check_timeout_ms)
        check.find("timeout")->trailing("HAProxy: inter, without timeout check");
    check.set("rise", YamlNode::raw(std::to_string(rise)));
    check.set("fall", YamlNode::raw(std::to_string(fall)));
    check.set("error_limit", YamlNode::raw(std::to_string(error_limit.value_or(0))))
        .trailing(error_limit ? "observe layer4 error-limit"
                              : "HAProxy marks servers down by checks only");
    return check;
}

YamlNode backends(ServiceDraft& s) {
    YamlNode list = YamlNode::list();
    for (auto& server : s.servers) {
        YamlNode entry = YamlNode::map().flow();
        entry.set("name", YamlNode::text(server.name));
        entry.set("address", YamlNode::quoted(server.address));
        if (server.weight) entry.set("weight", YamlNode::raw(std::to_string(*server.weight)));
        if (server.backup) entry.set("backup", YamlNode::raw("true"));
        for (auto& [key, value] : server.extra)
            entry.set(key, std::move(value));
        YamlNode& added = list.add(std::move(entry));
        for (const auto& n : server.notes)
            added.comment(n);
    }
    return list;
}

YamlNode timeouts(const ServiceDraft& s, bool http) {
    YamlNode node = YamlNode::map().flow();
    for (const char* key : {"connect", "client", "server", "queue", "http_request", "keep_alive"}) {
        for (const auto& [k, ms] : s.timeouts) {
            bool http_only = k == "http_request" || k == "keep_alive";
            if (k == key && (http || !http_only)) node.set(k, YamlNode::raw(duration(ms)));
        }
    }
    return node;
}

void add_tls(YamlNode& out, const ServiceDraft& s, const GlobalDraft& global) {
    if (!s.tls) return;
    YamlNode tls = YamlNode::map();
    tls.set("cert", YamlNode::text(s.tls->cert));
    tls.set("key", YamlNode::text(s.tls->key))
        .trailing("HAProxy's crt file holds the chain and the key");
    auto ciphers = s.tls->ciphers ? s.tls->ciphers : global.ciphers;
    if (ciphers) tls.set("ciphers", YamlNode::quoted(*ciphers));
    if (s.tls->min_version) tls.set("min_version", YamlNode::quoted(*s.tls->min_version));
    out.set("tls", std::move(tls));
}

// The servers' ssl, verify, ca-file and sni: one backend_tls for the service.
void add_backend_tls(YamlNode& out, ServiceDraft& s, Notes& notes) {
    if (s.servers.empty()) return;
    const ServerDraft& first = s.servers.front();
    for (auto& server : s.servers)
        if (server.tls != first.tls)
            notes.untranslated(server.origin, "server " + server.name + " ssl/verify/ca-file/sni",
                               "differs from server " + first.name +
                                   "'s: contrail-lb has one backend_tls per service",
                               s.notes);
    const BackendTlsDraft& tls = first.tls;
    if (!tls.ssl) return;
    bool verify = tls.verify.value_or("required") == "required";
    if (verify && !tls.ca) {
        notes.untranslated(first.origin, "server " + first.name + " ssl",
                           "verify required (HAProxy's default) without ca-file: write a ca-file "
                           "or verify none",
                           s.notes);
        return;
    }
    // HAProxy checks an ssl server's own port over TLS, another port without, unless check-ssl.
    for (auto& server : s.servers)
        if (server.check && server.port && !server.check_ssl)
            notes.untranslated(server.origin, "server " + server.name + " ssl check port",
                               "HAProxy checked port " + std::to_string(*server.port) +
                                   " without TLS; contrail-lb's checks use TLS with backend_tls "
                                   "(check-ssl: that port serves TLS)",
                               s.notes);
    YamlNode node = YamlNode::map().flow();
    node.set("verify", YamlNode::raw(verify ? "required" : "none"));
    if (tls.ca) node.set("ca", YamlNode::text(*tls.ca));
    if (tls.sni) node.set("sni", YamlNode::text(*tls.sni));
    YamlNode& added = out.set("backend_tls", std::move(node));
    if (verify && !tls.sni)
        added.trailing("no sni: the backend's IP is checked against the certificate's IP SANs");
}

std::string balance(const ServiceDraft& s, Notes& notes, std::vector<std::string>& comments) {
    std::string algorithm = s.balance.value_or("roundrobin");
    if (s.hash_type == "consistent") {
        if (algorithm == "source") return "maglev";
        notes.untranslated(s.balance_origin, "hash-type consistent with balance " + algorithm,
                           "only balance source has a consistent-hash equivalent (maglev)",
                           comments);
    }
    return algorithm;
}

}  // namespace

YamlNode emit_service(ServiceDraft& s, const GlobalDraft& global, Notes& notes) {
    YamlNode out = YamlNode::map();
    for (const auto& origin : s.origins)
        out.comment(origin);
    std::string mode = s.mode.value_or("tcp");
    bool http = mode == "http";
    out.set("name", YamlNode::text(s.name));
    YamlNode listen = YamlNode::list().flow();
    for (const auto& address : s.listen)
        listen.add(YamlNode::quoted(address));
    out.set("listen", std::move(listen));
    YamlNode& mode_node = out.set("mode", YamlNode::raw(mode));
    if (!s.mode) mode_node.trailing("HAProxy's default mode");
    if (!s.redirect) {
        out.set("balance", YamlNode::raw(balance(s, notes, s.notes)));
        if (s.retries) out.set("retries", YamlNode::raw(std::to_string(*s.retries)));
    }
    YamlNode t = timeouts(s, http);
    if (!t.empty()) out.set("timeouts", std::move(t));
    add_tls(out, s, global);
    if (!s.redirect) {
        add_backend_tls(out, s, notes);
        YamlNode check = health_check(s, notes, http);
        if (!check.empty()) out.set("health_check", std::move(check));
        out.set("backends", backends(s));
    }
    for (auto& [key, value] : s.extra)
        out.set(key, std::move(value));
    if (!s.error_pages.empty() && http) {
        YamlNode pages = YamlNode::map();
        for (const auto& [code, file] : s.error_pages)
            pages.set(std::to_string(code), YamlNode::text(file));
        out.set("error_pages", std::move(pages));
    }
    if (s.redirect) {
        YamlNode redirect = YamlNode::map().flow();
        redirect.set("scheme", YamlNode::raw(s.redirect->first));
        redirect.set("code", YamlNode::raw(std::to_string(s.redirect->second)));
        out.set("redirect", std::move(redirect));
    }
    for (const auto& n : s.notes)
        out.footer(n);
    return out;
}

YamlNode emit_global(const GlobalDraft& global) {
    YamlNode out = YamlNode::map();
    for (const auto& origin : global.origins)
        out.comment(origin);
    out.set("workers", YamlNode::raw(global.workers ? std::to_string(*global.workers) : "auto"));
    if (global.max_connections)
        out.set("max_connections", YamlNode::raw(std::to_string(*global.max_connections)));
    for (const auto& n : global.notes)
        out.footer(n);
    return out;
}

YamlNode emit_admin(AdminDraft& admin, const std::string& users_file, Notes& notes) {
    YamlNode out = YamlNode::map();
    for (const auto& origin : admin.origins)
        out.comment(origin);
    out.set("listen", YamlNode::quoted(admin.listen));
    if (!admin.users.empty()) {
        if (users_file.empty()) {
            notes.untranslated(admin.auth_origin, "stats auth",
                               "the hashed users file is written next to -o OUT: give -o",
                               admin.notes);
        } else {
            out.set("users_file", YamlNode::text(users_file))
                .trailing("stats auth: " + std::to_string(admin.users.size()) + " user(s), hashed");
        }
    }
    for (const auto& n : admin.notes)
        out.footer(n);
    return out;
}

}  // namespace clb::import
