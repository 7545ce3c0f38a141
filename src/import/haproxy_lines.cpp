// bind and server lines, addresses, the global section, and the notes they leave.
#include <charconv>
#include <map>

#include "contrail_lb/net/address.hpp"
#include "import/drafts.hpp"

namespace clb::import {

namespace {

std::optional<unsigned> number(const std::string& text, unsigned max) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
    return value;
}

// Server and bind options that take an argument, so that an unknown one is skipped whole.
bool takes_argument(const std::string& option) {
    static const std::set<std::string, std::less<>> kWithArgument = {"inter",
                                                                     "fastinter",
                                                                     "downinter",
                                                                     "rise",
                                                                     "fall",
                                                                     "port",
                                                                     "weight",
                                                                     "maxconn",
                                                                     "minconn",
                                                                     "maxqueue",
                                                                     "cookie",
                                                                     "verify",
                                                                     "ca-file",
                                                                     "crl-file",
                                                                     "crt",
                                                                     "sni",
                                                                     "slowstart",
                                                                     "id",
                                                                     "track",
                                                                     "source",
                                                                     "resolvers",
                                                                     "init-addr",
                                                                     "agent-port",
                                                                     "agent-inter",
                                                                     "agent-send",
                                                                     "on-error",
                                                                     "on-marked-down",
                                                                     "on-marked-up",
                                                                     "observe",
                                                                     "error-limit",
                                                                     "check-sni",
                                                                     "alpn",
                                                                     "ciphers",
                                                                     "ciphersuites",
                                                                     "ssl-min-ver",
                                                                     "ssl-max-ver",
                                                                     "addr",
                                                                     "proto",
                                                                     "namespace",
                                                                     "pool-max-conn",
                                                                     "pool-purge-delay",
                                                                     "max-reuse",
                                                                     "tcp-ut",
                                                                     "redir",
                                                                     "name",
                                                                     "nice",
                                                                     "process",
                                                                     "interface",
                                                                     "mss",
                                                                     "backlog",
                                                                     "maxconn",
                                                                     "level",
                                                                     "mode",
                                                                     "user",
                                                                     "group",
                                                                     "uid",
                                                                     "gid",
                                                                     "curves",
                                                                     "ecdhe",
                                                                     "npn",
                                                                     "tls-ticket-keys",
                                                                     "accept-netscaler-cip",
                                                                     "thread",
                                                                     "ws",
                                                                     "guid"};
    return kWithArgument.contains(option);
}

}  // namespace

const PendingFeature& pending_feature(std::string_view directive) {
    for (const auto& feature : kPendingFeatures)
        if (feature.directive == directive) return feature;
    static const PendingFeature kUnknown{"", "?", false};
    return kUnknown;
}

bool Notes::first_time(const Origin& origin, const std::string& directive) {
    return seen_.emplace(origin.where(), directive).second;
}

bool Notes::untranslated(const Origin& origin, const std::string& directive, const std::string& why,
                         std::vector<std::string>& block_comments) {
    if (!first_time(origin, directive)) return false;
    Untranslated entry{origin, directive, why};
    block_comments.push_back("not translated: " + entry.to_string());
    list_.push_back(std::move(entry));
    return true;
}

void Notes::dropped(const Origin& origin, const std::string& directive, const std::string& why,
                    std::vector<std::string>& block_comments) {
    if (first_time(origin, directive))
        block_comments.push_back("dropped: " + origin.where() + ": " + directive + ": " + why);
}

void ServiceDraft::set_timeout(const std::string& key, long long ms) {
    for (auto& [k, v] : timeouts)
        if (k == key) return void(v = ms);
    timeouts.emplace_back(key, ms);
}

std::string join_words(const std::vector<std::string>& words, size_t from) {
    std::string out;
    for (size_t i = from; i < words.size(); ++i)
        out += (out.empty() ? "" : " ") + words[i];
    return out;
}

std::string safe_name(const std::string& name) {
    std::string out;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out += ok ? c : '-';
    }
    return out.empty() ? "unnamed" : out;
}

std::optional<std::string> convert_address(std::string text, bool wildcard_ok) {
    for (const char* prefix : {"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"})
        if (text.starts_with(prefix)) text.erase(0, std::string_view(prefix).size());
    if (text.size() > 200) return std::nullopt;
    std::string host, port;
    if (text.starts_with('[')) {
        auto close = text.find("]:");
        if (close == std::string::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (!number(port, 65535) || port == "0") return std::nullopt;
    if (host.empty() || host == "*" || host == "0.0.0.0") {
        if (!wildcard_ok) return std::nullopt;
        return "*:" + port;
    }
    auto ip = net::IpAddress::parse(host);
    if (!ip) return std::nullopt;
    if (ip->is_v6()) {
        if (!wildcard_ok && host == "::") return std::nullopt;
        return "[" + ip->to_string() + "]:" + port;
    }
    return ip->to_string() + ":" + port;
}

}  // namespace clb::import

namespace clb::import {

namespace {

void note(DirectiveContext& c, const std::string& part, const std::string& why,
          std::vector<std::string>& comments) {
    c.notes.untranslated(c.origin, c.directive.text + " [" + part + "]", why, comments);
}

// bind ADDR [ssl crt FILE] [ciphers X] [ssl-min-ver V] ...
void apply_bind_options(DirectiveContext& c, size_t from) {
    const auto& w = c.directive.words;
    ServiceDraft& s = c.service;
    bool ssl = false;
    TlsDraft tls;
    for (size_t i = from; i < w.size(); ++i) {
        const std::string& option = w[i];
        bool has_arg = takes_argument(option) && i + 1 < w.size();
        const std::string arg = has_arg ? w[i + 1] : "";
        if (has_arg) ++i;
        if (option == "ssl")
            ssl = true;
        else if (option == "crt" && has_arg)
            tls.cert = tls.key = arg;
        else if (option == "ciphers" && has_arg)
            tls.ciphers = arg;
        else if (option == "ssl-min-ver" && (arg == "TLSv1.2" || arg == "TLSv1.3"))
            tls.min_version = arg == "TLSv1.2" ? "1.2" : "1.3";
        else if (option == "alpn" && arg == "http/1.1")
            continue;
        else if (option == "no-sslv3" || option == "no-tlsv10" || option == "no-tlsv11")
            continue;  // contrail-lb never speaks those
        else
            note(c, option + (has_arg ? " " + arg : ""), "no contrail-lb listener setting",
                 s.notes);
    }
    if (!ssl) return;
    if (tls.cert.empty()) return note(c, "ssl", "TLS without a crt file", s.notes);
    // HAProxy's crt PEM holds the chain and the key: contrail-lb reads each from it.
    s.tls = tls;
}

}  // namespace

void apply_bind(DirectiveContext& c) {
    const auto& w = c.directive.words;
    if (w.size() < 2)
        return void(
            c.notes.untranslated(c.origin, c.directive.text, "no address", c.service.notes));
    // "bind :80,:8080": HAProxy's lists of addresses.
    std::string list = w[1];
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string one =
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto address = convert_address(one, true);
        if (address)
            c.service.listen.push_back(*address);
        else
            note(c, one,
                 "not a literal IP:PORT (port ranges, unix sockets and names are not supported)",
                 c.service.notes);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    apply_bind_options(c, 2);
}

namespace {

// One option of a server line; false when it has no translation.
bool server_option(ServerDraft& server, const std::string& option, const std::string& arg,
                   bool has_arg, std::string& why) {
    auto unsigned_arg = [&](unsigned max) { return has_arg ? number(arg, max) : std::nullopt; };
    if (option == "check") return server.check = true;
    if (option == "backup") return server.backup = true;
    if (option == "inter" && has_arg) {
        server.inter_ms = parse_haproxy_time_ms(arg);
        return server.inter_ms && *server.inter_ms > 0;
    }
    if (option == "rise" || option == "fall") {
        auto n = unsigned_arg(100);
        (option == "rise" ? server.rise : server.fall) = n;
        return n && *n > 0;
    }
    if (option == "port") return (server.port = unsigned_arg(65535)) && *server.port > 0;
    if (option == "weight") return bool(server.weight = unsigned_arg(256));
    if (option == "error-limit") return bool(server.error_limit = unsigned_arg(1000));
    if ((option == "observe" && arg == "layer4") || (option == "on-error" && arg == "mark-down"))
        return true;
    if (option == "crt") {
        why =
            "a combined PEM of certificate and key: backend_tls takes the client certificate "
            "as two files (cert, key): split it and set both";
        return false;
    }
    if (option == "no-ssl") {
        server.tls.ssl = false;
        return true;
    }
    std::string feature = "server " + option;
    const PendingFeature& pending = pending_feature(feature);
    if (pending.directive.empty()) {
        why = "no contrail-lb backend setting";
        return false;
    }
    if (!pending.supported) {
        why = "not supported yet (" + std::string(pending.key) + ")";
        return false;
    }
    if (option == "maxconn") server.extra.emplace_back("max_connections", YamlNode::raw(arg));
    if (option == "ssl") server.tls.ssl = true;
    if (option == "verify") {
        why = "expected verify none or verify required";
        if (arg != "none" && arg != "required") return false;
        server.tls.verify = arg;
    }
    if (option == "ca-file") {
        if (!has_arg) return false;
        server.tls.ca = arg;
    }
    if (option == "sni") {
        why = "only sni str(NAME), a fixed name, has an equivalent (backend_tls.sni)";
        if (!arg.starts_with("str(") || !arg.ends_with(")") || arg.size() < 6) return false;
        server.tls.sni = arg.substr(4, arg.size() - 5);
    }
    return true;  // sticky: written by the service (cookie)
}

}  // namespace

void apply_server(DirectiveContext& c) {
    const auto& w = c.directive.words;
    ServiceDraft& s = c.service;
    if (w.size() < 3)
        return void(c.notes.untranslated(c.origin, c.directive.text,
                                         "expected server NAME ADDR:PORT", s.notes));
    auto address = convert_address(w[2], false);
    if (!address)
        return void(c.notes.untranslated(
            c.origin, c.directive.text,
            "not a literal IP:PORT (contrail-lb does not resolve names)", s.notes));
    ServerDraft server;
    server.origin = c.origin;
    server.name = safe_name(w[1]);
    server.address = *address;
    if (server.name != w[1]) server.notes.push_back("HAProxy's name: " + w[1]);
    bool check_ssl = false;
    std::vector<std::string> options = s.default_server;
    options.insert(options.end(), w.begin() + 3, w.end());
    for (size_t i = 0; i < options.size(); ++i) {
        const std::string option = options[i];
        bool has_arg = takes_argument(option) && i + 1 < options.size();
        std::string arg = has_arg ? options[++i] : "";
        std::string why = "not a valid value";
        if (option == "check-ssl" || option == "no-check-ssl")
            check_ssl = option == "check-ssl";
        else if (!server_option(server, option, arg, has_arg, why))
            note(c, option + (has_arg ? " " + arg : ""), why, s.notes);
    }
    server.check_ssl = check_ssl;
    if (check_ssl && server.tls.ssl)
        c.notes.dropped(c.origin, c.directive.text + " [check-ssl]",
                        "contrail-lb's checks use TLS when the service has backend_tls", s.notes);
    else if (check_ssl)
        note(c, "check-ssl",
             "checks over TLS to a plain server: contrail-lb's checks use TLS only with "
             "backend_tls",
             s.notes);
    if (!server.tls.ssl && server.tls != BackendTlsDraft{}) {
        c.notes.dropped(c.origin, c.directive.text + " [verify/ca-file/sni without ssl]",
                        "HAProxy uses them only with ssl", s.notes);
        server.tls = {};
    }
    s.servers.push_back(std::move(server));
}

void apply_global_directive(const HaproxyDirective& d, const std::string& file, Notes& notes,
                            GlobalDraft& global) {
    // What contrail-lb does by design, so nothing to set.
    static const std::map<std::string, std::string, std::less<>> kBuiltIn = {
        {"daemon", "contrail-lb runs in the foreground; the container runtime supervises it"},
        {"master-worker",
         "contrail-lb runs in the foreground; the container runtime supervises it"},
        {"pidfile", "contrail-lb runs in the foreground; the container runtime supervises it"},
        {"user", "the image runs contrail-lb as its own unprivileged user"},
        {"group", "the image runs contrail-lb as its own unprivileged user"},
        {"uid", "the image runs contrail-lb as its own unprivileged user"},
        {"gid", "the image runs contrail-lb as its own unprivileged user"},
        {"chroot", "the image holds nothing but contrail-lb and its libraries"},
        {"log", "contrail-lb logs to stderr, the container's log"},
        {"log-tag", "contrail-lb logs to stderr, the container's log"},
        {"log-send-hostname", "contrail-lb logs to stderr, the container's log"},
        {"tune.ssl.default-dh-param", "contrail-lb offers no DHE suites"},
        {"description", "a comment for people"},
        {"node", "a comment for people"}};
    Origin origin{file, d.line};
    const auto& w = d.words;
    if (w[0] == "maxconn" && w.size() == 2 && number(w[1], 10'000'000) && w[1] != "0") {
        global.max_connections = *number(w[1], 10'000'000);
        global.origins.push_back("max_connections from " + origin.where() + " " + d.text);
    } else if (w[0] == "nbthread" && w.size() == 2 && number(w[1], 256) && w[1] != "0") {
        global.workers = *number(w[1], 256);
        global.origins.push_back("workers from " + origin.where() + " " + d.text);
    } else if (w[0] == "ssl-default-bind-ciphers" && w.size() == 2) {
        global.ciphers = w[1];
    } else if (w[0] == "nbproc" && w.size() == 2 && w[1] == "1") {
        notes.dropped(origin, d.text, "one process", global.notes);
    } else if (auto builtin = kBuiltIn.find(w[0]); builtin != kBuiltIn.end()) {
        notes.dropped(origin, d.text, builtin->second, global.notes);
    } else {
        notes.untranslated(origin, d.text, "no contrail-lb setting", global.notes);
    }
}

}  // namespace clb::import
