// contrail-lb: the command line (SPEC "Command line").
#include <malloc.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "contrail_lb/admin/probe.hpp"
#include "contrail_lb/app/app.hpp"
#include "contrail_lb/app/supervisor.hpp"
#include "contrail_lb/config/config.hpp"
#include "contrail_lb/import/env.hpp"
#include "contrail_lb/import/translate.hpp"

#ifndef CLB_VERSION
#define CLB_VERSION "0.0.0"
#endif

namespace {

constexpr char kUsage[] =
    "usage: contrail-lb -c FILE [--check | --healthcheck | --take-over SOCKET] [--supervise]\n"
    "       contrail-lb --from-env [--print | --check | --healthcheck]\n"
    "       contrail-lb --import-haproxy FILE [--import-bird FILE] [-o OUT]\n"
    "       contrail-lb --version | --help\n"
    "\n"
    "  -c, --config FILE   configuration file (YAML). When FILE does not exist and\n"
    "                      CONTROLLER_NODES is set, contrail-lb runs as with --from-env\n"
    "                      (the container image without a mounted configuration)\n"
    "      --check         validate the configuration and exit: 0 if valid, 1 with errors\n"
    "                      on stderr\n"
    "      --healthcheck   ask the contrail-lb running with this configuration for\n"
    "                      GET /healthz on its admin.listen (within 2s): exit 0 on 200,\n"
    "                      else 1 (a container probe)\n"
    "      --take-over SOCKET  start by taking the listeners, the admin listener and the\n"
    "                      backends' health of the contrail-lb that listens on SOCKET\n"
    "                      (its global.upgrade_socket): it drains and exits 0. On failure\n"
    "                      exit 1 with the reason; the running one keeps serving\n"
    "      --supervise     run as a small supervisor (automatic as PID 1): it starts the\n"
    "                      serving process and, on SIGUSR2, its successor with --take-over\n"
    "      --from-env      build the configuration from Tungsten Fabric's variables\n"
    "                      (CONTROLLER_NODES, CONFIG_NODES, CONFIG_API_PORT, ...) and\n"
    "                      CONTRAIL_LB_* ones (docs/migration.md); an error names the\n"
    "                      variable and its value\n"
    "      --print         with --from-env: print that configuration (YAML) and exit\n"
    "      --import-haproxy FILE  translate an haproxy.cfg into a contrail-lb\n"
    "                      configuration (stdout or OUT); each directive left out becomes\n"
    "                      \"# not translated: FILE:LINE: ...\" there and a line on stderr.\n"
    "                      Exit 0: all translated; 3: something left; 1: a file that\n"
    "                      cannot be parsed (FILE:LINE) or an output that fails --check\n"
    "      --import-bird FILE  with --import-haproxy: also translate a BIRD 2 bird.conf\n"
    "                      (router id, protocol bgp and bfd, exported static host routes\n"
    "                      as VIPs)\n"
    "  -o, --output OUT    with --import-haproxy: write OUT instead of stdout; the users of\n"
    "                      `stats auth` go hashed (crypt(3)) to admin.users next to OUT\n"
    "      --version       print the version and exit\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Signals: SIGHUP reloads FILE; SIGUSR2 upgrades in place (the binary at the same path\n"
    "takes over); SIGTERM/SIGINT withdraw the VIPs, drain and exit.\n";

constexpr int kExitPartial = 3;  // --import-haproxy: some directives were not translated

int usage_error(const std::string& message) {
    std::fprintf(stderr, "contrail-lb: %s\n%s", message.c_str(), kUsage);
    return 1;
}

struct Options {
    std::string path, import_haproxy, import_bird, output, take_over;
    bool check = false, probe = false, from_env = false, print = false, supervise = false;
    std::vector<std::string> argv;  // as started, argv[0] made absolute
};

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

// Reports the errors of a load; the configuration to use, or null.
std::shared_ptr<const clb::config::Config> report(const clb::config::LoadResult& loaded,
                                                  const std::string& name) {
    for (const auto& e : loaded.errors)
        std::fprintf(stderr, "%s\n", e.to_string().c_str());
    if (!loaded.ok())
        std::fprintf(stderr, "contrail-lb: %s: %zu error(s)\n", name.c_str(), loaded.errors.size());
    return loaded.config;
}

int serve(const Options& options, const clb::config::LoadResult& loaded, const std::string& name) {
    auto config = report(loaded, name);
    if (!config) return 1;
    if (options.check) {
        std::printf("%s: configuration is valid\n", name.c_str());
        return 0;
    }
    if (options.probe) return healthcheck(name, *config);
    // Connection buffers (32 KiB) come from mmap, so the memory of a burst of connections
    // goes back to the system when they close instead of staying in the malloc heap.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024);
    clb::app::setup_logging(config->global.log_level);
    return clb::app::run(config, {options.argv, options.take_over});
}

int from_env(const Options& options) {
    auto built = clb::import::config_from_env(clb::import::process_env());
    for (const auto& e : built.errors)
        std::fprintf(stderr, "contrail-lb: --from-env: %s\n", e.c_str());
    if (!built.errors.empty()) return 1;
    if (options.print) {
        std::fputs(built.yaml.c_str(), stdout);
        return 0;
    }
    return serve(options, clb::app::load_config_text(built.yaml, "--from-env"), "--from-env");
}

// A file's bytes; nullopt (reported) when it cannot be read.
std::optional<std::string> read_source(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "contrail-lb: %s: cannot open: %s\n", path.c_str(),
                     std::strerror(errno));
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    bool ok = f && ::chmod(path.c_str(), mode) == 0 &&
              std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f && std::fclose(f) != 0) ok = false;
    if (!ok)
        std::fprintf(stderr, "contrail-lb: %s: cannot write: %s\n", path.c_str(),
                     std::strerror(errno));
    return ok;
}

int import_haproxy(const Options& options) {
    clb::import::ImportInput input;
    input.haproxy_file = options.import_haproxy;
    auto haproxy = read_source(options.import_haproxy);
    if (!haproxy) return 1;
    input.haproxy_text = std::move(*haproxy);
    if (!options.import_bird.empty()) {
        auto bird = read_source(options.import_bird);
        if (!bird) return 1;
        input.bird_file = options.import_bird;
        input.bird_text = std::move(*bird);
    }
    std::filesystem::path users_path;
    if (!options.output.empty()) {
        input.users_file = "admin.users";  // relative: next to OUT, wherever OUT moves with it
        users_path = std::filesystem::path(options.output).parent_path() / input.users_file;
    }
    auto result = clb::import::translate(input);
    if (result.error) {
        std::fprintf(stderr, "%s\n", result.error->to_string().c_str());
        return 1;
    }
    for (const auto& u : result.untranslated)
        std::fprintf(stderr, "contrail-lb: not translated: %s\n", u.to_string().c_str());
    if (!result.users_file_text.empty() &&
        !write_file(users_path.string(), result.users_file_text, 0600))
        return 1;
    clb::config::LoadResult loaded;
    if (options.output.empty()) {
        std::fputs(result.yaml.c_str(), stdout);
        loaded = clb::app::load_config_text(result.yaml, "<stdout>");
    } else {
        if (!write_file(options.output, result.yaml, 0644)) return 1;
        loaded = clb::app::load_config(options.output);
    }
    for (const auto& e : loaded.errors)
        std::fprintf(stderr, "contrail-lb: the translation does not pass --check: %s\n",
                     e.to_string().c_str());
    if (!loaded.ok()) return 1;
    return result.untranslated.empty() ? 0 : kExitPartial;
}

// -1: parsed, go on; else the exit status.
int parse_arguments(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::string& into) {
            if (++i == argc) return false;
            into = argv[i];
            return true;
        };
        if (arg == "--version") {
            std::printf("contrail-lb %s\n", CLB_VERSION);
            return 0;
        }
        if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (arg == "--check")
            o.check = true;
        else if (arg == "--healthcheck")
            o.probe = true;
        else if (arg == "--from-env")
            o.from_env = true;
        else if (arg == "--print")
            o.print = true;
        else if (arg == "--supervise")
            o.supervise = true;
        else if (arg == "--take-over") {
            if (!value(o.take_over)) return usage_error(arg + " needs a socket");
        } else if (arg == "-c" || arg == "--config") {
            if (!value(o.path)) return usage_error(arg + " needs a file name");
        } else if (arg == "--import-haproxy") {
            if (!value(o.import_haproxy)) return usage_error(arg + " needs a file name");
        } else if (arg == "--import-bird") {
            if (!value(o.import_bird)) return usage_error(arg + " needs a file name");
        } else if (arg == "-o" || arg == "--output") {
            if (!value(o.output)) return usage_error(arg + " needs a file name");
        } else
            return usage_error("unknown argument \"" + arg + "\"");
    }
    return -1;
}

int validate(const Options& o) {
    bool importing = !o.import_haproxy.empty();
    if (importing && (o.from_env || !o.path.empty() || o.check || o.probe || o.print))
        return usage_error("--import-haproxy takes only --import-bird and -o");
    if (!importing && (!o.import_bird.empty() || !o.output.empty()))
        return usage_error("--import-bird and -o go with --import-haproxy");
    if (o.from_env && !o.path.empty()) return usage_error("--from-env and -c exclude each other");
    if (o.print && !o.from_env && o.path.empty())
        return usage_error("--print goes with --from-env");
    if (o.check + o.probe + o.print > 1)
        return usage_error("--check, --healthcheck and --print exclude each other");
    if (!o.take_over.empty() && (importing || o.check || o.probe || o.print))
        return usage_error("--take-over goes with -c FILE or --from-env alone");
    if (o.supervise && (importing || o.check || o.probe || o.print))
        return usage_error("--supervise goes with -c FILE or --from-env alone");
    if (!importing && !o.from_env && o.path.empty())
        return usage_error("no configuration file: use -c FILE");
    return -1;
}

// The image's entrypoint is -c /etc/contrail-lb/contrail-lb.yaml and it has no shell:
// without a mounted file, Tungsten Fabric's variables make the configuration.
bool falls_back_to_env(const std::string& path) {
    struct stat st {};
    const char* nodes = std::getenv("CONTROLLER_NODES");
    return ::stat(path.c_str(), &st) != 0 && errno == ENOENT && nodes && *nodes;
}

// An upgrade starts the binary at this path again: relative to where we started.
std::vector<std::string> absolute_argv(int argc, char** argv) {
    std::vector<std::string> out(argv, argv + argc);
    if (!out.empty() && out[0].find('/') != std::string::npos && out[0][0] != '/') {
        std::error_code ec;
        auto cwd = std::filesystem::current_path(ec);
        if (!ec) out[0] = (cwd / out[0]).lexically_normal().string();
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (int status = parse_arguments(argc, argv, options); status >= 0) return status;
    if (int status = validate(options); status >= 0) return status;
    options.argv = absolute_argv(argc, argv);
    bool serving =
        options.import_haproxy.empty() && !options.check && !options.probe && !options.print;
    // PID 1 of a container stays up across upgrades: it supervises the serving process.
    if (serving && (options.supervise || ::getpid() == 1)) return clb::app::supervise(options.argv);
    if (!options.import_haproxy.empty()) return import_haproxy(options);
    if (!options.from_env && falls_back_to_env(options.path)) {
        std::fprintf(
            stderr,
            "contrail-lb: %s does not exist and CONTROLLER_NODES is set: using --from-env\n",
            options.path.c_str());
        options.from_env = true;
    }
    if (options.from_env) return from_env(options);
    if (options.print)
        return usage_error("--print goes with --from-env (or with -c FILE, FILE absent)");
    return serve(options, clb::app::load_config(options.path), options.path);
}
