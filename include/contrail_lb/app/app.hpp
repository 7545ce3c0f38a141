// The process: the control loop (signals, reload, health checks, BGP, admin, watchdog)
// and the proxy workers, wired together.
#pragma once

#include <memory>
#include <string>

#include "contrail_lb/config/config.hpp"

namespace clb::app {

// The configuration at `path`, TLS certificates and keys loaded to check them: what
// --check, the start and a reload load.
config::LoadResult load_config(const std::string& path);
// The same for a configuration held in memory (--from-env); `name` stands for its file.
config::LoadResult load_config_text(const std::string& yaml, const std::string& name);

// Runs until SIGTERM/SIGINT; returns the process exit code. Startup errors (a listener
// that cannot be bound) are logged and return 1.
int run(std::shared_ptr<const config::Config> config);

void setup_logging(config::LogLevel level);

}  // namespace clb::app
