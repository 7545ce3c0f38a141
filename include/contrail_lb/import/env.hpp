// `contrail-lb --from-env`: a configuration built from Tungsten Fabric's container
// environment (CONTROLLER_NODES, CONFIG_API_PORT, ...) and CONTRAIL_LB_* variables.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace clb::import {

// name -> value, nullopt when unset (std::getenv in the binary, a map in tests).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

struct EnvResult {
    std::string yaml;                 // the configuration, when errors is empty
    std::vector<std::string> errors;  // each names the variable and its value
};

EnvResult config_from_env(const EnvLookup& env);

// The process environment.
EnvLookup process_env();

// One row per variable, for --help and docs/migration.md: name, default, meaning.
struct EnvVariable {
    const char* name;
    const char* default_value;
    const char* meaning;
};
const std::vector<EnvVariable>& env_variables();

}  // namespace clb::import
