// services: what a service answers by itself: error pages and redirects.
#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>

#include "config/loader.hpp"
#include "contrail_lb/http/responses.hpp"

namespace clb::config::detail {

namespace {

// The proxy's own answers that a page may replace (HAProxy's errorfile takes the same).
constexpr std::array<int, 8> kPageStatuses{400, 403, 408, 431, 500, 502, 503, 504};
constexpr std::array<int, 5> kRedirectCodes{301, 302, 303, 307, 308};

std::optional<int> status_code(std::string_view text) {
    int code = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return code;
}

}  // namespace

std::map<int, std::string> Loader::load_error_pages(const YAML::Node& node,
                                                    const std::string& path) {
    std::map<int, std::string> pages;
    if (!node.IsMap()) {
        diag_.error(node, path +
                              ": expected a mapping of status codes to files, e.g. {503: "
                              "/etc/contrail-lb/errors/503.http}, got " +
                              describe(node));
        return pages;
    }
    for (const auto& entry : node) {
        const YAML::Node& key = entry.first;
        std::string at = child_path(path, key.Scalar());
        auto code = key.IsScalar() ? status_code(key.Scalar()) : std::nullopt;
        if (!code ||
            std::find(kPageStatuses.begin(), kPageStatuses.end(), *code) == kPageStatuses.end()) {
            diag_.error(key, path + ": " + in_quotes(key.Scalar()) +
                                 " is not an answer of the proxy: use 400, 403, 408, 431, 500, "
                                 "502, 503 or 504");
            continue;
        }
        if (pages.contains(*code)) {
            diag_.error(key, at + ": a second page for " + key.Scalar());
            continue;
        }
        if (auto page = load_error_page(entry.second, at)) pages.emplace(*code, std::move(*page));
    }
    return pages;
}

// Read now, at load: the request path never touches the disk, and --check or a reload
// refuses a page that would not serve.
std::optional<std::string> Loader::load_error_page(const YAML::Node& node,
                                                   const std::string& path) {
    auto file = readable_file(node, path);
    if (!file) return std::nullopt;
    std::string text;
    if (auto failure = read_file(*file, text, http::kMaxErrorPageBytes)) {
        diag_.error(node, path + ": " + in_quotes(*file) + ": " + *failure);
        return std::nullopt;
    }
    if (text.size() > http::kMaxErrorPageBytes) {
        diag_.error(node, path + ": " + in_quotes(*file) + " is larger than 16 KiB (" +
                              std::to_string(http::kMaxErrorPageBytes) +
                              " bytes): an error page is sent from memory in one piece");
        return std::nullopt;
    }
    std::string why;
    auto page = http::make_error_page(text, why);
    if (!page) diag_.error(node, path + ": " + in_quotes(*file) + ": " + why);
    return page;
}

std::optional<Redirect> Loader::load_redirect(const YAML::Node& node, const std::string& path) {
    Section section(diag_, node, path, {"scheme", "port", "code"});
    if (!section.valid()) return std::nullopt;
    Redirect redirect;
    if (auto value = section.require_value("scheme")) {
        auto scheme = scalars_.choice<std::string_view>(*value, section.path_of("scheme"),
                                                        {{"http", "http"}, {"https", "https"}});
        if (scheme) redirect.scheme = *scheme;
    }
    redirect.port = redirect.scheme == "http" ? 80 : 443;  // the scheme's default
    section.read("port", redirect.port, integer_in<uint16_t>(scalars_, 1, 65535));
    section.read("code", redirect.code, [&](const YAML::Node& value, const std::string& at) {
        auto code = scalars_.integer(value, at, 100, 599);
        if (code && std::find(kRedirectCodes.begin(), kRedirectCodes.end(), *code) ==
                        kRedirectCodes.end()) {
            diag_.error(value, at + ": " + std::to_string(*code) +
                                   " is not a redirect: use 301, 302, 303, 307 or 308");
            return std::optional<int>();
        }
        return code ? std::optional<int>(static_cast<int>(*code)) : std::nullopt;
    });
    return redirect;
}

}  // namespace clb::config::detail
