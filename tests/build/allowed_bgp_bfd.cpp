// Must build: bgp declares bfd (and, through it, net). Twin: forbidden_bgp_http.cpp.
#include "contrail_lb/bfd/engine.hpp"
#include "contrail_lb/net/address.hpp"

int boundary_probe() {
    return 0;
}
