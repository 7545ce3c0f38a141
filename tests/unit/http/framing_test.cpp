// Message framing as a proxy must read it (docs/http-framing.md): strict line endings in
// chunked bodies, framing bytes held back until proven, RFC 9112 §6.3 response framing,
// and the head rules (Host, Transfer-Encoding on HTTP/1.0, Connection options).
#include <gtest/gtest.h>

#include <string>

#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"

using namespace clb::http;

namespace {

const std::string kChunkedHead = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

// Feeds `body` in pieces of `piece` bytes the way the proxy does: bytes stay in a buffer
// until the parser declares them ready, and only ready bytes are "forwarded".
struct Fed {
    std::string forwarded;
    bool complete = false;
    bool error = false;
    std::string why;
};

Fed feed(MessageParser& p, const std::string& body, size_t piece) {
    Fed out;
    std::string buffer;
    for (size_t at = 0; at < body.size() && !out.complete && !out.error; at += piece) {
        buffer += body.substr(at, piece);
        auto step = p.parse_body(buffer.data(), buffer.size());
        if (step.error) {
            out.error = true;
            out.why = std::string(p.error());
            break;
        }
        out.forwarded += buffer.substr(0, step.ready);
        buffer.erase(0, step.ready);
        out.complete = step.complete;
    }
    return out;
}

Fed feed_chunked(const std::string& body, size_t piece) {
    MessageParser p(Kind::request);
    EXPECT_TRUE(p.parse_head(kChunkedHead.data(), kChunkedHead.size()));
    return feed(p, body, piece);
}

}  // namespace

TEST(Framing, ValidChunkedBodyPassesWholeInAnyPieces) {
    const std::string body = "5\r\nhello\r\n3;name=\"v a\"\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
    for (size_t piece : {1u, 2u, 3u, 7u, 100u}) {
        Fed fed = feed_chunked(body, piece);
        EXPECT_FALSE(fed.error) << piece << ": " << fed.why;
        EXPECT_TRUE(fed.complete) << piece;
        EXPECT_EQ(fed.forwarded, body) << piece;
    }
}

TEST(Framing, EndOfChunkedBodyHeldUntilComplete) {
    // Everything up to the last data byte goes on; the rest waits for the final CRLF.
    Fed fed = feed_chunked("5\r\nhello\r\n0\r\n\r", 100);
    EXPECT_FALSE(fed.error);
    EXPECT_FALSE(fed.complete);
    EXPECT_EQ(fed.forwarded, "5\r\nhello");
}

TEST(Framing, ChunkDataStreamsBeforeItsEnd) {
    Fed fed = feed_chunked("10\r\n0123456789", 100);
    EXPECT_FALSE(fed.error);
    EXPECT_EQ(fed.forwarded, "10\r\n0123456789");
}

struct BadBody {
    const char* name;
    const char* body;
};

class RefusesChunked : public ::testing::TestWithParam<BadBody> {};

// Refused whole or fed byte by byte, and no byte of the malformed part is ever ready.
TEST_P(RefusesChunked, NothingMalformedForwarded) {
    const std::string body = GetParam().body;
    for (size_t piece : {1u, 4u, 1000u}) {
        Fed fed = feed_chunked(body, piece);
        EXPECT_TRUE(fed.error) << GetParam().name << " piece " << piece;
        EXPECT_FALSE(fed.complete);
        // What was forwarded is a well-formed prefix that ends with chunk data.
        EXPECT_TRUE(body.starts_with(fed.forwarded));
        if (!fed.forwarded.empty()) {
            EXPECT_EQ(fed.forwarded, std::string("5\r\nhello").substr(0, fed.forwarded.size()))
                << GetParam().name;
            EXPECT_LE(fed.forwarded.size(), 8u) << GetParam().name;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Smuggling, RefusesChunked,
    ::testing::Values(
        BadBody{"size_lf", "5\nhello\r\n0\r\n\r\n"}, BadBody{"size_cr", "5\rhello\r\n0\r\n\r\n"},
        BadBody{"data_lf", "5\r\nhello\n0\r\n\r\n"}, BadBody{"data_cr", "5\r\nhello\r0\r\n\r\n"},
        BadBody{"data_none", "5\r\nhello0\r\n\r\n"},
        BadBody{"data_long", "5\r\nhelloXX\r\n0\r\n\r\n"},
        BadBody{"last_lf", "5\r\nhello\r\n0\n\r\n"}, BadBody{"end_lf", "5\r\nhello\r\n0\r\n\n"},
        BadBody{"end_cr", "5\r\nhello\r\n0\r\n\rX"},
        BadBody{"trailer_lf", "5\r\nhello\r\n0\r\nX: 1\n\r\n"},
        BadBody{"trailer_end_lf", "5\r\nhello\r\n0\r\nX: 1\r\n\n"},
        BadBody{"trailer_fold", "5\r\nhello\r\n0\r\nX: 1\r\n 2\r\n\r\n"},
        BadBody{"trailer_space_colon", "5\r\nhello\r\n0\r\nX : 1\r\n\r\n"},
        BadBody{"trailer_bare_cr", "5\r\nhello\r\n0\r\nX: 1\r2\r\n\r\n"},
        BadBody{"trailer_cl", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"},
        BadBody{"trailer_host", "5\r\nhello\r\n0\r\nHost: y\r\n\r\n"},
        BadBody{"ext_ctl", "5;a=\x01\r\nhello\r\n0\r\n\r\n"},
        BadBody{"ext_bare_lf", "5;a=b\nhello\r\n0\r\n\r\n"},
        BadBody{"ext_bare_cr", "5;a\rb\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_space", "5 \r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_0x", "0x5\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_negative", "-5\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_empty", "\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_2g", "80000000\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_2_64", "ffffffffffffffff\r\nhello\r\n0\r\n\r\n"},
        BadBody{"size_overflow", "1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Framing, LongestChunkSizeAccepted) {
    Fed fed = feed_chunked("7fffffff\r\nabc", 100);
    EXPECT_FALSE(fed.error) << fed.why;
    EXPECT_EQ(fed.forwarded, "7fffffff\r\nabc");
}

TEST(Framing, EndlessChunkFramingRefused) {
    // A chunk extension or trailer section that never ends cannot fill the buffer.
    std::string body = "5;x=" + std::string(MessageParser::kMaxHeldFraming + 10, 'a');
    Fed fed = feed_chunked(body, 1024);
    EXPECT_TRUE(fed.error);
    EXPECT_TRUE(fed.forwarded.empty());
    std::string trailers = "0\r\n";
    while (trailers.size() <= MessageParser::kMaxHeldFraming)
        trailers += "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    EXPECT_TRUE(feed_chunked(trailers, 512).error);
}

TEST(Framing, DeclinedUpgradeThenNextRequest) {
    MessageParser p(Kind::request);
    std::string upgrade =
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    ASSERT_TRUE(p.parse_head(upgrade.data(), upgrade.size()));
    EXPECT_TRUE(p.upgrade());
    EXPECT_TRUE(p.message_complete());
    std::string next = "POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n";
    ASSERT_TRUE(p.parse_head(next.data(), next.size())) << p.error();
    EXPECT_FALSE(p.upgrade());
    EXPECT_FALSE(p.message_complete());
    auto step = p.parse_body("okGET", 5);
    EXPECT_EQ(step.ready, 2u);
    EXPECT_TRUE(step.complete);
}

TEST(Framing, BodilessResponsesEndWithTheirHead) {
    for (std::string head : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                             "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
                             "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n",
                             "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"}) {
        MessageParser p(Kind::response);
        ASSERT_TRUE(p.parse_head(head.data(), head.size())) << head;
        EXPECT_TRUE(p.message_complete()) << head;
        EXPECT_FALSE(p.body_until_close()) << head;
        EXPECT_TRUE(p.keep_alive()) << head;
    }
}

TEST(Framing, SeveralInterimResponsesThenFinal) {
    MessageParser p(Kind::response);
    for (std::string head : {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\n\r\n"}) {
        ASSERT_TRUE(p.parse_head(head.data(), head.size()));
        EXPECT_TRUE(p.message_complete());
    }
    std::string fin = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
    ASSERT_TRUE(p.parse_head(fin.data(), fin.size()));
    EXPECT_EQ(p.status(), 200);
    EXPECT_FALSE(p.message_complete());
    EXPECT_TRUE(p.parse_body("abc", 3).complete);
}

TEST(Framing, ChunkedResponseBodyHeldLikeARequest) {
    MessageParser p(Kind::response);
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    ASSERT_TRUE(p.parse_head(head.data(), head.size()));
    Fed fed = feed(p, "3\r\nabc\r\n0\r\n\n", 1);
    EXPECT_TRUE(fed.error);
    EXPECT_EQ(fed.forwarded, "3\r\nabc");
}

// ---- the head rules ------------------------------------------------------------------

struct HeadCase {
    const char* name;
    const char* raw;
    bool ok;
};

class SemanticRules : public ::testing::TestWithParam<HeadCase> {};

TEST_P(SemanticRules, Checked) {
    Head h;
    ASSERT_TRUE(h.parse(GetParam().raw)) << GetParam().name << ": " << h.error();
    EXPECT_EQ(h.semantic_error().empty(), GetParam().ok) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, SemanticRules,
    ::testing::Values(
        HeadCase{"host", "GET / HTTP/1.1\r\nHost: api.example:8082\r\n\r\n", true},
        HeadCase{"host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8082\r\n\r\n", true},
        HeadCase{"host_empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
        HeadCase{"no_host_11", "GET / HTTP/1.1\r\nX: y\r\n\r\n", false},
        HeadCase{"no_host_10", "GET / HTTP/1.0\r\nX: y\r\n\r\n", true},
        HeadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", false},
        HeadCase{"two_hosts_10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", false},
        HeadCase{"host_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
        HeadCase{"host_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false},
        HeadCase{"host_at", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", false},
        HeadCase{"te_10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                 false},
        HeadCase{"te_11", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        HeadCase{"response_te_10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        HeadCase{"response_no_host", "HTTP/1.1 200 OK\r\n\r\n", true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Framing, ConnectionOptionsAreHopByHop) {
    Head h;
    ASSERT_TRUE(
        h.parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret,"
                " ,content-length, Host\r\nConnection: x-other\r\n\r\n"));
    EXPECT_TRUE(h.named_by_connection("x-secret"));
    EXPECT_TRUE(h.named_by_connection("X-Other"));
    EXPECT_TRUE(h.named_by_connection("Keep-Alive"));
    EXPECT_FALSE(h.named_by_connection("x-forwarded"));
    // Never the fields that frame or route the message: the backend must frame it as we do.
    EXPECT_FALSE(h.named_by_connection("Content-Length"));
    EXPECT_FALSE(h.named_by_connection("host"));
}

TEST(Framing, ConnectionOptionsBounded) {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ";
    for (int i = 0; i < 17; ++i)
        raw += "o" + std::to_string(i) + ",";
    raw += "\r\n\r\n";
    Head h;
    EXPECT_FALSE(h.parse(raw));
}

TEST(Framing, TrailerSection) {
    EXPECT_EQ(trailer_section_error("\r\n"), "");
    EXPECT_EQ(trailer_section_error("A: 1\r\nB-C: 2\r\n\r\n"), "");
    EXPECT_NE(trailer_section_error("A: 1\r\n"), "");
    EXPECT_NE(trailer_section_error("A: 1\r\n\r\nX"), "");
    EXPECT_NE(trailer_section_error("Transfer-Encoding: chunked\r\n\r\n"), "");
}
