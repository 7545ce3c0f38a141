// What the translators collect from haproxy.cfg and bird.conf before printing YAML.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "contrail_lb/import/haproxy.hpp"
#include "contrail_lb/import/source.hpp"
#include "import/yaml_writer.hpp"

namespace clb::import {

// Directives whose contrail-lb key another engineer is adding. Each row says what the
// directive becomes; flipping `supported` switches its translation on (the handlers
// already write the key), until then it is "not supported yet".
struct PendingFeature {
    std::string_view directive;
    std::string_view key;
    bool supported;
};
inline constexpr PendingFeature kPendingFeatures[] = {
    {"server maxconn", "services[].backends[].max_connections", true},
    {"timeout queue", "services[].timeouts.queue", true},
    {"cookie", "services[].sticky: {cookie: NAME}", true},
    {"server cookie", "services[].sticky (the cookie value of a backend)", true},
    {"server ssl", "services[].backend_tls", true},
    {"server verify", "services[].backend_tls.verify", true},
    {"server ca-file", "services[].backend_tls.ca", true},
    {"server sni", "services[].backend_tls.sni", true},
};
const PendingFeature& pending_feature(std::string_view directive);

// Everything the output says about directives it did not translate as such.
class Notes {
  public:
    // "# not translated: ..." (also on stderr); false when that line was already noted
    // (a defaults section inherited by several proxies).
    bool untranslated(const Origin& origin, const std::string& directive, const std::string& why,
                      std::vector<std::string>& block_comments);
    // A directive whose effect contrail-lb has built in: a comment, exit status unchanged.
    void dropped(const Origin& origin, const std::string& directive, const std::string& why,
                 std::vector<std::string>& block_comments);
    std::vector<Untranslated> take() { return std::move(list_); }

  private:
    bool first_time(const Origin& origin, const std::string& directive);
    std::vector<Untranslated> list_;
    std::set<std::pair<std::string, std::string>> seen_;
};

// ssl, verify, ca-file, sni of a server line: one backend_tls per service.
struct BackendTlsDraft {
    bool ssl = false;
    std::optional<std::string> verify;  // "required" (HAProxy's default) or "none"
    std::optional<std::string> ca, sni;
    bool operator==(const BackendTlsDraft&) const = default;
};

struct ServerDraft {
    Origin origin;
    std::string name;
    std::string address;  // contrail-lb syntax
    bool check = false;
    std::optional<long long> inter_ms;
    std::optional<unsigned> rise, fall, port, weight, error_limit;
    bool backup = false;
    BackendTlsDraft tls;
    bool check_ssl = false;  // check-ssl: its checks use TLS even on another port
    std::vector<std::pair<std::string, YamlNode>> extra;  // pending features, once supported
    std::vector<std::string> notes;
};

struct TlsDraft {
    std::string cert, key;
    std::optional<std::string> ciphers, min_version;
};

struct ServiceDraft {
    std::string name;
    std::vector<std::string> origins;  // "from haproxy.cfg:42 backend x"
    std::vector<std::string> listen;
    std::optional<std::string> mode, balance, hash_type;
    Origin balance_origin;
    std::optional<unsigned> retries;
    std::vector<std::pair<std::string, long long>> timeouts;  // YAML key -> ms, first set first
    std::optional<long long> check_timeout_ms;
    std::optional<TlsDraft> tls;
    bool httpchk = false;
    std::string check_path = "/";
    std::string check_note;
    std::optional<std::vector<int>> expect_status;
    bool tcp_check = false;
    std::vector<std::string> default_server;  // default-server options, inherited
    std::vector<ServerDraft> servers;
    std::map<int, std::string> error_pages;
    std::optional<std::pair<std::string, int>> redirect;  // scheme, code
    std::optional<std::string> backend_name;
    Origin backend_origin;
    bool stats = false;
    Origin stats_origin, stats_auth_origin;
    std::vector<std::pair<std::string, std::string>> stats_users;
    std::vector<std::pair<Origin, std::string>> stats_directives;  // to note if not admin
    std::vector<std::pair<std::string, YamlNode>> extra;
    std::vector<std::string> notes;  // comments printed at the end of the block

    void set_timeout(const std::string& key, long long ms);
};

struct AdminDraft {
    std::vector<std::string> origins;
    std::string listen;
    std::vector<std::pair<std::string, std::string>> users;  // name, password
    std::vector<std::string> notes;
    Origin auth_origin;
};

struct GlobalDraft {
    std::optional<unsigned> workers;
    std::optional<unsigned long> max_connections;
    std::optional<std::string> ciphers;
    std::vector<std::string> origins;
    std::vector<std::string> notes;
};

struct HaproxyDrafts {
    GlobalDraft global;
    std::optional<AdminDraft> admin;
    std::vector<ServiceDraft> services;
};

HaproxyDrafts collect_haproxy(const HaproxyConfig& config, Notes& notes);

// One directive of a frontend, backend, listen or defaults section.
enum class Side { frontend = 1, backend = 2, both = 3 };
struct DirectiveContext {
    ServiceDraft& service;
    const HaproxyDirective& directive;
    Origin origin;
    Side side;  // which half of the proxy is being built
    Notes& notes;
    GlobalDraft& global;
};
// Applies it to the service; false when no keyword of `side` matches (the directive
// belongs to the other half: a defaults section serves both).
bool apply_proxy_directive(DirectiveContext& ctx);
// A bind or server line: what translates goes to the service, each option that does not
// is noted on its own.
void apply_bind(DirectiveContext& ctx);
void apply_server(DirectiveContext& ctx);
void apply_global_directive(const HaproxyDirective& d, const std::string& file, Notes& notes,
                            GlobalDraft& global);

// HAProxy's address syntax -> contrail-lb's ("*:8082", "[::1]:80"); nullopt when it is
// not a literal address with a port.
std::optional<std::string> convert_address(std::string text, bool wildcard_ok);
// A name contrail-lb accepts: letters, digits, '.', '_', '-'.
std::string safe_name(const std::string& name);
std::string join_words(const std::vector<std::string>& words, size_t from = 0);

}  // namespace clb::import
