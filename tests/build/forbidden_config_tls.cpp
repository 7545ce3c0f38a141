// Must not build: config does not depend on tls, so neither it nor balance, runtime or bgp
// pulls OpenSSL in (the TLS files are checked by app through a hook, config::TlsCheck).
// Twin: allowed_config_net.cpp.
#include "contrail_lb/tls/tls.hpp"

int boundary_probe() {
    return 0;
}
