// Starting another contrail-lb: the binary at the path this one was started from (read
// again from disk, so a package upgrade's new file), signals unblocked and at their
// defaults, as a fresh process would have them.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace clb::app {

// The child's pid; 0 and `error` set when it cannot start.
pid_t spawn(const std::vector<std::string>& argv, std::string& error);

// `argv` without --supervise and without any --take-over SOCKET, then --take-over `socket`.
std::vector<std::string> successor_arguments(const std::vector<std::string>& argv,
                                             const std::string& socket);

// "exited with status 1", "killed by signal 9".
std::string describe_exit(int wait_status);

}  // namespace clb::app
