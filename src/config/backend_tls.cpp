// services[].backend_tls: TLS from the proxy to the backends.
#include "config/loader.hpp"

namespace clb::config::detail {

namespace {

// An SNI name is a DNS name: visible ASCII, no spaces, at most 253 bytes.
bool valid_sni(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    for (char c : name) {
        auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) return false;
    }
    return true;
}

}  // namespace

std::optional<BackendTls> Loader::load_backend_tls(const YAML::Node& node,
                                                   const std::string& path) {
    Section section(diag_, node, path, {"verify", "ca", "sni", "cert", "key"});
    if (!section.valid()) return std::nullopt;
    BackendTls tls;
    section.read("verify", tls.verify, [&](const YAML::Node& value, const std::string& p) {
        return scalars_.choice<TlsVerify>(
            value, p, {{"required", TlsVerify::required}, {"none", TlsVerify::none}});
    });
    // Verification is the default: leaving it out must be written, never an accident.
    bool files_ok = true;  // every file named is readable: worth loading
    if (auto ca = section.find_value("ca")) {
        tls.ca_file = readable_file(*ca, section.path_of("ca")).value_or("");
        files_ok = !tls.ca_file.empty();
    } else if (tls.verify == TlsVerify::required && !section.find("ca")) {
        diag_.error(node, path +
                              ": \"ca\" is required to verify the backends' certificates "
                              "(or write \"verify: none\" to not verify them)");
        files_ok = false;
    }
    section.read("sni", tls.sni, [&](const YAML::Node& value, const std::string& p) {
        auto name = scalars_.string(value, p);
        if (name && !valid_sni(*name)) {
            diag_.error(value, p + ": invalid server name " + in_quotes(*name));
            return std::optional<std::string>();
        }
        return name;
    });
    auto cert = section.find_value("cert");
    auto key = section.find_value("key");
    if (cert) tls.cert_file = readable_file(*cert, section.path_of("cert")).value_or("");
    if (key) tls.key_file = readable_file(*key, section.path_of("key")).value_or("");
    files_ok = files_ok && (!cert || !tls.cert_file.empty()) && (!key || !tls.key_file.empty());
    if (cert && !key) diag_.error(*cert, section.path_of("cert") + ": needs \"key\" beside it");
    if (key && !cert) diag_.error(*key, section.path_of("key") + ": needs \"cert\" beside it");
    if (!files_ok || (cert && !key) || (key && !cert) || !check_backend_tls_) return tls;
    // What connecting would do with these files, done now: a CA file with no certificate
    // in it fails --check, and a reload keeps the running configuration.
    if (auto problem = check_backend_tls_(tls)) {
        using Key = TlsProblem::Key;
        const char* blamed = problem->key == Key::cert ? "cert"
                             : problem->key == Key::ca ? "ca"
                                                       : "key";
        diag_.error(section.find(blamed).value_or(node),
                    section.path_of(blamed) + ": " + problem->message);
    }
    return tls;
}

}  // namespace clb::config::detail
