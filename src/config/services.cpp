// services: listeners, timeouts, TLS, health checks and backends.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "config/loader.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::config::detail {

namespace {

bool is_wildcard(const net::IpAddress& ip) {
    return std::all_of(ip.bytes(), ip.bytes() + ip.size(), [](uint8_t b) { return b == 0; });
}

// Two listeners clash when the kernel would refuse the second bind: the same address and
// port, or the same port with a wildcard of the same family on either side.
bool clash(const net::SocketAddress& a, const net::SocketAddress& b) {
    if (a.port() != b.port() || a.family() != b.family()) return false;
    return a.ip() == b.ip() || is_wildcard(a.ip()) || is_wildcard(b.ip());
}

// The request line is built from the path: a space or a control byte would let the
// configuration inject into it.
bool valid_request_path(std::string_view path) {
    if (path.empty() || path.front() != '/') return false;
    return std::none_of(path.begin(), path.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
    });
}

}  // namespace

void Loader::load_services(const YAML::Node& node, Config& config) {
    if (!scalars_.is_sequence(node, "services", "services")) return;
    if (node.size() == 0) {
        diag_.error(node, "services: at least one service is required");
        return;
    }
    size_t index = 0;
    for (const auto& item : node) {
        config.services.push_back(load_service(item, item_path("services", index++)));
    }
}

Service Loader::load_service(const YAML::Node& node, const std::string& path) {
    Service service;
    Section section(
        diag_, node, path,
        {"name", "listen", "mode", "balance", "retries", "timeouts", "tls", "backend_tls",
         "health_check", "backends", "error_pages", "redirect", "sticky"});
    if (!section.valid()) return service;

    if (auto value = section.require_value("name")) {
        if (auto name = load_service_name(*value, section.path_of("name"))) service.name = *name;
    }
    // Clashing listeners are reported as "already used by service X".
    std::string owner = service.name.empty() ? path : "service \"" + service.name + "\"";
    if (auto value = section.require_value("listen")) {
        service.listen = load_listen(*value, section.path_of("listen"), owner);
    }
    section.read("mode", service.mode, [&](const YAML::Node& value, const std::string& at) {
        return scalars_.choice<Mode>(value, at, {{"http", Mode::http}, {"tcp", Mode::tcp}});
    });
    section.read("balance", service.balance, [&](const YAML::Node& value, const std::string& at) {
        return scalars_.choice<Algorithm>(value, at,
                                          {{"roundrobin", Algorithm::roundrobin},
                                           {"leastconn", Algorithm::leastconn},
                                           {"random2", Algorithm::random2},
                                           {"source", Algorithm::source},
                                           {"maglev", Algorithm::maglev}});
    });
    section.read("retries", service.retries, integer_in<unsigned>(scalars_, 0, 10));
    if (auto value = section.find_section("timeouts")) {
        service.timeouts = load_timeouts(*value, section.path_of("timeouts"));
    }
    if (auto value = section.find_section("tls")) {
        if (service.mode == Mode::tcp)
            diag_.error(*value, section.path_of("tls") +
                                    ": TLS termination is supported in mode http only");
        else
            service.tls = load_tls(*value, section.path_of("tls"));
    }
    if (auto value = section.find_section("error_pages")) {
        if (service.mode == Mode::tcp)
            diag_.error(*value, section.path_of("error_pages") +
                                    ": error pages are HTTP responses: mode http only");
        else
            service.error_pages = load_error_pages(*value, section.path_of("error_pages"));
    }
    if (auto value = section.find_section("redirect")) {
        if (service.mode == Mode::tcp)
            diag_.error(*value, section.path_of("redirect") +
                                    ": a redirect answers HTTP requests: mode http only");
        else
            service.redirect = load_redirect(*value, section.path_of("redirect"));
        refuse_backend_keys(section);
        return service;
    }
    if (auto value = section.find_section("sticky")) {
        if (service.mode == Mode::tcp)
            diag_.error(*value, section.path_of("sticky") +
                                    ": cookie persistence needs HTTP: mode http only");
        else
            service.sticky = load_sticky(*value, section.path_of("sticky"));
    }
    if (auto value = section.find_section("backend_tls")) {
        service.backend_tls = load_backend_tls(*value, section.path_of("backend_tls"));
    }
    if (auto value = section.find_section("health_check")) {
        service.health_check = load_health_check(*value, section.path_of("health_check"));
    }
    if (auto value = section.require_value("backends")) {
        service.backends = load_backends(*value, section.path_of("backends"));
    }
    return service;
}

std::optional<Sticky> Loader::load_sticky(const YAML::Node& node, const std::string& path) {
    Section section(diag_, node, path, {"cookie"});
    if (!section.valid()) return std::nullopt;
    auto value = section.require_value("cookie");
    if (!value) return std::nullopt;
    auto name = scalars_.string(*value, section.path_of("cookie"));
    if (!name) return std::nullopt;
    // A cookie-name is an RFC 9110 token (RFC 6265 §4.1.1).
    static constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
    bool token = !name->empty() && std::all_of(name->begin(), name->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               kTokenPunctuation.find(c) != std::string_view::npos;
    });
    if (!token) {
        diag_.error(*value, section.path_of("cookie") + ": " + in_quotes(*name) +
                                " is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)");
        return std::nullopt;
    }
    return Sticky{*name};
}

// A redirect service answers every request itself: keys about backends would be ignored,
// and an operator who wrote them expects them to matter.
void Loader::refuse_backend_keys(const Section& section) {
    for (std::string_view key : {"balance", "retries", "backend_tls", "health_check", "backends"}) {
        if (auto value = section.find(key))
            diag_.error(*value, section.path_of(key) +
                                    ": a redirect service has no backends (redirect answers "
                                    "every request): remove it");
    }
}

std::optional<std::string> Loader::load_service_name(const YAML::Node& node,
                                                     const std::string& path) {
    auto name = scalars_.string(node, path);
    if (!name) return std::nullopt;
    if (!valid_name(*name)) {
        diag_.error(node, path + ": invalid service name " + in_quotes(*name) +
                              ": use letters, digits, '.', '_' and '-'");
        return std::nullopt;
    }
    auto [first, inserted] = service_names_.emplace(*name, node.Mark());
    if (!inserted) {
        diag_.error(node, path + ": duplicate service name \"" + *name + "\" (first at " +
                              position(first->second) + ")");
        return std::nullopt;
    }
    return name;
}

std::vector<net::SocketAddress> Loader::load_listen(const YAML::Node& node, const std::string& path,
                                                    const std::string& owner) {
    std::vector<net::SocketAddress> addresses;
    // A single address may be written without the list brackets.
    if (node.IsScalar()) {
        if (auto address = scalars_.socket_address(node, path)) {
            claim_listener(*address, node, path, owner);
            addresses.push_back(*address);
        }
        return addresses;
    }
    if (!scalars_.is_sequence(node, path, "addresses")) return addresses;
    if (node.size() == 0) {
        diag_.error(node, path + ": at least one address is required");
        return addresses;
    }
    size_t index = 0;
    for (const auto& item : node) {
        std::string item_at = item_path(path, index++);
        if (auto address = scalars_.socket_address(item, item_at)) {
            claim_listener(*address, item, item_at, owner);
            addresses.push_back(*address);
        }
    }
    return addresses;
}

void Loader::claim_listener(const net::SocketAddress& address, const YAML::Node& at,
                            const std::string& path, const std::string& owner) {
    for (const auto& listener : listeners_) {
        if (clash(address, listener.address)) {
            diag_.error(at, path + ": " + address.to_string() + " is already used by " +
                                listener.owner + " (" + listener.address.to_string() + " at " +
                                position(listener.mark) + ")");
            return;
        }
    }
    listeners_.push_back({address, at.Mark(), owner});
}

Timeouts Loader::load_timeouts(const YAML::Node& node, const std::string& path) {
    Timeouts timeouts;
    Section section(diag_, node, path,
                    {"connect", "client", "server", "http_request", "keep_alive", "queue"});
    auto positive = duration_at_least(scalars_, Duration(1));
    auto zero_means_none = duration_at_least(scalars_, Duration::zero());
    section.read("connect", timeouts.connect, positive);
    section.read("client", timeouts.client, zero_means_none);
    section.read("server", timeouts.server, zero_means_none);
    section.read("http_request", timeouts.http_request, positive);
    section.read("keep_alive", timeouts.keep_alive, positive);
    section.read("queue", timeouts.queue, positive);
    return timeouts;
}

std::optional<Tls> Loader::load_tls(const YAML::Node& node, const std::string& path) {
    Section section(
        diag_, node, path,
        {"cert", "key", "ciphers", "min_version", "session_tickets", "session_timeout", "ktls"});
    if (!section.valid()) return std::nullopt;
    Tls tls;
    auto cert = section.require_value("cert");
    auto key = section.require_value("key");
    if (cert) tls.cert_file = readable_file(*cert, section.path_of("cert")).value_or("");
    if (key) tls.key_file = readable_file(*key, section.path_of("key")).value_or("");
    section.read("ciphers", tls.ciphers, [&](const YAML::Node& value, const std::string& p) {
        auto list = scalars_.string(value, p);
        if (list && list->empty()) {
            diag_.error(value, p + ": empty cipher list");
            return std::optional<std::string>();
        }
        return list;
    });
    section.read("min_version", tls.min_version,
                 [&](const YAML::Node& value, const std::string& p) {
                     return scalars_.choice<TlsVersion>(
                         value, p, {{"1.2", TlsVersion::tls1_2}, {"1.3", TlsVersion::tls1_3}});
                 });
    section.read("session_tickets", tls.session_tickets, boolean(scalars_));
    section.read("session_timeout", tls.session_timeout,
                 duration_at_least(scalars_, std::chrono::seconds(1)));
    section.read("ktls", tls.ktls, [&](const YAML::Node& value, const std::string& p) {
        return scalars_.choice<TlsKtls>(
            value, p, {{"off", TlsKtls::off}, {"on", TlsKtls::on}, {"auto", TlsKtls::auto_}});
    });
    if (tls.cert_file.empty() || tls.key_file.empty() || !check_tls_) return tls;
    // What a reload or the start would do with these files, done now: a key that does not
    // match its certificate fails --check, and a reload keeps the running certificate.
    if (auto problem = check_tls_(tls)) {
        using Key = TlsProblem::Key;
        const char* blamed = problem->key == Key::cert      ? "cert"
                             : problem->key == Key::ciphers ? "ciphers"
                                                            : "key";
        diag_.error(section.find(blamed).value_or(node),
                    section.path_of(blamed) + ": " + problem->message);
    }
    return tls;
}

// Checked at load time so that a missing certificate fails --check and a reload, instead of
// failing later when the listener is already half set up.
std::optional<std::string> Loader::readable_file(const YAML::Node& node, const std::string& path) {
    auto name = scalars_.string(node, path);
    if (!name) return std::nullopt;
    if (name->empty()) {
        diag_.error(node, path + ": empty file name");
        return std::nullopt;
    }
    std::filesystem::path file(*name);
    if (file.is_relative() && !base_dir_.empty()) file = std::filesystem::path(base_dir_) / file;
    net::Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    struct stat info {};
    if (!fd || ::fstat(fd.get(), &info) != 0) {
        std::string reason = std::strerror(errno);
        diag_.error(node, path + ": cannot read " + in_quotes(file.string()) + ": " + reason);
        return std::nullopt;
    }
    if (!S_ISREG(info.st_mode)) {
        diag_.error(node, path + ": " + in_quotes(file.string()) + " is not a regular file");
        return std::nullopt;
    }
    return file.string();
}

HealthCheck Loader::load_health_check(const YAML::Node& node, const std::string& path) {
    HealthCheck check;
    Section section(diag_, node, path,
                    {"type", "port", "path", "expect_status", "interval", "timeout", "rise", "fall",
                     "error_limit"});
    if (!section.valid()) return check;
    bool type_given = false;
    if (auto value = section.require_value("type")) {
        auto type = scalars_.choice<CheckType>(
            *value, section.path_of("type"),
            {{"http", CheckType::http}, {"tcp", CheckType::tcp}, {"none", CheckType::none}});
        if (type) check.type = *type;
        type_given = type.has_value();
    }
    // A missing or invalid type is reported already; blaming port for it would mislead.
    if (type_given && check.type == CheckType::none) {
        if (auto value = section.find("port"))
            diag_.error(*value,
                        section.path_of("port") +
                            ": type none runs no checks; remove it or use type http or tcp");
    } else {
        section.read("port", check.port, integer_in<uint16_t>(scalars_, 1, 65535));
    }
    if (check.type == CheckType::tcp) {
        for (std::string_view key : {"path", "expect_status"}) {
            if (auto value = section.find(key)) {
                diag_.error(*value, section.path_of(key) +
                                        ": applies to type http only; remove it or use type: http");
            }
        }
    }
    section.read("path", check.path, [&](const YAML::Node& value, const std::string& at) {
        auto text = scalars_.string(value, at);
        if (text && !valid_request_path(*text)) {
            diag_.error(value, at + ": invalid path " + in_quotes(*text) +
                                   ": must start with '/' and contain no spaces or control "
                                   "characters");
            return std::optional<std::string>();
        }
        return text;
    });
    section.read(
        "expect_status", check.expect_status,
        [&](const YAML::Node& value, const std::string& at) -> std::optional<std::vector<int>> {
            if (!scalars_.is_sequence(value, at, "HTTP status codes, e.g. [200]"))
                return std::nullopt;
            if (value.size() == 0) {
                diag_.error(value, at + ": at least one status code is required");
                return std::nullopt;
            }
            std::vector<int> codes;
            size_t index = 0;
            for (const auto& item : value) {
                auto code = integer_in<int>(scalars_, 100, 599)(item, item_path(at, index++));
                if (!code) return std::nullopt;
                codes.push_back(*code);
            }
            return codes;
        });
    section.read("interval", check.interval, duration_at_least(scalars_, Duration(1)));
    section.read("timeout", check.timeout, duration_at_least(scalars_, Duration(1)));
    section.read("rise", check.rise, integer_in<unsigned>(scalars_, 1, 100));
    section.read("fall", check.fall, integer_in<unsigned>(scalars_, 1, 100));
    section.read("error_limit", check.error_limit, integer_in<unsigned>(scalars_, 0, 1000));
    return check;
}

std::vector<Backend> Loader::load_backends(const YAML::Node& node, const std::string& path) {
    std::vector<Backend> backends;
    if (!scalars_.is_sequence(node, path, "backends")) return backends;
    if (node.size() == 0) {
        diag_.error(node, path + ": at least one backend is required");
        return backends;
    }
    std::map<std::string, YAML::Mark> names;
    std::map<std::string, YAML::Mark> addresses;
    size_t index = 0;
    for (const auto& item : node) {
        std::string at = item_path(path, index++);
        Section section(diag_, item, at,
                        {"name", "address", "weight", "backup", "max_connections"});
        if (!section.valid()) continue;
        Backend backend;
        if (auto value = section.require_value("name")) {
            auto name = scalars_.string(*value, section.path_of("name"));
            if (name && !valid_name(*name)) {
                diag_.error(*value, section.path_of("name") + ": invalid backend name " +
                                        in_quotes(*name) +
                                        ": use letters, digits, '.', '_' and '-'");
            } else if (name) {
                auto [first, inserted] = names.emplace(*name, value->Mark());
                if (!inserted) {
                    diag_.error(*value, section.path_of("name") + ": duplicate backend name \"" +
                                            *name + "\" in " + path + " (first at " +
                                            position(first->second) + ")");
                }
                backend.name = *name;
            }
        }
        if (auto value = section.require_value("address")) {
            auto address = scalars_.socket_address(*value, section.path_of("address"));
            if (address && is_wildcard(address->ip())) {
                diag_.error(*value,
                            section.path_of("address") + ": " + address->to_string() +
                                " is a wildcard; a backend needs the address to connect to");
            } else if (address) {
                auto [first, inserted] = addresses.emplace(address->to_string(), value->Mark());
                if (!inserted) {
                    diag_.error(*value, section.path_of("address") + ": " + address->to_string() +
                                            " is already a backend of this service (at " +
                                            position(first->second) + ")");
                }
                backend.address = *address;
            }
        }
        section.read("weight", backend.weight, integer_in<unsigned>(scalars_, 0, 256));
        section.read("backup", backend.backup, boolean(scalars_));
        section.read("max_connections", backend.max_connections,
                     integer_in<uint32_t>(scalars_, 0, 1'000'000));
        backends.push_back(std::move(backend));
    }
    bool all_backup =
        !backends.empty() && backends.size() == node.size() &&
        std::all_of(backends.begin(), backends.end(), [](const Backend& b) { return b.backup; });
    if (all_backup) {
        diag_.error(node, path +
                              ": every backend is a backup; at least one must be primary "
                              "(backup: false), backups only take traffic when no primary is UP");
    }
    return backends;
}

}  // namespace clb::config::detail
