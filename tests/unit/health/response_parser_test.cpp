// The health check's response reader, on the proxy's own HTTP parser: a status once the
// head is whole (past 1xx interim heads), the same strictness as the proxy, bounded size.
#include "health/response_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace clb::health {
namespace {

using Result = ResponseParser::Result;

TEST(ResponseParser, StatusOnceTheHeadIsWholeEvenByteByByte) {
    ResponseParser p;
    p.reset();
    std::string response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    for (size_t i = 0; i + 1 < response.size(); ++i)
        ASSERT_EQ(p.feed(response.substr(i, 1)), Result::need_more) << i;
    EXPECT_EQ(p.feed(response.substr(response.size() - 1)), Result::complete);
    EXPECT_EQ(p.status(), 503);
}

TEST(ResponseParser, InterimHeadsAreNotTheAnswer) {
    ResponseParser p;
    p.reset();
    EXPECT_EQ(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"),
              Result::need_more);
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\n\r\n"), Result::complete);
    EXPECT_EQ(p.status(), 200);
}

TEST(ResponseParser, MalformedLikeTheProxySeesIt) {
    for (std::string bad : {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "SSH-2.0-OpenSSH\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                            "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n"}) {
        ResponseParser p;
        p.reset();
        EXPECT_EQ(p.feed(bad), Result::invalid) << bad;
    }
}

TEST(ResponseParser, ResetStartsOver) {
    ResponseParser p;
    p.reset();
    ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\n\r\n"), Result::complete);
    p.reset();
    EXPECT_EQ(p.feed("HTTP/1.0 404 Not Found\r\n\r\n"), Result::complete);
    EXPECT_EQ(p.status(), 404);
}

}  // namespace
}  // namespace clb::health
