// Supervisor mode (PID 1 in a container, or --supervise): a small parent that keeps the
// container alive across upgrades. It starts the serving process (the same binary path and
// arguments), becomes the subreaper of everything below it, forwards SIGHUP, SIGTERM and
// SIGINT to its children, starts a successor with --take-over on SIGUSR2, and exits with
// the status of the last process to end once none is left (docs/operations.md "Upgrade").
#pragma once

#include <string>
#include <vector>

namespace clb::app {

// The environment variable that gives the serving process the supervisor's internal
// upgrade socket (an abstract Unix socket name).
inline constexpr const char* kUpgradeSocketVariable = "CLB_UPGRADE_SOCKET";

// Runs the supervisor; `argv` is the command line without --supervise. Returns the exit
// status for the supervisor itself.
int supervise(const std::vector<std::string>& argv);

}  // namespace clb::app
