#include "tls_settings.hpp"

#include <spdlog/spdlog.h>

namespace clb::app {

tls::Settings tls_settings(const config::Tls& tls) {
    tls::Settings settings;
    settings.cert_file = tls.cert_file;
    settings.key_file = tls.key_file;
    if (tls.ciphers) settings.ciphers = *tls.ciphers;
    settings.min_version =
        tls.min_version == config::TlsVersion::tls1_3 ? tls::Version::tls1_3 : tls::Version::tls1_2;
    settings.session_tickets = tls.session_tickets;
    settings.session_timeout =
        std::chrono::duration_cast<std::chrono::seconds>(tls.session_timeout);
    settings.ktls = tls.ktls == config::TlsKtls::on      ? tls::Ktls::on
                    : tls.ktls == config::TlsKtls::auto_ ? tls::Ktls::auto_
                                                         : tls::Ktls::off;
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

tls::ClientSettings client_settings(const config::BackendTls& tls) {
    tls::ClientSettings settings;
    settings.verify =
        tls.verify == config::TlsVerify::none ? tls::Verify::none : tls::Verify::required;
    settings.ca_file = tls.ca_file;
    settings.cert_file = tls.cert_file;
    settings.key_file = tls.key_file;
    settings.sni = tls.sni;
    return settings;
}

std::optional<config::TlsProblem> check_backend_tls(const config::BackendTls& tls) {
    using Part = tls::LoadError::Part;
    using Key = config::TlsProblem::Key;
    try {
        tls::ClientContext::load(client_settings(tls));
    } catch (const tls::LoadError& e) {
        Key key = e.part() == Part::ca ? Key::ca : e.part() == Part::cert ? Key::cert : Key::key;
        return config::TlsProblem{key, e.what()};
    }
    return std::nullopt;
}

tls::ClientContexts load_backend_tls(const config::Config& config,
                                     const tls::ClientContexts& previous) {
    tls::ClientContexts contexts;
    for (const auto& svc : config.services) {
        if (!svc.backend_tls) continue;
        try {
            contexts[svc.name] = tls::ClientContext::load(client_settings(*svc.backend_tls));
        } catch (const tls::LoadError& e) {
            auto old = previous.find(svc.name);
            spdlog::error("{}: backend_tls: {}{}", svc.name, e.what(),
                          old != previous.end() ? " (keeping the previous files)" : "");
            if (old != previous.end()) contexts[svc.name] = old->second;
        }
    }
    return contexts;
}

config::LoadResult load_config(const std::string& path) {
    return config::load_file(path, &check_tls, &check_backend_tls);
}

config::LoadResult load_config_text(const std::string& yaml, const std::string& name) {
    return config::load_string(yaml, name, &check_tls);
}

}  // namespace clb::app
