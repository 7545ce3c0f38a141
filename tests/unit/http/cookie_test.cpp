// The Cookie field as cookie persistence reads and rewrites it (RFC 6265 §4.2).
#include "contrail_lb/http/cookie.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clb::http {
namespace {

TEST(Cookie, FindsTheFirstOfItsNameOnly) {
    EXPECT_EQ(find_cookie("SERVERID=abc", "SERVERID"), "abc");
    EXPECT_EQ(find_cookie("a=1; SERVERID=abc; b=2", "SERVERID"), "abc");
    EXPECT_EQ(find_cookie("a=1;SERVERID = \"abc\" ;b=2", "SERVERID"), "abc");
    EXPECT_EQ(find_cookie("SERVERID=one; SERVERID=two", "SERVERID"), "one");
    EXPECT_EQ(find_cookie("XSERVERID=abc; serverid=def", "SERVERID"), "");  // case-sensitive
    EXPECT_EQ(find_cookie("", "SERVERID"), "");
    EXPECT_EQ(find_cookie(";;; SERVERID", "SERVERID"), "");
}

TEST(Cookie, RemovesEveryPairOfItsNameAndKeepsTheRest) {
    std::string out;
    EXPECT_TRUE(remove_cookie("a=1; SERVERID=abc; b=2", "SERVERID", out));
    EXPECT_EQ(out, "a=1; b=2");
    EXPECT_TRUE(remove_cookie("SERVERID=abc", "SERVERID", out));
    EXPECT_EQ(out, "");
    EXPECT_TRUE(remove_cookie("SERVERID=1;a=b;SERVERID=2", "SERVERID", out));
    EXPECT_EQ(out, "a=b");
    EXPECT_FALSE(remove_cookie("a=1; b=2", "SERVERID", out));
    EXPECT_EQ(out, "a=1; b=2");
}

}  // namespace
}  // namespace clb::http
