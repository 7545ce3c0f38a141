// error_pages and redirect: what a service answers by itself.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config_test_util.hpp"

namespace clb::config::test {
namespace {

using Errors = std::vector<std::string>;

// A directory of page files, removed at the end of the test.
class Pages {
  public:
    Pages()
        : dir_(std::filesystem::temp_directory_path() /
               ("clb-pages-" + std::to_string(::getpid()) + "-" + std::to_string(++count_))) {
        std::filesystem::create_directories(dir_);
    }
    ~Pages() { std::filesystem::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& content) const {
        auto path = dir_ / name;
        std::ofstream(path, std::ios::binary) << content;
        return path.string();
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

  private:
    static inline int count_ = 0;
    std::filesystem::path dir_;
};

std::string with_pages(const std::string& pages) {
    return R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
    error_pages: )" +
           pages + "\n";
}

TEST(ErrorPages, LoadedIntoMemoryAsTheResponseToSend) {
    Pages pages;
    auto file = pages.write("503.http", "HTTP/1.1 503 Service Unavailable\nX-Page: yes\n\ndown\n");
    auto config = load_ok(with_pages("{503: " + file + "}"));
    ASSERT_TRUE(config);
    const auto& loaded = config->services[0].error_pages;
    ASSERT_EQ(loaded.size(), 1u);
    EXPECT_EQ(loaded.at(503),
              "HTTP/1.1 503 Service Unavailable\r\nX-Page: yes\r\nContent-Length: 5\r\n"
              "Connection: close\r\n\r\ndown\n");
}

TEST(ErrorPages, EveryCodeOfTheProxysOwnAnswersIsAccepted) {
    Pages pages;
    auto file = pages.write("p.http", "HTTP/1.1 500 Oops\r\n\r\n");
    std::string map = "{";
    for (int code : {400, 403, 408, 431, 500, 502, 503, 504})
        map += std::to_string(code) + ": " + file + ", ";
    map += "}";
    auto config = load_ok(with_pages(map));
    ASSERT_TRUE(config);
    EXPECT_EQ(config->services[0].error_pages.size(), 8u);
}

TEST(ErrorPages, BadFilesAreReportedAtTheirEntry) {
    Pages pages;
    std::string missing = pages.path("missing.http");
    std::string big =
        pages.write("big.http", "HTTP/1.1 503 Down\r\n\r\n" + std::string(20000, 'x'));
    std::string html = pages.write("page.html", "<html>down</html>\n");
    EXPECT_EQ(errors_of(with_pages("\n      503: " + missing + "\n      502: " + big +
                                   "\n      504: " + html)),
              (Errors{"t.yaml:7:12: services[0].error_pages.503: cannot read \"" + missing +
                          "\": No such file or directory",
                      "t.yaml:8:12: services[0].error_pages.502: \"" + big +
                          "\" is larger than 16 KiB (16384 bytes): an error page is sent from "
                          "memory in one piece",
                      "t.yaml:9:12: services[0].error_pages.504: \"" + html +
                          "\": not an HTTP response: no empty line after the headers"}));
}

TEST(ErrorPages, OnlyTheProxysOwnAnswersAndHttpMode) {
    Pages pages;
    auto file = pages.write("p.http", "HTTP/1.1 404 Not Found\r\n\r\n");
    EXPECT_EQ(errors_of(with_pages("{404: " + file + "}")),
              Errors{"t.yaml:6:19: services[0].error_pages: \"404\" is not an answer of the "
                     "proxy: use 400, 403, 408, 431, 500, 502, 503 or 504"});
    EXPECT_EQ(errors_of(with_pages("[" + file + "]")),
              Errors{"t.yaml:6:18: services[0].error_pages: expected a mapping of status codes "
                     "to files, e.g. {503: /etc/contrail-lb/errors/503.http}, got a list"});
    EXPECT_EQ(errors_of(R"(
services:
  - name: db
    listen: "127.0.0.1:8082"
    mode: tcp
    error_pages: {503: /nonexistent}
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              Errors{"t.yaml:5:18: services[0].error_pages: error pages are HTTP responses: mode "
                     "http only"});
}

constexpr std::string_view kRedirect = R"(
services:
  - name: webui-http
    listen: "0.0.0.0:8080"
    redirect: {scheme: https, port: 8143, code: 301}
)";

TEST(Redirect, ServiceWithoutBackends) {
    auto config = load_ok(kRedirect);
    ASSERT_TRUE(config);
    const auto& service = config->services[0];
    ASSERT_TRUE(service.redirect);
    EXPECT_EQ(service.redirect->scheme, "https");
    EXPECT_EQ(service.redirect->port, 8143);
    EXPECT_EQ(service.redirect->code, 301);
    EXPECT_TRUE(service.backends.empty());
}

TEST(Redirect, DefaultsAreTheSchemesPortAnd302) {
    auto config = load_ok(R"(
services:
  - { name: a, listen: "127.0.0.1:80", redirect: {scheme: https} }
  - { name: b, listen: "127.0.0.1:81", redirect: {scheme: http} }
)");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->services[0].redirect->port, 443);
    EXPECT_EQ(config->services[0].redirect->code, 302);
    EXPECT_EQ(config->services[1].redirect->port, 80);
}

TEST(Redirect, BackendKeysAreErrors) {
    EXPECT_EQ(errors_of(std::string(kRedirect) + R"(    balance: leastconn
    health_check: {type: tcp}
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)"),
              (Errors{"t.yaml:5:14: services[0].balance: a redirect service has no backends "
                      "(redirect answers every request): remove it",
                      "t.yaml:6:19: services[0].health_check: a redirect service has no backends "
                      "(redirect answers every request): remove it",
                      "t.yaml:8:7: services[0].backends: a redirect service has no backends "
                      "(redirect answers every request): remove it"}));
}

TEST(Redirect, BadValues) {
    EXPECT_EQ(errors_of(R"(
services:
  - name: ui
    listen: "127.0.0.1:8080"
    redirect: {scheme: ftp, port: 0, code: 305}
)"),
              (Errors{"t.yaml:4:24: services[0].redirect.scheme: unknown value \"ftp\": use "
                      "http or https (did you mean \"http\"?)",
                      "t.yaml:4:35: services[0].redirect.port: 0 is out of range 1..65535",
                      "t.yaml:4:44: services[0].redirect.code: 305 is not a redirect: use 301, "
                      "302, 303, 307 or 308"}));
    EXPECT_EQ(errors_of(R"(
services:
  - name: ui
    listen: "127.0.0.1:8080"
    mode: tcp
    redirect: {port: 1}
)"),
              (Errors{"t.yaml:5:15: services[0].redirect: a redirect answers HTTP requests: mode "
                      "http only"}));
}

}  // namespace
}  // namespace clb::config::test
