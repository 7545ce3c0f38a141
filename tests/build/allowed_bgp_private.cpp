// Must build: code inside bgp (its sources, its unit tests) sees bgp's private headers.
// Twin: forbidden_bgp_private.cpp.
#include "bgp/session.hpp"

int boundary_probe() {
    return 0;
}
