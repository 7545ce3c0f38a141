// The typed configuration (../shared/SPEC.md "Configuration"). Immutable once loaded:
// a running process holds it as std::shared_ptr<const Config> and swaps it on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/net/address.hpp"

namespace clb::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

enum class LogLevel { trace, debug, info, warn, error };
enum class LogFormat { text, json };  // json: one object per line, for log pipelines
enum class Mode { http, tcp };
enum class Algorithm { roundrobin, leastconn, random2, source, maglev };
enum class CheckType { http, tcp, none };

struct Global {
    unsigned workers = 0;  // 0 = auto: online CPUs
    LogLevel log_level = LogLevel::info;
    LogFormat log_format = LogFormat::text;
    bool access_log = true;
    bool splice = true;  // large response bodies socket to socket (splice(2)), plain TCP
    uint32_t max_connections = 50000;
    Duration grace = 10s;
    // Unix socket where `--take-over` asks this process for its state; empty: none
    // ("@name": Linux abstract namespace). docs/operations.md "Upgrade".
    std::string upgrade_socket;
};

// One line of admin.users_file: HTTP Basic credentials for the admin endpoints.
struct AdminUser {
    std::string name;
    std::string hash;  // crypt(3): "$y$...", "$6$...", "$5$..."
    friend bool operator==(const AdminUser&, const AdminUser&) = default;
};

struct Admin {
    std::optional<net::SocketAddress> listen;  // no admin section: no admin listener
    std::string token_file;                    // empty: state changes need no token
    std::string token;                         // its contents, trailing whitespace removed
    std::string users_file;                    // empty: no HTTP Basic authentication
    std::vector<AdminUser> users;              // its lines, in file order
};

// The crypt(3) schemes admin.users_file accepts: what mkpasswd(1) and htpasswd -B write.
// Checked by prefix and by libcrypt (crypt_checksalt) at load time.
bool supported_password_hash(std::string_view hash);

struct Timeouts {
    Duration connect = 3s;
    Duration client = 60s;  // 0 = none (tcp mode, long-lived connections)
    Duration server = 60s;  // 0 = none
    Duration http_request = 10s;
    Duration keep_alive = 30s;
    Duration queue = 5s;  // longest wait for a backend slot (backends[].max_connections)
};

enum class TlsVersion { tls1_2, tls1_3 };

// TLS termination of a service. config only reads it and checks that the files are
// readable; loading them is the tls module's (see TlsCheck), which config does not depend
// on, so that OpenSSL stays out of everything built on config.
// Kernel TLS for a service's client connections: off, on (asked of OpenSSL; falls back to
// user-space TLS where the kernel cannot), auto (on only if the kernel offers the tls ULP).
enum class TlsKtls { off, on, auto_ };

struct Tls {
    std::string cert_file;
    std::string key_file;
    std::optional<std::string> ciphers;  // TLS 1.2 list, OpenSSL syntax; nullopt: tls's default
    TlsVersion min_version = TlsVersion::tls1_2;
    // Resumption: stateless tickets (keys shared by the workers, kept across reloads,
    // rotated every session_timeout) and, for TLS 1.2, a server-side session cache.
    bool session_tickets = true;
    Duration session_timeout = std::chrono::hours(1);
    TlsKtls ktls = TlsKtls::off;
};

// TLS from the proxy to a service's backends (and their health checks). Read like Tls:
// config checks that the files are readable, the tls module loads them (BackendTlsCheck).
enum class TlsVerify { required, none };
struct BackendTls {
    TlsVerify verify = TlsVerify::required;
    std::string ca_file;    // empty only with verify: none
    std::string sni;        // empty: the backend's IP is checked against the certificate
    std::string cert_file;  // optional client certificate, with key_file
    std::string key_file;
};

// Why a service's TLS settings would not serve, and which of its keys is to blame.
struct TlsProblem {
    enum class Key { cert, key, ciphers, ca };
    Key key;
    std::string message;
};
// Loads a service's certificate and key as serving would (given by app, which has the tls
// module): nullopt when they would serve. Run at load time, so that --check and a reload
// refuse, with the key's FILE:LINE:COLUMN, a pair that does not match.
using TlsCheck = std::function<std::optional<TlsProblem>(const Tls&)>;
// The same for backend_tls: loads the CA and client pair as connecting would.
using BackendTlsCheck = std::function<std::optional<TlsProblem>(const BackendTls&)>;

struct HealthCheck {
    CheckType type = CheckType::none;  // no health_check section: backends count as UP
    // HAProxy's `check port`: the backend's IP is checked on this port instead of its own
    // (a service whose health endpoint listens beside the traffic port); 0 = its own.
    uint16_t port = 0;
    std::string path = "/";
    std::vector<int> expect_status{200};
    Duration interval = 2s;
    Duration timeout = 1s;
    unsigned rise = 2;
    unsigned fall = 3;
    // Passive detection: consecutive failed connects on live traffic (refused, reset,
    // timeout; never a local fault) that take an UP backend DOWN; 0 turns it off.
    unsigned error_limit = 1;
};

struct Backend {
    std::string name;
    net::SocketAddress address;
    unsigned weight = 1;  // 0 = takes no new traffic
    bool backup = false;
    // Requests in flight (http) or connections (tcp) at once; 0 = no limit. Beyond it a
    // request waits in the service's queue (timeouts.queue).
    uint32_t max_connections = 0;
};

// A service that answers every request itself with a redirect (HAProxy's `redirect
// scheme`): Location SCHEME://HOST[:PORT]/path?query.
struct Redirect {
    std::string scheme = "https";  // http | https
    uint16_t port = 443;           // left out of Location when it is the scheme's default
    int code = 302;                // 301, 302, 303, 307, 308
};

// Where the health checks of a backend at `backend` connect: that address, or its IP
// with health_check.port.
net::SocketAddress check_address(const HealthCheck& check, const net::SocketAddress& backend);

// Cookie persistence (HAProxy's `cookie NAME insert indirect nocache`): a response carries
// NAME=<opaque id of its backend>; a request with it goes back to that backend while it
// is UP and not drained. The cookie never reaches the backend.
struct Sticky {
    std::string cookie;
};

struct Service {
    std::string name;
    std::vector<net::SocketAddress> listen;
    Mode mode = Mode::http;
    Algorithm balance = Algorithm::roundrobin;
    unsigned retries = 2;
    Timeouts timeouts;
    std::optional<Tls> tls;
    std::optional<BackendTls> backend_tls;  // set: every backend connection speaks TLS
    HealthCheck health_check;
    std::vector<Backend> backends;  // empty for a redirect service
    // Status -> the complete response sent instead of the built-in error answer, read
    // when the file is loaded (error_pages; http/responses.hpp make_error_page).
    std::map<int, std::string> error_pages;
    std::optional<Redirect> redirect;  // set: answers every request, has no backends
    std::optional<Sticky> sticky;
};

// BFD beside a BGP session (RFC 5880/5881/5882).
struct Bfd {
    Duration min_tx = 100ms;  // Desired Min TX Interval once Up (1 s before, RFC 5880 §6.8.3)
    Duration min_rx = 100ms;  // Required Min RX Interval
    unsigned multiplier = 3;  // Detect Mult
    friend bool operator==(const Bfd&, const Bfd&) = default;
};

struct BgpPeer {
    net::IpAddress address;
    uint16_t port = 179;
    uint32_t remote_as = 0;
    std::string password;    // TCP MD5 (RFC 2385) when non-empty
    std::optional<Bfd> bfd;  // resolved: the peer's own `bfd`, else `bgp.bfd`; nullopt = off
};

struct VipRequire {
    std::vector<std::string> services;
    unsigned min_healthy_backends = 1;
};

struct Vip {
    net::IpPrefix prefix;
    std::optional<net::IpAddress> next_hop;  // nullopt = "self"
    std::optional<uint32_t> med;
    unsigned as_path_prepend = 0;
    std::vector<uint32_t> communities;  // "64512:100" as (64512 << 16) | 100
    VipRequire require;
};

struct Bgp {
    net::IpAddress router_id;  // IPv4
    uint32_t local_as = 0;
    Duration hold_time = 9s;
    bool listen = false;
    uint16_t listen_port = 179;       // extension (docs/configuration.md)
    Duration graceful_shutdown = 0s;  // extension: RFC 8326 announce time before withdraw
    Duration watchdog = 2s;       // extension: a worker loop silent this long withdraws every VIP
    Duration withdraw_wait = 1s;  // SIGTERM: keep serving this long after the withdraw
    std::optional<Bfd> bfd;       // the default of every peer; nullopt = off
    std::vector<BgpPeer> peers;
    std::vector<Vip> vips;
};

struct Config {
    std::string path;  // the file it was loaded from
    Global global;
    Admin admin;
    std::vector<Service> services;
    std::optional<Bgp> bgp;

    // nullptr when no service has that name.
    const Service* find_service(std::string_view name) const;
};

struct Error {
    std::string file;
    int line = 0;  // 1-based; 0 when no position is known
    int column = 0;
    std::string message;
    // "FILE:LINE:COLUMN: message"
    std::string to_string() const;
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // null when errors is not empty
    std::vector<Error> errors;
    bool ok() const { return errors.empty(); }
};

// `check_tls`, when given, runs on the TLS settings of every service whose files are
// readable; `check_backend_tls` likewise on its backend_tls.
LoadResult load_file(const std::string& path, const TlsCheck& check_tls = {},
                     const BackendTlsCheck& check_backend_tls = {});
// `name` stands for the file name in error messages.
LoadResult load_string(const std::string& yaml, const std::string& name,
                       const TlsCheck& check_tls = {},
                       const BackendTlsCheck& check_backend_tls = {});

// "250ms", "2s", "1m", "1h", "0"; nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
std::string to_string(Algorithm a);
std::string to_string(Mode m);
std::string to_string(CheckType t);
std::string to_string(LogLevel l);
std::string format_duration(Duration d);

}  // namespace clb::config
