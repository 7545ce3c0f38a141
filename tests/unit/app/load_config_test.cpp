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

#include "../tls_files.hpp"
#include "contrail_lb/app/app.hpp"

namespace clb::app {
namespace {

class LoadConfig : public test::TlsFiles {
  protected:
    config::LoadResult load(const std::string& text) { return load_config(write_config(text)); }
    std::vector<std::string> errors(const std::string& text) { return error_lines(load(text)); }
};

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
