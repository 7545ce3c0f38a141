// Builds a Config from a YAML tree, section by section, collecting every error with its
// position instead of stopping at the first. Cross-section rules (a listener used twice, a
// VIP requiring an unknown service) are checked with the positions remembered on the way.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_reader.hpp"
#include "contrail_lb/config/config.hpp"

namespace clb::config::detail {

class Loader {
  public:
    // `base_dir` anchors relative paths in the file (TLS certificates); empty = the cwd.
    // `check_tls` and `check_backend_tls` (either may be empty) must outlive the Loader.
    Loader(std::string file, std::string base_dir, const TlsCheck& check_tls,
           const BackendTlsCheck& check_backend_tls);

    // `name` becomes Config::path.
    LoadResult load(const std::string& yaml, const std::string& name);

  private:
    // A listening address and who holds it, to report the second user of an address.
    struct Listener {
        net::SocketAddress address;
        YAML::Mark mark;
        std::string owner;
    };

    // True when it is a real document ("---"), false for a stray token yaml-cpp skipped.
    bool report_second_document(const std::string& yaml, const YAML::Mark& mark);
    void load_document(const YAML::Node& root, Config& config);
    Global load_global(const YAML::Node& node);
    Admin load_admin(const YAML::Node& node);
    std::optional<std::string> read_token(const std::string& file, const YAML::Node& at);
    std::optional<std::vector<AdminUser>> read_users(const std::string& file, const YAML::Node& at);

    // services.cpp
    void load_services(const YAML::Node& node, Config& config);
    Service load_service(const YAML::Node& node, const std::string& path);
    std::optional<std::string> load_service_name(const YAML::Node& node, const std::string& path);
    std::vector<net::SocketAddress> load_listen(const YAML::Node& node, const std::string& path,
                                                const std::string& owner);
    Timeouts load_timeouts(const YAML::Node& node, const std::string& path);
    std::optional<Tls> load_tls(const YAML::Node& node, const std::string& path);
    std::optional<BackendTls> load_backend_tls(const YAML::Node& node, const std::string& path);
    std::optional<std::string> readable_file(const YAML::Node& node, const std::string& path);
    HealthCheck load_health_check(const YAML::Node& node, const std::string& path);
    std::vector<Backend> load_backends(const YAML::Node& node, const std::string& path);
    void claim_listener(const net::SocketAddress& address, const YAML::Node& at,
                        const std::string& path, const std::string& owner);
    void refuse_backend_keys(const Section& section);

    // answers.cpp
    std::map<int, std::string> load_error_pages(const YAML::Node& node, const std::string& path);
    std::optional<std::string> load_error_page(const YAML::Node& node, const std::string& path);
    std::optional<Redirect> load_redirect(const YAML::Node& node, const std::string& path);
    std::optional<Sticky> load_sticky(const YAML::Node& node, const std::string& path);

    // bgp.cpp
    Bgp load_bgp(const YAML::Node& node, const Config& config);
    std::vector<BgpPeer> load_peers(const YAML::Node& node, const std::string& path,
                                    const std::optional<Bfd>& default_bfd);
    std::optional<Bfd> load_bfd(const YAML::Node& node, const std::string& path, const Bfd& base);
    std::vector<Vip> load_vips(const YAML::Node& node, const std::string& path,
                               const Config& config);
    Vip load_vip(const YAML::Node& node, const std::string& path, const Config& config);
    std::optional<net::IpPrefix> prefix(const YAML::Node& node, const std::string& path);
    std::optional<uint32_t> community(const YAML::Node& node, const std::string& path);
    VipRequire load_require(const YAML::Node& node, const std::string& path, const Config& config);

    Diagnostics diag_;
    Scalars scalars_;
    std::string base_dir_;
    const TlsCheck& check_tls_;
    const BackendTlsCheck& check_backend_tls_;
    std::vector<Listener> listeners_;
    // Every service name seen, even in a service with other errors, so that a VIP naming it
    // does not add a misleading "unknown service" on top.
    std::map<std::string, YAML::Mark, std::less<>> service_names_;
};

// Adapters from Scalars to Section::read's (node, path) -> optional<T> shape.
template <class T>
auto integer_in(const Scalars& scalars, int64_t min, int64_t max) {
    return
        [&scalars, min, max](const YAML::Node& node, const std::string& path) -> std::optional<T> {
            auto value = scalars.integer(node, path, min, max);
            if (!value) return std::nullopt;
            return static_cast<T>(*value);
        };
}

inline auto duration_at_least(const Scalars& scalars, Duration min) {
    return [&scalars, min](const YAML::Node& node, const std::string& path) {
        return scalars.duration(node, path, min);
    };
}

inline auto boolean(const Scalars& scalars) {
    return [&scalars](const YAML::Node& node, const std::string& path) {
        return scalars.boolean(node, path);
    };
}

// Reads the file into `out`, stopping past `max_bytes` (the caller checks out.size());
// why it cannot be read otherwise ("cannot open: No such file or directory").
std::optional<std::string> read_file(const std::string& path, std::string& out, size_t max_bytes);

// Service and backend names end up in URLs, metric labels and log lines.
bool valid_name(std::string_view name);

}  // namespace clb::config::detail
