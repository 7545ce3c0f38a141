// Must not build: another module's private headers (src/proxy/) are nobody else's, even
// spelled the way the proxy's own tests spell them. Twin: allowed_bgp_private.cpp.
#include "proxy/io.hpp"

int boundary_probe() {
    return 0;
}
