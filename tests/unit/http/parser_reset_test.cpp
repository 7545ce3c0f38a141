// A pooled parser serves one connection after another: reset() must forget everything
// the previous connection left in it (a closed connection, an error, a pause).
#include <gtest/gtest.h>

#include <string_view>

#include "contrail_lb/http/parser.hpp"

using namespace clb::http;

namespace {
bool parse(MessageParser& p, std::string_view head) {
    return p.parse_head(head.data(), head.size());
}
}  // namespace

TEST(ParserReset, AfterAClosingMessage) {
    MessageParser p(Kind::request);
    ASSERT_TRUE(parse(p, "GET / HTTP/1.0\r\n\r\n"));
    EXPECT_FALSE(p.keep_alive());
    // Whether the connection goes on is the session's call (it closes after this one);
    // the parser starts every message from a fresh state, and reset() for a new connection.
    p.reset();
    ASSERT_TRUE(parse(p, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"));
    EXPECT_EQ(p.method(), HTTP_POST);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_FALSE(p.message_complete());
    auto step = p.parse_body("abc", 3);
    EXPECT_TRUE(step.complete);
    EXPECT_EQ(step.ready, 3u);
}

TEST(ParserReset, AfterAnError) {
    MessageParser p(Kind::request);
    EXPECT_FALSE(parse(p, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"));
    EXPECT_FALSE(p.error().empty());
    p.reset();
    EXPECT_TRUE(p.error().empty());
    ASSERT_TRUE(parse(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(p.message_complete());
}
