#include "spawn.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "contrail_lb/net/socket.hpp"

extern char** environ;

namespace clb::app {

pid_t spawn(const std::vector<std::string>& argv, std::string& error) {
    if (argv.empty()) {
        error = "no program to start";
        return 0;
    }
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE})
        sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    // A bare name (found on PATH at the start) is looked up on PATH again.
    bool search = argv[0].find('/') == std::string::npos;
    int rc = search ? posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), environ)
                    : posix_spawn(&pid, args[0], nullptr, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        error = "cannot start " + argv[0] + ": " + net::error_text(rc);
        return 0;
    }
    return pid;
}

std::vector<std::string> successor_arguments(const std::vector<std::string>& argv,
                                             const std::string& socket) {
    std::vector<std::string> out;
    for (size_t i = 0; i < argv.size(); ++i) {
        if (argv[i] == "--supervise") continue;
        if (argv[i] == "--take-over") {
            ++i;  // and its socket
            continue;
        }
        out.push_back(argv[i]);
    }
    out.push_back("--take-over");
    out.push_back(socket);
    return out;
}

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "stopped";
}

}  // namespace clb::app
