// Entry points and the top of the document: global, admin, and the order sections load in.
#include "config/loader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "contrail_lb/net/fd.hpp"

namespace clb::config {

namespace detail {

namespace {

// A configuration is a few kilobytes; anything this large is a mistake (or an attack on the
// parser), not a configuration.
constexpr size_t kMaxInputBytes = 4 << 20;

}  // namespace

std::optional<std::string> read_file(const std::string& path, std::string& out, size_t max_bytes) {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::string("cannot open: ") + std::strerror(errno);
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n == 0) return std::nullopt;
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::string("cannot read: ") + std::strerror(errno);
        }
        out.append(buffer, static_cast<size_t>(n));
        if (out.size() > max_bytes) return std::nullopt;
    }
}

namespace {

// Counts documents through the parser's events, stopping at the second.
class DocumentCounter : public YAML::EventHandler {
  public:
    int documents = 0;
    YAML::Mark last_start;

    void OnDocumentStart(const YAML::Mark& mark) override {
        ++documents;
        last_start = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

// Where a second document starts, if the text has one. Not YAML::LoadAll: on a stray
// top-level ',', ']' or '}' yaml-cpp 0.7 produces empty documents forever without consuming
// the token, so the loop must stop by itself. Throws YAML::ParserException on a syntax error.
std::optional<YAML::Mark> second_document_start(const std::string& yaml) {
    std::istringstream stream(yaml);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents < 2) return std::nullopt;
    return counter.last_start;
}

}  // namespace

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool Loader::report_second_document(const std::string& yaml, const YAML::Mark& mark) {
    auto at = std::min(static_cast<size_t>(std::max(mark.pos, 0)), yaml.size());
    if (yaml.compare(at, 3, "---") == 0) {
        diag_.error(mark,
                    "a second YAML document starts here: the configuration is a single "
                    "document (remove the extra \"---\")");
        return true;
    }
    diag_.error(mark,
                "YAML syntax error: unexpected " + in_quotes(std::string_view(yaml).substr(at, 1)));
    return false;
}

Loader::Loader(std::string file, std::string base_dir, const TlsCheck& check_tls,
               const BackendTlsCheck& check_backend_tls)
    : diag_(std::move(file)),
      scalars_(diag_),
      base_dir_(std::move(base_dir)),
      check_tls_(check_tls),
      check_backend_tls_(check_backend_tls) {}

LoadResult Loader::load(const std::string& yaml, const std::string& name) {
    auto config = std::make_shared<Config>();
    config->path = name;
    try {
        if (yaml.size() > kMaxInputBytes) {
            diag_.error(YAML::Mark::null_mark(), "file is larger than 4 MiB: not a configuration");
        } else {
            // A stray token is reported alone; after a real second document, the first is
            // still checked so that every error shows at once.
            auto second = second_document_start(yaml);
            if (!second || report_second_document(yaml, *second)) {
                load_document(YAML::Load(yaml), *config);
            }
        }
    } catch (const YAML::ParserException& e) {
        diag_.error(e.mark, "YAML syntax error: " + e.msg);
    } catch (const std::exception& e) {
        // yaml-cpp may throw for inputs its parser accepted but its tree cannot represent.
        diag_.error(YAML::Mark::null_mark(), std::string("cannot read the YAML: ") + e.what());
    }
    LoadResult result;
    result.errors = diag_.take();
    // Reported in file order, whatever order the sections were checked in.
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const Error& x, const Error& y) {
                         return std::pair(x.line, x.column) < std::pair(y.line, y.column);
                     });
    if (result.errors.empty()) result.config = std::move(config);
    return result;
}

void Loader::load_document(const YAML::Node& root, Config& config) {
    Section top(diag_, root, "", {"global", "admin", "services", "bgp"});
    if (!top.valid()) return;
    if (auto node = top.find_section("global")) config.global = load_global(*node);
    // admin first: its listener is claimed before the services' so a clash names the service.
    if (auto node = top.find_section("admin")) config.admin = load_admin(*node);
    if (auto node = top.require_value("services")) load_services(*node, config);
    // bgp last: VIPs refer to services.
    if (auto node = top.find_section("bgp")) config.bgp = load_bgp(*node, config);
}

Global Loader::load_global(const YAML::Node& node) {
    Global global;
    Section section(diag_, node, "global",
                    {"workers", "log_level", "log_format", "access_log", "splice",
                     "max_connections", "grace", "upgrade_socket"});
    section.read("workers", global.workers,
                 [&](const YAML::Node& value, const std::string& path) -> std::optional<unsigned> {
                     if (value.IsScalar() && value.Scalar() == "auto") return 0;
                     if (value.IsScalar() && !value.Scalar().empty() &&
                         std::isdigit(static_cast<unsigned char>(value.Scalar()[0])))
                         return integer_in<unsigned>(scalars_, 1, 256)(value, path);
                     diag_.error(value, path + ": expected auto or an integer in 1..256, got " +
                                            describe(value));
                     return std::nullopt;
                 });
    section.read("log_level", global.log_level,
                 [&](const YAML::Node& value, const std::string& path) {
                     return scalars_.choice<LogLevel>(value, path,
                                                      {{"trace", LogLevel::trace},
                                                       {"debug", LogLevel::debug},
                                                       {"info", LogLevel::info},
                                                       {"warn", LogLevel::warn},
                                                       {"error", LogLevel::error}});
                 });
    section.read("log_format", global.log_format,
                 [&](const YAML::Node& value, const std::string& path) {
                     return scalars_.choice<LogFormat>(
                         value, path, {{"text", LogFormat::text}, {"json", LogFormat::json}});
                 });
    section.read("access_log", global.access_log, boolean(scalars_));
    section.read("splice", global.splice, boolean(scalars_));
    section.read("max_connections", global.max_connections,
                 integer_in<uint32_t>(scalars_, 1, 10'000'000));
    section.read("grace", global.grace, duration_at_least(scalars_, Duration::zero()));
    if (auto value = section.find_value("upgrade_socket")) {
        auto path = scalars_.string(*value, "global.upgrade_socket");
        // sockaddr_un holds 107 bytes and a NUL.
        if (path && (path->empty() || path->size() > 107))
            diag_.error(*value, "global.upgrade_socket: expected a socket path of 1..107 bytes");
        else if (path)
            global.upgrade_socket = *path;
    }
    return global;
}

Admin Loader::load_admin(const YAML::Node& node) {
    Admin admin;
    Section section(diag_, node, "admin", {"listen", "token_file", "users_file"});
    if (auto value = section.require_value("listen")) {
        admin.listen = scalars_.socket_address(*value, "admin.listen");
        if (admin.listen) claim_listener(*admin.listen, *value, "admin.listen", "admin");
    }
    if (auto value = section.find_value("token_file")) {
        auto file = readable_file(*value, "admin.token_file");
        if (file) {
            if (auto token = read_token(*file, *value)) {
                admin.token_file = *file;
                admin.token = *token;
            }
        }
    }
    if (auto value = section.find_value("users_file")) {
        auto file = readable_file(*value, "admin.users_file");
        if (file) {
            if (auto users = read_users(*file, *value)) {
                admin.users_file = *file;
                admin.users = std::move(*users);
            }
        }
    }
    return admin;
}

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return text;
}

// RFC 7617: a user-id cannot contain ':'; visible ASCII keeps log lines unambiguous.
bool valid_user_name(std::string_view name) {
    return !name.empty() && name.size() <= 256 && std::all_of(name.begin(), name.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte < 0x7f && c != ':';
    });
}

// Why `hash` is refused, without quoting it: it may be a password written in plain text.
std::string hash_problem(std::string_view hash) {
    if (!hash.starts_with('$')) return "not a crypt(3) hash (a plain-text password?)";
    size_t end = hash.find('$', 1);
    std::string scheme(hash.substr(0, end == std::string_view::npos ? 1 : end + 1));
    return "unsupported or malformed crypt(3) hash (scheme " + in_quotes(scheme) +
           "): use yescrypt $y$, SHA-512 $6$, SHA-256 $5$ or bcrypt $2b$/$2y$";
}

}  // namespace

// "user:hash" lines, '#' comments and blank lines (docs/configuration.md "admin"). Every
// bad line is reported with the users file's own line number; an unusable file is an
// error, never "no users", which would open /stats and the API.
std::optional<std::vector<AdminUser>> Loader::read_users(const std::string& file,
                                                         const YAML::Node& at) {
    std::string text;
    auto fail = [&](const std::string& where, const std::string& why) {
        diag_.error(at, "admin.users_file: " + where + ": " + why);
    };
    if (auto failure = read_file(file, text, kMaxInputBytes)) {
        fail(file, *failure);
        return std::nullopt;
    }
    if (text.size() > kMaxInputBytes) {
        fail(file, "larger than 4 MiB: not a users file");
        return std::nullopt;
    }
    std::vector<AdminUser> users;
    std::map<std::string, int, std::less<>> first_line;
    bool ok = true;
    int number = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        size_t newline = rest.find('\n');
        std::string_view line = trim(rest.substr(0, newline));
        rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
        ++number;
        if (line.empty() || line.starts_with('#')) continue;
        std::string where = file + ":" + std::to_string(number);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            fail(where, "expected \"user:crypt(3) hash\"");
            ok = false;
            continue;
        }
        std::string_view name = line.substr(0, colon);
        std::string_view hash = line.substr(colon + 1);
        if (!valid_user_name(name)) {
            fail(where, "invalid user name: use visible ASCII characters, no ':'");
            ok = false;
        } else if (!supported_password_hash(hash)) {
            fail(where, "user " + in_quotes(name) + ": " + hash_problem(hash));
            ok = false;
        } else if (auto [first, inserted] = first_line.emplace(name, number); !inserted) {
            fail(where, "duplicate user " + in_quotes(name) + " (first at line " +
                            std::to_string(first->second) + ")");
            ok = false;
        } else {
            users.push_back({std::string(name), std::string(hash)});
        }
    }
    if (ok && users.empty()) {
        fail(file, "no users: add \"user:HASH\" lines (mkpasswd -m yescrypt makes a HASH)");
        return std::nullopt;
    }
    if (!ok) return std::nullopt;
    return users;
}

// The bearer token: one line of visible ASCII (RFC 6750 b64token and more), a trailing
// newline allowed. An unusable file is an error, never "no token": that would open the API.
std::optional<std::string> Loader::read_token(const std::string& file, const YAML::Node& at) {
    constexpr size_t kMaxTokenBytes = 4096;
    std::string token;
    auto fail = [&](const std::string& why) {
        diag_.error(at, "admin.token_file: " + in_quotes(file) + ": " + why);
        return std::nullopt;
    };
    if (auto failure = read_file(file, token, kMaxInputBytes)) return fail(*failure);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    if (token.empty()) return fail("the file is empty: it must hold the token");
    if (token.size() > kMaxTokenBytes) return fail("a token longer than 4096 bytes");
    for (unsigned char c : token)
        if (c <= 0x20 || c >= 0x7f)
            return fail("the token must be one line of visible ASCII characters");
    return token;
}

}  // namespace detail

LoadResult load_string(const std::string& yaml, const std::string& name, const TlsCheck& check_tls,
                       const BackendTlsCheck& check_backend_tls) {
    try {
        return detail::Loader(name, "", check_tls, check_backend_tls).load(yaml, name);
    } catch (const std::exception& e) {
        // Out of memory or a bug: still an answer the caller can print, never an exception.
        return LoadResult{nullptr, {Error{name, 0, 0, std::string("cannot load: ") + e.what()}}};
    }
}

LoadResult load_file(const std::string& path, const TlsCheck& check_tls,
                     const BackendTlsCheck& check_backend_tls) {
    std::string text;
    if (auto failure = detail::read_file(path, text, detail::kMaxInputBytes)) {
        return LoadResult{nullptr, {Error{path, 0, 0, *failure}}};
    }
    if (text.size() > detail::kMaxInputBytes) {
        return LoadResult{nullptr,
                          {Error{path, 0, 0, "file is larger than 4 MiB: not a configuration"}}};
    }
    std::string base_dir = std::filesystem::path(path).parent_path().string();
    try {
        return detail::Loader(path, base_dir, check_tls, check_backend_tls).load(text, path);
    } catch (const std::exception& e) {
        return LoadResult{nullptr, {Error{path, 0, 0, std::string("cannot load: ") + e.what()}}};
    }
}

}  // namespace clb::config
