// app::load_config: the configuration as --check, the start and a reload load it, with
// the TLS files of every service loaded by the tls module (config only reads their
// names). Errors keep the config key's FILE:LINE:COLUMN.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "contrail_lb/app/app.hpp"

namespace clb::app {
namespace {

class LoadConfig : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "clb-app-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void make_pair(const std::string& name) {
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
            "-nodes -days 1 -subj /CN=test -keyout " +
            path(name + ".key") + " -out " + path(name + ".pem") + " 2>/dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    config::LoadResult load(const std::string& text) {
        std::ofstream(dir_ / "t.yaml") << text;
        return load_config(path("t.yaml"));
    }
    std::vector<std::string> errors(const std::string& text) {
        std::vector<std::string> out;
        for (const auto& e : load(text).errors)
            out.push_back(e.to_string().substr(e.to_string().find("t.yaml")));
        return out;
    }

    std::filesystem::path dir_;
};

constexpr char kTlsService[] = R"(services:
  - name: api
    listen: "127.0.0.1:8443"
    tls: { cert: one.pem, key: KEY, ciphers: CIPHERS }
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)";

std::string tls_service(const std::string& key, const std::string& ciphers = "HIGH") {
    std::string text = kTlsService;
    text.replace(text.find("KEY"), 3, key);
    text.replace(text.find("CIPHERS"), 7, ciphers);
    return text;
}

TEST_F(LoadConfig, KeyMustMatchItsCertificate) {
    make_pair("one");
    make_pair("two");
    EXPECT_TRUE(load(tls_service("one.key")).ok());
    auto errors = this->errors(tls_service("two.key"));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:4:32: services[0].tls.key: tls: key ", 0), 0u) << errors[0];
    EXPECT_NE(errors[0].find("does not match certificate"), std::string::npos) << errors[0];
}

TEST_F(LoadConfig, CipherListMustSelectSomething) {
    make_pair("one");
    auto errors = this->errors(tls_service("one.key", "NO-SUCH-CIPHER"));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:4:50: services[0].tls.ciphers: tls: no usable cipher", 0), 0u)
        << errors[0];
}

TEST_F(LoadConfig, CertificateThatIsNoCertificateBlamesCert) {
    make_pair("one");
    std::ofstream(dir_ / "one.pem") << "not a certificate\n";
    auto errors = this->errors(tls_service("one.key"));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(
        errors[0].rfind("t.yaml:4:18: services[0].tls.cert: tls: cannot load certificate ", 0), 0u)
        << errors[0];
}

TEST_F(LoadConfig, UnreadableFilesAreConfigErrorsBeforeAnyTlsCheck) {
    auto errors = this->errors(tls_service("missing.key"));
    ASSERT_EQ(errors.size(), 2u);  // one.pem and missing.key: no TLS error on top
    EXPECT_EQ(errors[0].rfind("t.yaml:4:18: services[0].tls.cert: ", 0), 0u) << errors[0];
    EXPECT_EQ(errors[1].rfind("t.yaml:4:32: services[0].tls.key: ", 0), 0u) << errors[1];
}

TEST_F(LoadConfig, KeepsTheSettingsForTheListeners) {
    make_pair("one");
    auto loaded = load(tls_service("one.key", "ECDHE-ECDSA-AES128-GCM-SHA256"));
    ASSERT_TRUE(loaded.ok());
    const auto& tls = *loaded.config->services.at(0).tls;
    EXPECT_EQ(tls.cert_file, path("one.pem"));
    EXPECT_EQ(tls.key_file, path("one.key"));
    EXPECT_EQ(tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_F(LoadConfig, MissingFileIsOneError) {
    auto loaded = load_config(path("none.yaml"));
    EXPECT_FALSE(loaded.ok());
    ASSERT_EQ(loaded.errors.size(), 1u);
    EXPECT_EQ(loaded.errors[0].file, path("none.yaml"));
}

}  // namespace
}  // namespace clb::app
