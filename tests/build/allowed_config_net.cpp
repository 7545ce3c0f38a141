// Must build: config declares net. Twin: forbidden_config_tls.cpp.
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"

int boundary_probe() {
    return 0;
}
