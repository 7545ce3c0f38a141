// What the proxy needs to splice a body past the parser (src/proxy/pipe.hpp): how many
// Content-Length bytes are still to come, and counting bytes it never saw.
#include <gtest/gtest.h>

#include <string_view>

#include "contrail_lb/http/parser.hpp"

using namespace clb::http;

namespace {
bool parse(MessageParser& p, std::string_view head) {
    return p.parse_head(head.data(), head.size());
}
}  // namespace

TEST(ParserLength, CountsAContentLengthBodyDown) {
    MessageParser p(Kind::response);
    ASSERT_TRUE(parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"));
    EXPECT_EQ(p.length_left(), 100u);
    auto step = p.parse_body("0123456789", 10);
    EXPECT_EQ(step.ready, 10u);
    EXPECT_EQ(p.length_left(), 90u);
    p.skip_length(89);
    EXPECT_FALSE(p.message_complete());
    p.skip_length(1);
    EXPECT_TRUE(p.message_complete());
    EXPECT_EQ(p.length_left(), 0u);
    // The connection goes on: the next message parses from a clean state.
    ASSERT_TRUE(parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"));
    EXPECT_EQ(p.length_left(), 2u);
    EXPECT_TRUE(p.parse_body("ok", 2).complete);
}

TEST(ParserLength, NothingToSpliceForOtherFramings) {
    MessageParser chunked(Kind::response);
    ASSERT_TRUE(parse(chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    EXPECT_EQ(chunked.length_left(), 0u);  // chunk framing is checked byte by byte

    MessageParser until_close(Kind::response);
    ASSERT_TRUE(parse(until_close, "HTTP/1.1 200 OK\r\n\r\n"));
    EXPECT_EQ(until_close.length_left(), 0u);

    MessageParser bodiless(Kind::response);
    ASSERT_TRUE(parse(bodiless, "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n"));
    EXPECT_EQ(bodiless.length_left(), 0u);

    MessageParser head_response(Kind::response);
    head_response.expect_no_body();
    ASSERT_TRUE(parse(head_response, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"));
    EXPECT_EQ(head_response.length_left(), 0u);

    MessageParser request(Kind::request);
    ASSERT_TRUE(parse(request, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n"));
    EXPECT_EQ(request.length_left(), 70000u);
}
