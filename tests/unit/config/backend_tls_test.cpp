// services[].backend_tls: verify defaults to required, ca required unless verify: none,
// files readable, cert and key together, the BackendTlsCheck blamed at its key.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace clb::config {
namespace {

using test::errors_of;
using test::load_ok;

std::string service_with(const std::string& backend_tls) {
    return "services:\n"
           "  - name: api\n"
           "    listen: 127.0.0.1:8080\n"
           "    backend_tls: " +
           backend_tls +
           "\n"
           "    backends:\n"
           "      - {name: b1, address: \"127.0.0.1:9001\"}\n";
}

TEST(BackendTlsSection, VerifyNoneNeedsNoCa) {
    auto config = load_ok(service_with("{verify: none, sni: backend.test}"));
    ASSERT_TRUE(config->services[0].backend_tls);
    EXPECT_EQ(config->services[0].backend_tls->verify, TlsVerify::none);
    EXPECT_EQ(config->services[0].backend_tls->sni, "backend.test");
}

TEST(BackendTlsSection, AMissingCaIsAnErrorUnlessVerifyNoneIsWritten) {
    EXPECT_EQ(errors_of(service_with("{sni: backend.test}")),
              std::vector<std::string>{
                  "t.yaml:4:18: services[0].backend_tls: \"ca\" is required to verify the "
                  "backends' certificates (or write \"verify: none\" to not verify them)"});
    EXPECT_EQ(errors_of(service_with("{verify: required}")).size(), 1u);
}

TEST(BackendTlsSection, FilesMustBeReadableAndCertGoesWithKey) {
    auto errors = errors_of(service_with("{ca: /nonexistent/ca.pem}"));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("t.yaml:4:23: services[0].backend_tls.ca: cannot read", 0), 0u)
        << errors[0];
    errors = errors_of(service_with("{verify: none, cert: /etc/hostname}"));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("backend_tls.cert: needs \"key\" beside it"), std::string::npos)
        << errors[0];
}

TEST(BackendTlsSection, TheCheckIsBlamedAtItsKey) {
    BackendTlsCheck check = [](const BackendTls&) -> std::optional<TlsProblem> {
        return TlsProblem{TlsProblem::Key::ca, "tls: cannot load CA file"};
    };
    auto result = load_string(service_with("{ca: /etc/hostname}"), "t.yaml", {}, check);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].to_string().substr(result.errors[0].to_string().find("t.yaml")),
              "t.yaml:4:23: services[0].backend_tls.ca: tls: cannot load CA file");
}

TEST(BackendTlsSection, UnknownVerifyValueIsRefused) {
    auto errors = errors_of(service_with("{verify: maybe}"));
    bool blamed = false;
    for (const auto& e : errors)
        blamed |= e.find("backend_tls.verify") != std::string::npos;
    EXPECT_TRUE(blamed);
}

}  // namespace
}  // namespace clb::config
