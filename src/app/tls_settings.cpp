#include "tls_settings.hpp"

namespace clb::app {

tls::Settings tls_settings(const config::Tls& tls) {
    tls::Settings settings;
    settings.cert_file = tls.cert_file;
    settings.key_file = tls.key_file;
    if (tls.ciphers) settings.ciphers = *tls.ciphers;
    settings.min_version =
        tls.min_version == config::TlsVersion::tls1_3 ? tls::Version::tls1_3 : tls::Version::tls1_2;
    return settings;
}

std::optional<config::TlsProblem> check_tls(const config::Tls& tls) {
    using Part = tls::LoadError::Part;
    using Key = config::TlsProblem::Key;
    try {
        tls::ServerContext::load(tls_settings(tls));
    } catch (const tls::LoadError& e) {
        // "other" (no context at all) was blamed on the key before the split; it still is.
        Key key = e.part() == Part::cert      ? Key::cert
                  : e.part() == Part::ciphers ? Key::ciphers
                                              : Key::key;
        return config::TlsProblem{key, e.what()};
    }
    return std::nullopt;
}

config::LoadResult load_config(const std::string& path) {
    return config::load_file(path, &check_tls);
}

config::LoadResult load_config_text(const std::string& yaml, const std::string& name) {
    return config::load_string(yaml, name, &check_tls);
}

}  // namespace clb::app
