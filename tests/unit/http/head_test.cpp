#include <gtest/gtest.h>

#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/http/responses.hpp"

using namespace clb::http;

TEST(Head, SplitsRequest) {
    Head h;
    ASSERT_TRUE(h.parse("GET /a?b HTTP/1.1\r\nHost: x\r\nX-A:  v v \r\n\r\n"));
    EXPECT_EQ(h.first(), "GET");
    EXPECT_EQ(h.second(), "/a?b");
    EXPECT_EQ(h.third(), "HTTP/1.1");
    ASSERT_EQ(h.headers().size(), 2u);
    EXPECT_EQ(h.find("x-a")->value, "v v");
    EXPECT_EQ(h.find("HOST")->value, "x");
    EXPECT_EQ(h.find("nope"), nullptr);
}

TEST(Head, SplitsResponse) {
    Head h;
    ASSERT_TRUE(h.parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_EQ(h.first(), "HTTP/1.1");
    EXPECT_EQ(h.second(), "200");
    EXPECT_EQ(h.third(), "OK");
}

struct BadHead {
    const char* name;
    const char* raw;
};

class HeadRefuses : public ::testing::TestWithParam<BadHead> {};

TEST_P(HeadRefuses, Refuses) {
    Head h;
    EXPECT_FALSE(h.parse(GetParam().raw)) << GetParam().name;
    EXPECT_FALSE(h.error().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Smuggling, HeadRefuses,
    ::testing::Values(BadHead{"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"},
                      BadHead{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
                      BadHead{"bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n"},
                      BadHead{"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"},
                      BadHead{"http/2.0", "GET / HTTP/2.0\r\n\r\n"},
                      BadHead{"no version", "GET /\r\n\r\n"},
                      BadHead{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n"},
                      BadHead{"empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n"},
                      BadHead{"space in target", "GET /a b HTTP/1.1\r\n\r\n"}),
    [](const auto& info) {
        std::string n = info.param.name;
        for (auto& c : n)
            if (!isalnum(static_cast<unsigned char>(c))) c = '_';
        return n;
    });

TEST(Head, RefusesNul) {
    Head h;
    static constexpr char kRaw[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    const std::string raw(kRaw, sizeof kRaw - 1);
    EXPECT_FALSE(h.parse(raw));
}

TEST(Tokens, HasToken) {
    EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
    EXPECT_TRUE(has_token("close", "close"));
    EXPECT_FALSE(has_token("closed", "close"));
    EXPECT_FALSE(has_token("", "close"));
}

TEST(Parser, RequestWithoutBodyCompletesAtHead) {
    MessageParser p(Kind::request);
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    EXPECT_TRUE(p.message_complete());
    EXPECT_TRUE(p.keep_alive());
}

TEST(Parser, ChunkedBodyFramedExactly) {
    MessageParser p(Kind::request);
    std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    EXPECT_FALSE(p.message_complete());
    std::string body = "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    auto step = p.parse_body(body.data(), body.size());
    EXPECT_TRUE(step.complete);
    EXPECT_EQ(step.ready, 13u);  // 3\r\nabc\r\n0\r\n\r\n
    std::string next = "GET /next HTTP/1.1\r\n\r\n";
    ASSERT_TRUE(p.parse_head(next.data(), next.size()));
    EXPECT_TRUE(p.message_complete());
}

TEST(Parser, ContentLengthBodyAcrossReads) {
    MessageParser p(Kind::request);
    std::string head = "PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    auto s1 = p.parse_body("ab", 2);
    EXPECT_EQ(s1.ready, 2u);
    EXPECT_FALSE(s1.complete);
    auto s2 = p.parse_body("cdeXX", 5);
    EXPECT_EQ(s2.ready, 3u);
    EXPECT_TRUE(s2.complete);
}

TEST(Parser, RefusesSmugglingFraming) {
    for (std::string head :
         {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
          "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
          "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
          "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"}) {
        MessageParser p(Kind::request);
        EXPECT_FALSE(p.parse_head(head.data(), head.size())) << head;
    }
    MessageParser p(Kind::request);
    std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    EXPECT_TRUE(p.parse_body("zz\r\n", 4).error);
}

TEST(Parser, ResponseUntilClose) {
    MessageParser p(Kind::response);
    std::string head = "HTTP/1.1 200 OK\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    EXPECT_TRUE(p.body_until_close());
    EXPECT_EQ(p.parse_body("abc", 3).ready, 3u);
    EXPECT_TRUE(p.finish());
}

TEST(Parser, HeadResponseHasNoBody) {
    MessageParser p(Kind::response);
    p.expect_no_body();
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    EXPECT_TRUE(p.message_complete());
}

TEST(Parser, ContinueThenFinal) {
    MessageParser p(Kind::response);
    std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
    ASSERT_TRUE(p.parse_head(cont.data(), cont.size()));
    EXPECT_TRUE(p.message_complete());
    EXPECT_EQ(p.status(), 100);
    std::string fin = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ASSERT_TRUE(p.parse_head(fin.data(), fin.size()));
    EXPECT_EQ(p.status(), 200);
    EXPECT_TRUE(p.message_complete());
}

TEST(Responses, ContentLengthMatchesBody) {
    for (int code : {400, 408, 431, 502, 503, 504}) {
        std::string_view r = error_response(code);
        auto split = r.find("\r\n\r\n");
        ASSERT_NE(split, std::string_view::npos);
        auto cl = r.find("Content-Length: ");
        size_t len = std::stoul(std::string(r.substr(cl + 16)));
        EXPECT_EQ(len, r.size() - split - 4) << code;
        EXPECT_TRUE(r.starts_with("HTTP/1.1 " + std::to_string(code)));
    }
}
