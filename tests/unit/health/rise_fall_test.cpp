// The pure parts of the health checker: the rise/fall state machine and the response
// status parser, without sockets.
#include <gtest/gtest.h>

#include <string>

#include "health/response_parser.hpp"
#include "health/rise_fall.hpp"

namespace clb::health {
namespace {

using Change = RiseFall::Change;

TEST(RiseFall, FirstSuccessMakesUpEvenWithRise3) {
    RiseFall s(3, 2);
    EXPECT_FALSE(s.up());
    EXPECT_EQ(s.record(true), Change::went_up);
    EXPECT_TRUE(s.up());
}

TEST(RiseFall, FailuresBeforeFirstSuccessStillNeedOnlyOne) {
    RiseFall s(3, 2);
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(true), Change::went_up);
}

TEST(RiseFall, GoesDownAfterFallConsecutiveFailures) {
    RiseFall s(2, 3, /*up=*/true);
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(true), Change::none);  // breaks the streak
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(false), Change::none);
    EXPECT_EQ(s.record(false), Change::went_down);
    EXPECT_EQ(s.failures(), 3u);
    EXPECT_EQ(s.record(false), Change::none);  // one transition only
}

TEST(RiseFall, ComesBackAfterRiseConsecutiveSuccesses) {
    RiseFall s(3, 1);
    s.record(true);
    EXPECT_EQ(s.record(false), Change::went_down);
    EXPECT_EQ(s.record(true), Change::none);
    EXPECT_EQ(s.record(true), Change::none);
    EXPECT_EQ(s.record(false), Change::none);  // breaks the streak
    EXPECT_EQ(s.record(true), Change::none);
    EXPECT_EQ(s.record(true), Change::none);
    EXPECT_EQ(s.record(true), Change::went_up);
    EXPECT_EQ(s.successes(), 3u);
}

TEST(RiseFall, ForceDownNeedsRiseToReturn) {
    RiseFall s(2, 3);
    s.record(true);
    EXPECT_EQ(s.force_down(), Change::went_down);
    EXPECT_EQ(s.force_down(), Change::none);  // a burst is one transition
    EXPECT_FALSE(s.up());
    EXPECT_EQ(s.record(true), Change::none);
    EXPECT_EQ(s.record(true), Change::went_up);
}

TEST(RiseFall, RetuneKeepsStateAndStreak) {
    RiseFall s(2, 5, /*up=*/true);
    s.record(false);
    s.record(false);
    s.retune(2, 3);
    EXPECT_TRUE(s.up());
    EXPECT_EQ(s.failures(), 2u);
    EXPECT_EQ(s.record(false), Change::went_down);
}

TEST(RiseFall, ZeroThresholdsActAsOne) {
    RiseFall s(0, 0, /*up=*/true);
    EXPECT_EQ(s.record(false), Change::went_down);
    EXPECT_EQ(s.record(true), Change::went_up);
}

using Result = ResponseParser::Result;

TEST(ResponseParser, StatusOfACompleteHead) {
    ResponseParser p;
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), Result::complete);
    EXPECT_EQ(p.status(), 200);
}

TEST(ResponseParser, HeadSplitAcrossReads) {
    ResponseParser p;
    std::string head = "HTTP/1.1 503 Service Unavailable\r\nServer: x\r\n\r\n";
    for (size_t i = 0; i + 1 < head.size(); ++i)
        ASSERT_EQ(p.feed(head.substr(i, 1)), Result::need_more) << i;
    EXPECT_EQ(p.feed(head.substr(head.size() - 1)), Result::complete);
    EXPECT_EQ(p.status(), 503);
}

TEST(ResponseParser, SkipsInterimResponses) {
    ResponseParser p;
    EXPECT_EQ(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
              Result::complete);
    EXPECT_EQ(p.status(), 204);
}

TEST(ResponseParser, RejectsGarbage) {
    ResponseParser p;
    EXPECT_EQ(p.feed("SSH-2.0-OpenSSH_9.2\r\n"), Result::invalid);
}

TEST(ResponseParser, TruncatedHeadAtEofIsInvalid) {
    ResponseParser p;
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nServer"), Result::need_more);
    EXPECT_EQ(p.finish(), Result::invalid);
}

TEST(ResponseParser, BoundsTheHeadSize) {
    ResponseParser p;
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\n"), Result::need_more);
    std::string header = "X-Filler: " + std::string(1000, 'a') + "\r\n";
    Result r = Result::need_more;
    for (int i = 0; i < 20 && r == Result::need_more; ++i)
        r = p.feed(header);
    EXPECT_EQ(r, Result::too_large);
}

TEST(ResponseParser, ResetStartsOver) {
    ResponseParser p;
    EXPECT_EQ(p.feed("garbage\r\n"), Result::invalid);
    p.reset();
    EXPECT_EQ(p.feed("HTTP/1.0 404 Not Found\r\n\r\n"), Result::complete);
    EXPECT_EQ(p.status(), 404);
}

}  // namespace
}  // namespace clb::health
