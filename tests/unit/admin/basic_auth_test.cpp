// HTTP Basic authentication of the admin endpoints (src/admin/basic_auth.cpp, access.cpp;
// docs/admin.md "Access control").
#include <crypt.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "admin/basic_auth.hpp"
#include "admin/http.hpp"

namespace clb::admin {
namespace {

// mkpasswd -m sha512crypt 's3cret pass' (package whois).
constexpr std::string_view kSha512 =
    "$6$6.CbtpzTi1PmSHGx$TvRz3CGEro0SAGhCkazu8zmXOH.5OR7q0S3G.XtG4ceNRG7aBLV3QvOeJdecNKLd8byqT7"
    "WXj8R9n0GmOey270";

// A yescrypt hash made here with libcrypt itself, as mkpasswd -m yescrypt would.
std::string yescrypt(const std::string& password) {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    EXPECT_NE(crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt), nullptr);
    crypt_data data{};
    const char* hash = crypt_r(password.c_str(), salt, &data);
    EXPECT_TRUE(hash && hash[0] == '$');
    return hash;
}

// "Basic base64(user:password)" through the decoder's inverse, written out for the tests.
std::string basic(std::string_view user_password) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    auto byte = [&](size_t k) { return static_cast<unsigned char>(user_password[k]); };
    for (; i + 2 < user_password.size(); i += 3) {
        uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        for (int shift : {18, 12, 6, 0})
            out += kAlphabet[(n >> shift) & 63];
    }
    if (size_t rest = user_password.size() - i; rest > 0) {
        uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return "Basic " + out;
}

const net::IpAddress kClient = *net::IpAddress::parse("192.0.2.7");

class BasicAuthTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auth_.set_users({{"alice", yescrypt("wonder land")}, {"bob", std::string(kSha512)}});
    }
    BasicAuth::Verdict check(std::string_view header, double now = 1000,
                             const net::IpAddress& client = kClient) {
        return auth_.check(header, client, now).verdict;
    }
    BasicAuth auth_;
};

TEST(ParseBasic, DecodesUserAndPassword) {
    auto c = parse_basic("Basic YWxpY2U6d29uZGVyIGxhbmQ=");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->user, "alice");
    EXPECT_EQ(c->password, "wonder land");
    c = parse_basic("bAsIc   " + basic("bob:a:b:c").substr(6));  // scheme is case-insensitive
    ASSERT_TRUE(c);
    EXPECT_EQ(c->user, "bob");
    EXPECT_EQ(c->password, "a:b:c");  // the first ':' splits
    c = parse_basic(basic("carol:"));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->password, "");
    for (const char* bad : {"", "Basic", "Basic ", "Bearer YWxpY2U6eA==", "Basic YWxpY2U6eA=",
                            "Basic YWxp*2U6eA==", "Basic YWxpY2U=", "Digest username=alice"})
        EXPECT_FALSE(parse_basic(bad)) << bad;
}

TEST(ParseBasic, LoggableUserHidesControlCharacters) {
    EXPECT_EQ(loggable_user("alice"), "alice");
    EXPECT_EQ(loggable_user("eve\n2026 [warn] forged"), "eve?2026 [warn] forged");
    EXPECT_EQ(loggable_user(std::string(100, 'x')), std::string(64, 'x') + "...");
}

TEST_F(BasicAuthTest, RightCredentialsPassWrongOnesDoNot) {
    EXPECT_EQ(check(basic("alice:wonder land")), BasicAuth::Verdict::ok);
    EXPECT_EQ(check(basic("bob:s3cret pass")), BasicAuth::Verdict::ok);
    EXPECT_EQ(check(basic("alice:s3cret pass")), BasicAuth::Verdict::wrong);
    EXPECT_EQ(check(basic("mallory:wonder land")), BasicAuth::Verdict::wrong);
    EXPECT_EQ(check(basic("bob:s3cret pass\n")), BasicAuth::Verdict::wrong);
    EXPECT_EQ(check(""), BasicAuth::Verdict::missing);
    EXPECT_EQ(check("Bearer t0ken"), BasicAuth::Verdict::missing);
    auto result = auth_.check(basic("mallory:x"), kClient, 1000);
    EXPECT_EQ(result.user, "mallory");
    EXPECT_EQ(result.failures, 4u);
}

TEST_F(BasicAuthTest, VerifiedHeadersAreTrustedForAWhileAndForgottenOnReload) {
    std::string header = basic("alice:wonder land");
    EXPECT_EQ(check(header, 1000), BasicAuth::Verdict::ok);
    EXPECT_EQ(auth_.cached_headers(), 1u);
    EXPECT_EQ(check(header, 1059), BasicAuth::Verdict::ok);  // from the cache
    EXPECT_EQ(check(header, 1061), BasicAuth::Verdict::ok);  // verified again
    // A reload that removes alice: her trusted header is forgotten at once.
    auth_.set_users({{"bob", std::string(kSha512)}});
    EXPECT_EQ(auth_.cached_headers(), 0u);
    EXPECT_EQ(check(header, 1062), BasicAuth::Verdict::wrong);
}

TEST_F(BasicAuthTest, TooManyFailuresFromOneAddressAreRefusedUntilTheWindowEnds) {
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(check(basic("alice:guess"), 1000 + i), BasicAuth::Verdict::wrong);
    // Even right credentials are not verified now: guessing must stop.
    auto result = auth_.check(basic("alice:wonder land"), kClient, 1010);
    EXPECT_EQ(result.verdict, BasicAuth::Verdict::limited);
    EXPECT_DOUBLE_EQ(result.retry_after, 50);
    EXPECT_TRUE(result.first_limited);
    EXPECT_FALSE(auth_.check(basic("alice:x"), kClient, 1011).first_limited);
    // Another address is not affected.
    EXPECT_EQ(check(basic("alice:wonder land"), 1010, *net::IpAddress::parse("192.0.2.8")),
              BasicAuth::Verdict::ok);
    EXPECT_EQ(check(basic("alice:wonder land"), 1060), BasicAuth::Verdict::ok);
}

TEST_F(BasicAuthTest, ATrustedHeaderStillPassesWhileItsAddressIsLimited) {
    std::string header = basic("bob:s3cret pass");
    EXPECT_EQ(check(header, 1000), BasicAuth::Verdict::ok);
    for (int i = 0; i < 6; ++i)
        check(basic("bob:guess"), 1001);
    EXPECT_EQ(check(basic("bob:guess"), 1002), BasicAuth::Verdict::limited);
    EXPECT_EQ(check(header, 1003), BasicAuth::Verdict::ok);
}

TEST(BasicAuthMemory, TheTableOfFailingAddressesIsBounded) {
    BasicAuthLimits limits;
    limits.max_clients = 8;
    BasicAuth auth(limits);
    auth.set_users({{"bob", std::string(kSha512)}});
    for (int i = 0; i < 100; ++i) {
        auto ip = *net::IpAddress::parse("198.51.100." + std::to_string(i));
        EXPECT_EQ(auth.check(basic("bob:x"), ip, 1000 + i * 0.01).verdict,
                  BasicAuth::Verdict::wrong);
        EXPECT_LE(auth.tracked_clients(), 8u);
    }
}

// --- the answers (access.cpp) ------------------------------------------------------------

Request request(std::string method, std::string target, std::string authorization = "") {
    Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.peer = *net::SocketAddress::parse("192.0.2.7:40000");
    r.local = *net::SocketAddress::parse("127.0.0.1:9090");
    r.host = "127.0.0.1:9090";
    r.authorization = std::move(authorization);
    return r;
}

std::vector<std::string> challenges(const Response& r) {
    std::vector<std::string> out;
    for (const auto& [name, value] : r.headers)
        if (name == "WWW-Authenticate") out.push_back(value);
    return out;
}

TEST_F(BasicAuthTest, WithoutCredentialsABrowserIsAskedForThem) {
    auto refused = refuse_unauthenticated(request("GET", "/stats"), "", auth_, 1000);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(challenges(*refused),
              std::vector<std::string>{R"(Basic realm="contrail-lb", charset="UTF-8")"});
    EXPECT_FALSE(refuse_unauthenticated(request("GET", "/stats", basic("alice:wonder land")), "",
                                        auth_, 1000));
    refused = refuse_unauthenticated(request("GET", "/api/v1/status", basic("alice:no")), "", auth_,
                                     1000);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401);
    EXPECT_EQ(refused->content_type, "application/json");
}

TEST_F(BasicAuthTest, AStateChangeTakesBasicOrTheBearerToken) {
    const std::string target = "/api/v1/services/a/backends/b/drain";
    EXPECT_FALSE(
        refuse_unauthenticated(request("POST", target, "Bearer t0ken"), "t0ken", auth_, 1000));
    EXPECT_FALSE(refuse_unauthenticated(request("POST", target, basic("bob:s3cret pass")), "t0ken",
                                        auth_, 1000));
    auto refused = refuse_unauthenticated(request("POST", target), "t0ken", auth_, 1000);
    ASSERT_TRUE(refused);
    EXPECT_EQ(challenges(*refused).size(), 2u);  // Basic and Bearer
    EXPECT_EQ(refuse_unauthenticated(request("POST", target, "Bearer nope"), "t0ken", auth_, 1000)
                  ->status,
              401);
    // A bearer token is for changes; reading needs Basic (SPEC "Admin endpoints").
    EXPECT_EQ(refuse_unauthenticated(request("GET", "/stats", "Bearer t0ken"), "t0ken", auth_, 1000)
                  ->status,
              401);
    // Without token_file a bearer header is no credential at all.
    EXPECT_EQ(
        refuse_unauthenticated(request("POST", target, "Bearer t0ken"), "", auth_, 1000)->status,
        401);
}

TEST_F(BasicAuthTest, TooManyFailuresAnswer429WithRetryAfter) {
    for (int i = 0; i < 5; ++i)
        refuse_unauthenticated(request("GET", "/stats", basic("bob:guess")), "", auth_, 1000);
    auto refused =
        refuse_unauthenticated(request("GET", "/stats", basic("bob:guess")), "", auth_, 1020);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429);
    auto retry = std::find_if(refused->headers.begin(), refused->headers.end(),
                              [](const auto& h) { return h.first == "Retry-After"; });
    ASSERT_NE(retry, refused->headers.end());
    EXPECT_EQ(retry->second, "40");
}

}  // namespace
}  // namespace clb::admin
