// --from-env: Tungsten Fabric's variables (what its containers already get) and the
// CONTRAIL_LB_* ones for what TF never had, as a configuration file an operator could
// have written (--print shows it).
#include "contrail_lb/import/env.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"
#include "import/drafts.hpp"

namespace clb::import {

const std::vector<EnvVariable>& env_variables() {
    static const std::vector<EnvVariable> kVariables = {
        {"CONTROLLER_NODES", "(required)", "comma-separated IPs of the controller nodes"},
        {"CONFIG_NODES", "CONTROLLER_NODES", "the contrail-api backends"},
        {"ANALYTICS_NODES", "CONTROLLER_NODES", "the contrail-analytics-api backends"},
        {"WEBUI_NODES", "CONTROLLER_NODES", "the web UI backends (TLS passed through, mode tcp)"},
        {"CONFIG_API_PORT", "8082", "contrail-api's port, on the backends and on the listener"},
        {"ANALYTICS_API_PORT", "8081", "contrail-analytics-api's port"},
        {"WEBUI_HTTPS_LISTEN_PORT", "8143", "the web UI's HTTPS port"},
        {"SSL_ENABLE", "false", "default of the two below"},
        {"CONFIG_API_SSL_ENABLE", "SSL_ENABLE",
         "true: contrail-api serves TLS: backend_tls verified with SERVER_CA_CERTFILE"},
        {"ANALYTICS_API_SSL_ENABLE", "SSL_ENABLE", "the same for contrail-analytics-api"},
        {"SERVER_CERTFILE", "",
         "with CONTRAIL_LB_TLS_TERMINATE=true: the certificate the API listeners serve; with "
         "*_SSL_ENABLE=true and SERVER_KEYFILE: also the client certificate to the backends"},
        {"SERVER_KEYFILE", "", "its key"},
        {"SERVER_CA_CERTFILE", "(required with *_SSL_ENABLE)",
         "the CA the API backends' certificates are verified with (backend_tls.ca)"},
        {"CONFIG_API_VIP", "",
         "announced as IP/32 (or /128) over BGP while contrail-api has a healthy backend"},
        {"ANALYTICS_API_VIP", "", "the same for contrail-analytics-api"},
        {"CONTRAIL_LB_LISTEN_ADDRESS", "0.0.0.0", "the IP the services listen on"},
        {"CONTRAIL_LB_ADMIN_LISTEN", "127.0.0.1:9090",
         "admin.listen (IP:PORT; \"none\": no admin listener)"},
        {"CONTRAIL_LB_ADMIN_TOKEN_FILE", "", "admin.token_file"},
        {"CONTRAIL_LB_TLS_TERMINATE", "false",
         "true: the API services terminate TLS with SERVER_CERTFILE/SERVER_KEYFILE"},
        {"CONTRAIL_LB_WORKERS", "auto", "global.workers"},
        {"CONTRAIL_LB_LOG_LEVEL", "info", "global.log_level"},
        {"CONTRAIL_LB_BGP_PEERS", "",
         "comma-separated ADDR or ADDR=AS (default AS: CONTRAIL_LB_BGP_PEER_AS); turns BGP on"},
        {"CONTRAIL_LB_BGP_PEER_AS", "CONTRAIL_LB_BGP_LOCAL_AS", "the peers' AS (iBGP by default)"},
        {"CONTRAIL_LB_BGP_LOCAL_AS", "(required with peers)", "bgp.local_as"},
        {"CONTRAIL_LB_BGP_ROUTER_ID", "(required with peers)", "bgp.router_id (IPv4)"},
        {"CONTRAIL_LB_BGP_PASSWORD", "", "TCP MD5 password of every peer"},
        {"CONTRAIL_LB_BGP_HOLD_TIME", "9s", "bgp.hold_time"},
        {"CONTRAIL_LB_BGP_MED", "",
         "bgp.vips[].med (a higher MED while the node joins beside another)"},
        {"CONTRAIL_LB_BFD", "false", "true: BFD to every peer"},
        {"CONTRAIL_LB_BFD_INTERVAL", "100ms", "bgp.bfd min_tx and min_rx"},
        {"CONTRAIL_LB_BFD_MULTIPLIER", "3", "bgp.bfd.multiplier"},
    };
    return kVariables;
}

EnvLookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (!value) return std::nullopt;
        return std::string(value);
    };
}

namespace {

class EnvReader {
  public:
    explicit EnvReader(const EnvLookup& env) : env_(env) {}

    // The variable's value, else the default; an empty value counts as unset.
    std::string get(const std::string& name, const std::string& fallback = "") const {
        auto value = env_(name);
        return value && !value->empty() ? *value : fallback;
    }
    bool set(const std::string& name) const { return !get(name).empty(); }
    void error(const std::string& name, const std::string& why) {
        std::string line = name + "=" + yaml_quote(get(name)) + ": " + why;
        if (std::find(errors.begin(), errors.end(), line) == errors.end()) errors.push_back(line);
    }

    std::optional<bool> boolean(const std::string& name, const std::string& fallback) {
        std::string v = get(name, fallback);
        std::transform(v.begin(), v.end(), v.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (v == "true" || v == "yes" || v == "1") return true;
        if (v == "false" || v == "no" || v == "0" || v.empty()) return false;
        error(name, "expected true or false");
        return std::nullopt;
    }
    std::optional<unsigned long> number(const std::string& name, const std::string& fallback,
                                        unsigned long min, unsigned long max) {
        std::string v = get(name, fallback);
        unsigned long value = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
        if (ec == std::errc() && end == v.data() + v.size() && value >= min && value <= max)
            return value;
        error(name, "expected an integer in " + std::to_string(min) + ".." + std::to_string(max));
        return std::nullopt;
    }
    std::vector<std::string> ips(const std::string& name, const std::string& fallback_name) {
        std::string list = get(name, get(fallback_name));
        std::string source = set(name) ? name : fallback_name;
        std::vector<std::string> out;
        size_t start = 0;
        while (start <= list.size()) {
            size_t comma = list.find(',', start);
            std::string one =
                list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            one.erase(0, one.find_first_not_of(" \t"));
            one.erase(one.find_last_not_of(" \t") + 1);
            if (!one.empty()) {
                if (net::IpAddress::parse(one))
                    out.push_back(one);
                else
                    error(source, yaml_quote(one) +
                                      " is not an IP address (contrail-lb does not resolve names)");
            }
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (out.empty() && errors.empty()) error(source, "no node addresses");
        return out;
    }
    std::vector<std::string> errors;

  private:
    const EnvLookup& env_;
};

std::string address(const std::string& ip, unsigned long port) {
    return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

YamlNode service(const std::string& name, const std::string& listen_ip, unsigned long port,
                 const std::vector<std::string>& nodes, bool http) {
    YamlNode s = YamlNode::map();
    s.set("name", YamlNode::text(name));
    s.set("listen", YamlNode::list().flow()).add(YamlNode::quoted(address(listen_ip, port)));
    s.set("mode", YamlNode::raw(http ? "http" : "tcp"));
    s.set("balance", YamlNode::raw(http ? "roundrobin" : "source"));
    YamlNode check = YamlNode::map().flow();
    check.set("type", YamlNode::raw(http ? "http" : "tcp"));
    if (http) check.set("path", YamlNode::raw("/"));
    check.set("interval", YamlNode::raw("2s"));
    check.set("rise", YamlNode::raw("2"));
    check.set("fall", YamlNode::raw("3"));
    s.set("health_check", std::move(check));
    YamlNode& backends = s.set("backends", YamlNode::list());
    for (const auto& node : nodes) {
        YamlNode b = YamlNode::map().flow();
        b.set("name", YamlNode::text(safe_name(node)));
        b.set("address", YamlNode::quoted(address(node, port)));
        backends.add(std::move(b));
    }
    return s;
}

std::optional<YamlNode> bgp_section(EnvReader& env,
                                    const std::vector<std::pair<std::string, std::string>>& vips) {
    if (!env.set("CONTRAIL_LB_BGP_PEERS")) {
        for (const auto& [variable, service] : vips)
            if (env.set(variable))
                env.error(variable, "a VIP is announced over BGP: set CONTRAIL_LB_BGP_PEERS");
        return std::nullopt;
    }
    YamlNode bgp = YamlNode::map();
    std::string router_id = env.get("CONTRAIL_LB_BGP_ROUTER_ID");
    auto ip = net::IpAddress::parse(router_id);
    if (!ip || !ip->is_v4())
        env.error("CONTRAIL_LB_BGP_ROUTER_ID",
                  "expected an IPv4 address (required with CONTRAIL_LB_BGP_PEERS)");
    bgp.set("router_id", YamlNode::text(router_id));
    auto local_as = env.number("CONTRAIL_LB_BGP_LOCAL_AS", "", 1, 4294967295UL);
    bgp.set("local_as", YamlNode::raw(std::to_string(local_as.value_or(0))));
    std::string hold = env.get("CONTRAIL_LB_BGP_HOLD_TIME", "9s");
    if (!config::parse_duration(hold))
        env.error("CONTRAIL_LB_BGP_HOLD_TIME", "expected a duration: 9s, 3s, 0");
    bgp.set("hold_time", YamlNode::raw(hold));
    if (env.boolean("CONTRAIL_LB_BFD", "false").value_or(false)) {
        std::string interval = env.get("CONTRAIL_LB_BFD_INTERVAL", "100ms");
        if (!config::parse_duration(interval))
            env.error("CONTRAIL_LB_BFD_INTERVAL", "expected a duration: 100ms");
        auto multiplier = env.number("CONTRAIL_LB_BFD_MULTIPLIER", "3", 1, 255);
        YamlNode bfd = YamlNode::map().flow();
        bfd.set("min_tx", YamlNode::raw(interval));
        bfd.set("min_rx", YamlNode::raw(interval));
        bfd.set("multiplier", YamlNode::raw(std::to_string(multiplier.value_or(3))));
        bgp.set("bfd", std::move(bfd));
    }
    std::string default_as =
        env.get("CONTRAIL_LB_BGP_PEER_AS", std::to_string(local_as.value_or(0)));
    YamlNode& peers = bgp.set("peers", YamlNode::list());
    std::string list = env.get("CONTRAIL_LB_BGP_PEERS");
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string entry =
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        auto equals = entry.find('=');
        std::string peer_ip = entry.substr(0, equals);
        std::string as = equals == std::string::npos ? default_as : entry.substr(equals + 1);
        unsigned long as_number = 0;
        auto [end, ec] = std::from_chars(as.data(), as.data() + as.size(), as_number);
        if (!net::IpAddress::parse(peer_ip) || ec != std::errc() || end != as.data() + as.size() ||
            as_number == 0)
            env.error("CONTRAIL_LB_BGP_PEERS", yaml_quote(entry) + " is not ADDR or ADDR=AS");
        YamlNode peer = YamlNode::map().flow();
        peer.set("address", YamlNode::text(peer_ip));
        peer.set("remote_as", YamlNode::raw(as));
        if (env.set("CONTRAIL_LB_BGP_PASSWORD"))
            peer.set("password", YamlNode::quoted(env.get("CONTRAIL_LB_BGP_PASSWORD")));
        peers.add(std::move(peer));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    YamlNode& list_node = bgp.set("vips", YamlNode::list());
    for (const auto& [variable, service] : vips) {
        if (!env.set(variable)) continue;
        auto vip = net::IpAddress::parse(env.get(variable));
        if (!vip) {
            env.error(variable, "expected an IP address");
            continue;
        }
        YamlNode entry = YamlNode::map().flow();
        entry.set("prefix", YamlNode::text(vip->to_string() + (vip->is_v4() ? "/32" : "/128")));
        if (env.set("CONTRAIL_LB_BGP_MED")) {
            auto med = env.number("CONTRAIL_LB_BGP_MED", "", 0, 4294967295UL);
            entry.set("med", YamlNode::raw(std::to_string(med.value_or(0))));
        }
        YamlNode require = YamlNode::map().flow();
        require.set("services", YamlNode::list().flow()).add(YamlNode::text(service));
        entry.set("require", std::move(require));
        list_node.add(std::move(entry)).comment("from " + variable);
    }
    if (list_node.empty())
        env.error("CONTRAIL_LB_BGP_PEERS",
                  "BGP without a VIP: set CONFIG_API_VIP or ANALYTICS_API_VIP");
    return bgp;
}

// CONFIG_API_SSL_ENABLE / ANALYTICS_API_SSL_ENABLE (default SSL_ENABLE) = true: the API
// serves TLS, so contrail-lb speaks TLS to it, verified with SERVER_CA_CERTFILE. The node's
// SERVER_CERTFILE/SERVER_KEYFILE go along as the client certificate when both are set: a
// backend that asks for one (mutual TLS) gets it, one that does not never sees it.
void add_backend_tls(EnvReader& env, const std::string& name, YamlNode& service) {
    std::string source = env.set(name) ? name : "SSL_ENABLE";
    if (!env.boolean(source, "false").value_or(false)) return;
    std::string because = "required with " + source + "=true";
    if (!env.set("SERVER_CA_CERTFILE"))
        env.error("SERVER_CA_CERTFILE",
                  because + ": the CA file the API servers' certificates are verified with");
    bool cert = env.set("SERVER_CERTFILE");
    bool key = env.set("SERVER_KEYFILE");
    if (cert != key && !env.boolean("CONTRAIL_LB_TLS_TERMINATE", "false").value_or(false))
        env.error(cert ? "SERVER_CERTFILE" : "SERVER_KEYFILE",
                  std::string("the client certificate to the backends needs ") +
                      (cert ? "SERVER_KEYFILE" : "SERVER_CERTFILE") + " beside it");
    YamlNode tls = YamlNode::map().flow();
    tls.set("verify", YamlNode::raw("required"));
    tls.set("ca", YamlNode::text(env.get("SERVER_CA_CERTFILE")));
    if (cert && key) {
        tls.set("cert", YamlNode::text(env.get("SERVER_CERTFILE")));
        tls.set("key", YamlNode::text(env.get("SERVER_KEYFILE")));
    }
    service.set("backend_tls", std::move(tls)).trailing("from " + source + "=true");
}

YamlNode admin_and_global(EnvReader& env, YamlNode& doc) {
    YamlNode global = YamlNode::map();
    std::string workers = env.get("CONTRAIL_LB_WORKERS", "auto");
    if (workers != "auto") env.number("CONTRAIL_LB_WORKERS", "auto", 1, 256);
    global.set("workers", YamlNode::raw(workers));
    std::string level = env.get("CONTRAIL_LB_LOG_LEVEL", "info");
    if (level != "trace" && level != "debug" && level != "info" && level != "warn" &&
        level != "error")
        env.error("CONTRAIL_LB_LOG_LEVEL", "expected trace, debug, info, warn or error");
    global.set("log_level", YamlNode::raw(level));
    doc.set("global", std::move(global));
    std::string listen = env.get("CONTRAIL_LB_ADMIN_LISTEN", "127.0.0.1:9090");
    YamlNode admin = YamlNode::map();
    if (listen == "none") return admin;
    if (!net::SocketAddress::parse(listen))
        env.error("CONTRAIL_LB_ADMIN_LISTEN", "expected IP:PORT or none");
    admin.set("listen", YamlNode::quoted(listen));
    if (env.set("CONTRAIL_LB_ADMIN_TOKEN_FILE"))
        admin.set("token_file", YamlNode::text(env.get("CONTRAIL_LB_ADMIN_TOKEN_FILE")));
    return admin;
}

}  // namespace

EnvResult config_from_env(const EnvLookup& lookup) {
    EnvReader env(lookup);
    if (!env.set("CONTROLLER_NODES"))
        return EnvResult{
            "",
            {"CONTROLLER_NODES is not set: it lists the controller nodes (comma-separated IPs)"}};
    YamlNode doc = YamlNode::map();
    doc.comment("contrail-lb configuration built by contrail-lb --from-env from Tungsten Fabric's");
    doc.comment("environment variables (docs/migration.md lists them).");
    YamlNode admin = admin_and_global(env, doc);
    if (!admin.empty()) doc.set("admin", std::move(admin));
    std::string listen_ip = env.get("CONTRAIL_LB_LISTEN_ADDRESS", "0.0.0.0");
    if (!net::IpAddress::parse(listen_ip))
        env.error("CONTRAIL_LB_LISTEN_ADDRESS", "expected an IP address");
    auto config_port = env.number("CONFIG_API_PORT", "8082", 1, 65535);
    auto analytics_port = env.number("ANALYTICS_API_PORT", "8081", 1, 65535);
    auto webui_port = env.number("WEBUI_HTTPS_LISTEN_PORT", "8143", 1, 65535);
    YamlNode& services = doc.set("services", YamlNode::list());
    YamlNode api = service("contrail-api", listen_ip, config_port.value_or(8082),
                           env.ips("CONFIG_NODES", "CONTROLLER_NODES"), true);
    YamlNode analytics = service("contrail-analytics-api", listen_ip, analytics_port.value_or(8081),
                                 env.ips("ANALYTICS_NODES", "CONTROLLER_NODES"), true);
    if (env.boolean("CONTRAIL_LB_TLS_TERMINATE", "false").value_or(false)) {
        for (const char* name : {"SERVER_CERTFILE", "SERVER_KEYFILE"})
            if (!env.set(name)) env.error(name, "required with CONTRAIL_LB_TLS_TERMINATE=true");
        for (YamlNode* s : {&api, &analytics}) {
            YamlNode tls = YamlNode::map().flow();
            tls.set("cert", YamlNode::text(env.get("SERVER_CERTFILE")));
            tls.set("key", YamlNode::text(env.get("SERVER_KEYFILE")));
            s->set("tls", std::move(tls));
        }
    }
    env.boolean("SSL_ENABLE", "false");  // checked even when both services override it
    add_backend_tls(env, "CONFIG_API_SSL_ENABLE", api);
    add_backend_tls(env, "ANALYTICS_API_SSL_ENABLE", analytics);
    services.add(std::move(api));
    services.add(std::move(analytics));
    services.add(service("contrail-webui", listen_ip, webui_port.value_or(8143),
                         env.ips("WEBUI_NODES", "CONTROLLER_NODES"), false));
    auto bgp = bgp_section(
        env, {{"CONFIG_API_VIP", "contrail-api"}, {"ANALYTICS_API_VIP", "contrail-analytics-api"}});
    if (bgp) doc.set("bgp", std::move(*bgp));
    if (!env.errors.empty()) return EnvResult{"", env.errors};
    return EnvResult{doc.render(), {}};
}

}  // namespace clb::import
