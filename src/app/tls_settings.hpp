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

}  // namespace clb::app
