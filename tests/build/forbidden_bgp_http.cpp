// Must not build: bgp does not depend on http (docs/architecture.md), so the http
// module's headers are not on its include path. Twin: allowed_bgp_bfd.cpp.
#include "contrail_lb/http/parser.hpp"

int boundary_probe() {
    return 0;
}
