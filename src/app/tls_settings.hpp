// The bridge between config, which names the TLS files, and tls, which loads them: config
// does not depend on tls (and so on OpenSSL), app depends on both.
#pragma once

#include <optional>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/tls/tls.hpp"

namespace clb::app {

// A service's TLS settings in the tls module's terms (its default cipher list when the
// configuration names none).
tls::Settings tls_settings(const config::Tls& tls);

// The config::TlsCheck of --check, the start and a reload: loads the pair as a listener
// would and blames the key, certificate or cipher list that fails.
std::optional<config::TlsProblem> check_tls(const config::Tls& tls);

// A service's backend_tls in the tls module's terms.
tls::ClientSettings client_settings(const config::BackendTls& tls);
// The config::BackendTlsCheck: loads the CA and client pair as connecting would.
std::optional<config::TlsProblem> check_backend_tls(const config::BackendTls& tls);
// The client contexts of every service with backend_tls, loaded now (start, reload): a
// changed CA applies to the connections made from here on. A file that stopped loading
// since the check keeps the service's context from `previous` (logged).
tls::ClientContexts load_backend_tls(const config::Config& config,
                                     const tls::ClientContexts& previous);

}  // namespace clb::app
