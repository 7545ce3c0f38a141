// Access control of the admin API (src/admin/access.cpp; docs/admin.md "Access control").
#include <gtest/gtest.h>

#include "admin/http.hpp"

namespace clb::admin {
namespace {

Request request(std::string method, std::string host) {
    Request r;
    r.method = std::move(method);
    r.target = "/api/v1/services/a/backends/b/drain";
    r.peer = *net::SocketAddress::parse("192.0.2.7:40000");
    r.local = *net::SocketAddress::parse("10.0.0.21:9090");
    r.host = std::move(host);
    return r;
}

int status_of(const Request& r, std::string_view token = "") {
    auto refused = refuse_access(r, token);
    return refused ? refused->status : 0;
}

TEST(AdminAccess, HostMustBeTheReachedAddressOrLoopback) {
    for (const char* host : {"10.0.0.21:9090", "10.0.0.21", "127.0.0.1:9090", "127.1.2.3",
                             "localhost", "LOCALHOST:9090", "[::1]:9090", ""})
        EXPECT_EQ(status_of(request("POST", host)), 0) << host;
    for (const char* host : {"evil.example", "10.0.0.22:9090", "localhost.evil.example",
                             "[::2]:9090", "[::1", "10.0.0.21.nip.io"})
        EXPECT_EQ(status_of(request("GET", host)), 403) << host;
}

TEST(AdminAccess, CrossSiteAndForeignOriginAreRefused) {
    Request r = request("POST", "10.0.0.21:9090");
    r.sec_fetch_site = "cross-site";
    EXPECT_EQ(status_of(r), 403);
    r.sec_fetch_site = "same-origin";
    EXPECT_EQ(status_of(r), 0);
    r.origin = "http://10.0.0.21:9090";
    EXPECT_EQ(status_of(r), 0);
    for (const char* origin :
         {"http://evil.example", "null", "https://10.0.0.21:9090", "http://10.0.0.21:9091"}) {
        r.origin = origin;
        EXPECT_EQ(status_of(r), 403) << origin;
    }
}

TEST(AdminAccess, TokenIsNeededForStateChangesOnly) {
    const std::string token = "t0ken";
    Request r = request("POST", "localhost");
    EXPECT_EQ(status_of(r, token), 401);
    EXPECT_EQ(refuse_access(r, token)->headers.at(0).first, "WWW-Authenticate");
    r.authorization = "Bearer wrong";
    EXPECT_EQ(status_of(r, token), 401);
    r.authorization = "Bearer t0ke";
    EXPECT_EQ(status_of(r, token), 401);
    r.authorization = "Basic dDBrZW4=";
    EXPECT_EQ(status_of(r, token), 401);
    r.authorization = "Bearer t0ken";
    EXPECT_EQ(status_of(r, token), 0);
    r.authorization = "bearer t0ken";
    EXPECT_EQ(status_of(r, token), 0);
    EXPECT_EQ(status_of(request("GET", "localhost"), token), 0);
    EXPECT_EQ(status_of(request("HEAD", "localhost"), token), 0);
    EXPECT_EQ(status_of(request("DELETE", "localhost"), token), 401);
}

TEST(AdminAccess, ForeignHostIsRefusedEvenWithTheToken) {
    Request r = request("POST", "evil.example");
    r.authorization = "Bearer t0ken";
    EXPECT_EQ(status_of(r, "t0ken"), 403);
}

TEST(AdminAccess, ConstantTimeEqual) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_FALSE(constant_time_equal(std::string_view("a\0", 2), "a"));
}

}  // namespace
}  // namespace clb::admin
