// The process: the control loop (signals, reload, health checks, BGP, admin, watchdog)
// and the proxy workers, wired together.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/config/config.hpp"

namespace clb::app {

// The configuration at `path`, TLS certificates and keys loaded to check them: what
// --check, the start and a reload load.
config::LoadResult load_config(const std::string& path);
// The same for a configuration held in memory (--from-env); `name` stands for its file.
config::LoadResult load_config_text(const std::string& yaml, const std::string& name);

struct RunOptions {
    // The command line as started: an upgrade starts argv[0] (that path, read again from
    // disk) with the same arguments plus --take-over.
    std::vector<std::string> argv;
    std::string take_over;  // --take-over SOCKET: start from the running process's state
};

// Runs until SIGTERM/SIGINT (or an upgrade hands everything to the next process);
// returns the process exit code. Startup errors (a listener that cannot be bound, a
// failed take-over) are logged and return 1.
int run(std::shared_ptr<const config::Config> config, const RunOptions& options);

void setup_logging(config::LogLevel level);

}  // namespace clb::app
