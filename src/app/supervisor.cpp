#include "contrail_lb/app/supervisor.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "spawn.hpp"

namespace clb::app {

namespace {

// Before spdlog is set up (and without the log writer thread): one line per event.
void say(const std::string& line) {
    std::fprintf(stderr, "contrail-lb supervisor[%d]: %s\n", ::getpid(), line.c_str());
}

// Every process whose parent is us: children, and descendants re-parented to us.
std::vector<pid_t> children() {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (!proc) return out;
    pid_t self = ::getpid();
    while (dirent* e = ::readdir(proc)) {
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0) continue;
        std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
        std::string line;
        std::getline(stat, line);
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        int ppid = 0;
        char state = 0;
        if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
            out.push_back(pid);
    }
    ::closedir(proc);
    return out;
}

}  // namespace

int supervise(const std::vector<std::string>& argv) {
    std::string socket = "@contrail-lb-supervisor-" + std::to_string(::getpid());
    ::setenv(kUpgradeSocketVariable, socket.c_str(), 1);
    // Whatever the serving processes start themselves (a successor through the admin API)
    // becomes our child when its parent exits.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGUSR2, SIGCHLD})
        sigaddset(&handled, s);
    ::sigprocmask(SIG_BLOCK, &handled, nullptr);

    std::vector<std::string> serve_argv;
    for (const auto& a : argv)
        if (a != "--supervise") serve_argv.push_back(a);
    std::string error;
    pid_t first = spawn(serve_argv, error);
    if (!first) {
        say(error);
        return 1;
    }
    say("started pid " + std::to_string(first) + " (" + argv[0] + ")");
    int last_status = 0;
    pid_t successor = 0;  // started on SIGUSR2, not yet known to have taken over
    for (;;) {
        siginfo_t info{};
        int sig = ::sigwaitinfo(&handled, &info);
        if (sig < 0) continue;  // EINTR
        if (sig == SIGCHLD) {
            int status = 0;
            pid_t pid;
            while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == successor && status != 0)
                    say("upgrade: pid " + std::to_string(pid) + " failed: it " +
                        describe_exit(status) + "; still serving");
                else
                    say("pid " + std::to_string(pid) + " " + describe_exit(status));
                if (pid == successor) successor = 0;
                last_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (pid < 0 && errno == ECHILD) {
                say("no process left: exiting with status " + std::to_string(last_status));
                return last_status;
            }
            continue;
        }
        if (sig == SIGUSR2) {
            pid_t pid = spawn(successor_arguments(serve_argv, socket), error);
            if (pid) successor = pid;
            if (pid)
                say("SIGUSR2: started pid " + std::to_string(pid) + " to take over");
            else
                say("SIGUSR2: " + error);
            continue;
        }
        for (pid_t child : children())
            ::kill(child, sig);
    }
}

}  // namespace clb::app
