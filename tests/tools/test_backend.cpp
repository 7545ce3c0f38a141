// clb-test-backend: a small, fast HTTP/1.1 origin server (or TCP echo server) for the
// contrail-lb integration tests, the demo and the benchmarks.
//
//   clb-test-backend --listen 127.0.0.1:9101 [--listen ...] --name api1 [--threads N]
//                    [--tcp-echo]
//
// Prints "ready ADDRESS" per listener once it accepts connections (port 0 prints the
// port the kernel chose) and exits 0 on SIGTERM or SIGINT. Endpoints: see route.hpp.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "backend/connection.hpp"
#include "backend/connection_http.hpp"
#include "backend/shared.hpp"
#include "backend/socket.hpp"
#include "backend/worker.hpp"

namespace {

constexpr const char* kUsage =
    "usage: clb-test-backend --listen HOST:PORT [--listen HOST:PORT ...] [--name NAME]\n"
    "                        [--threads N] [--tcp-echo]\n";

struct Options {
    std::vector<std::string> listen;
    std::string name = "backend";
    unsigned threads = 1;
    bool tcp_echo = false;
};

bool parse_options(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--listen" && has_value) {
            options.listen.emplace_back(argv[++i]);
        } else if (arg == "--name" && has_value) {
            options.name = argv[++i];
        } else if (arg == "--threads" && has_value) {
            options.threads = static_cast<unsigned>(std::stoul(argv[++i]));
        } else if (arg == "--tcp-echo") {
            options.tcp_echo = true;
        } else {
            return false;
        }
    }
    return !options.listen.empty() && options.threads >= 1 && options.threads <= 256;
}

int run(const Options& options, const sigset_t& stop_signals) {
    clb_test::SharedState shared;
    shared.name = options.name;
    shared.hello = "hello from " + options.name + "\n";

    // Every thread gets its own listener per address; the first one resolves port 0
    // so that the others join the same port.
    std::vector<std::vector<clb_test::Fd>> listeners(options.threads);
    std::vector<std::string> ready;
    for (const auto& text : options.listen) {
        auto address = clb_test::parse_address(text);
        if (!address) {
            std::fprintf(stderr, "clb-test-backend: bad address %s\n", text.c_str());
            return 2;
        }
        for (unsigned t = 0; t < options.threads; ++t) {
            listeners[t].push_back(clb_test::make_listener(*address, options.threads > 1));
            if (t == 0) *address = clb_test::local_address(listeners[0].back().get());
        }
        ready.push_back(clb_test::format_address(*address));
    }

    const auto mode =
        options.tcp_echo ? clb_test::Connection::Mode::TcpEcho : clb_test::Connection::Mode::Http;
    std::vector<std::unique_ptr<clb_test::Worker>> workers;
    for (auto& fds : listeners)
        workers.push_back(std::make_unique<clb_test::Worker>(shared, std::move(fds), mode));
    std::vector<std::thread> threads;
    for (auto& worker : workers)
        threads.emplace_back([&worker] { worker->run(); });

    for (const auto& address : ready)
        std::printf("ready %s\n", address.c_str());
    std::fflush(stdout);

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    for (auto& worker : workers)
        worker->request_stop();
    for (auto& thread : threads)
        thread.join();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        if (!parse_options(argc, argv, options)) {
            std::fputs(kUsage, stderr);
            return 2;
        }
    } catch (const std::exception&) {  // --threads not a number
        std::fputs(kUsage, stderr);
        return 2;
    }

    // Stop signals are taken synchronously by the main thread (sigwait); the workers
    // inherit the blocked mask. A client that disconnects must not kill the process.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    try {
        return run(options, stop_signals);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "clb-test-backend: %s\n", error.what());
        return 1;
    }
}
