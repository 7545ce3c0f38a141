// For unit tests that load a configuration naming TLS files: a temporary directory, real
// certificate/key pairs made with `openssl req`, and a one-service YAML that uses them.
// Shared by the config and app tests (config only reads the names, app loads the files).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "contrail_lb/config/config.hpp"

namespace clb::test {

class TlsFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "clb-tls-files-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // NAME.pem and NAME.key, a self-signed P-256 pair.
    void make_pair(const std::string& name) {
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
            "-nodes -days 1 -subj /CN=test -keyout " +
            path(name + ".key") + " -out " + path(name + ".pem") + " 2>/dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    // Writes `text` as t.yaml; its path.
    std::string write_config(const std::string& text) {
        std::ofstream(dir_ / "t.yaml") << text;
        return path("t.yaml");
    }
    // The errors as "t.yaml:LINE:COLUMN: message".
    static std::vector<std::string> error_lines(const config::LoadResult& result) {
        std::vector<std::string> out;
        for (const auto& e : result.errors)
            out.push_back(e.to_string().substr(e.to_string().find("t.yaml")));
        return out;
    }

    // One TLS service on one.pem with KEY and CIPHERS replaced.
    static std::string tls_service(const std::string& key, const std::string& ciphers = "HIGH") {
        std::string text = kTlsService;
        text.replace(text.find("KEY"), 3, key);
        text.replace(text.find("CIPHERS"), 7, ciphers);
        return text;
    }
    // The same without ciphers: the tls module's default applies.
    static std::string tls_service_without_ciphers(const std::string& key) {
        std::string text = kTlsService;
        text.replace(text.find(", ciphers: CIPHERS"), 18, "");
        return text.replace(text.find("KEY"), 3, key);
    }

    std::filesystem::path dir_;

  private:
    static constexpr char kTlsService[] = R"(services:
  - name: api
    listen: "127.0.0.1:8443"
    tls: { cert: one.pem, key: KEY, ciphers: CIPHERS }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)";
};

}  // namespace clb::test
