// contrail-lb: the command line (SPEC "Command line").
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "contrail_lb/admin/probe.hpp"
#include "contrail_lb/app/app.hpp"
#include "contrail_lb/config/config.hpp"

#ifndef CLB_VERSION
#define CLB_VERSION "0.0.0"
#endif

namespace {

constexpr char kUsage[] =
    "usage: contrail-lb -c FILE [--check | --healthcheck]\n"
    "       contrail-lb --version | --help\n"
    "\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "      --check         validate FILE and exit: 0 if valid, 1 with errors on stderr\n"
    "      --healthcheck   ask the contrail-lb running with FILE for GET /healthz on its\n"
    "                      admin.listen (within 2s): exit 0 on 200, else 1 (a container probe)\n"
    "      --version       print the version and exit\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Signals: SIGHUP reloads FILE; SIGTERM/SIGINT withdraw the VIPs, drain and exit.\n";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "contrail-lb: %s\n%s", message.c_str(), kUsage);
    return 1;
}

// The container's HEALTHCHECK: the image has no curl, so the binary asks itself.
int healthcheck(const std::string& path, const clb::config::Config& config) {
    if (!config.admin.listen) {
        std::fprintf(stderr, "contrail-lb: %s has no admin section: no /healthz to ask\n",
                     path.c_str());
        return 1;
    }
    auto result = clb::admin::probe_healthz(*config.admin.listen, std::chrono::seconds(2));
    std::fprintf(result.healthy ? stdout : stderr, "healthcheck: %s\n", result.detail.c_str());
    return result.healthy ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string path;
    bool check = false;
    bool probe = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--version") {
            std::printf("contrail-lb %s\n", CLB_VERSION);
            return 0;
        }
        if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (arg == "--check") {
            check = true;
        } else if (arg == "--healthcheck") {
            probe = true;
        } else if (arg == "-c" || arg == "--config") {
            if (++i == argc) return usage_error(arg + " needs a file name");
            path = argv[i];
        } else {
            return usage_error("unknown argument \"" + arg + "\"");
        }
    }
    if (path.empty()) return usage_error("no configuration file: use -c FILE");
    if (check && probe) return usage_error("--check and --healthcheck exclude each other");

    auto loaded = clb::app::load_config(path);
    for (const auto& e : loaded.errors)
        std::fprintf(stderr, "%s\n", e.to_string().c_str());
    if (!loaded.ok()) {
        std::fprintf(stderr, "contrail-lb: %s: %zu error(s)\n", path.c_str(), loaded.errors.size());
        return 1;
    }
    if (check) {
        std::printf("%s: configuration is valid\n", path.c_str());
        return 0;
    }
    if (probe) return healthcheck(path, *loaded.config);
    // Connection buffers (32 KiB) come from mmap, so the memory of a burst of connections
    // goes back to the system when they close instead of staying in the malloc heap.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024);
    clb::app::setup_logging(loaded.config->global.log_level);
    return clb::app::run(loaded.config);
}
