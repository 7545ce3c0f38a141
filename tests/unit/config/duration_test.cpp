#include <gtest/gtest.h>

#include "contrail_lb/config/config.hpp"

namespace clb::config {
namespace {

TEST(ParseDuration, AcceptsEveryUnit) {
    EXPECT_EQ(parse_duration("250ms"), Duration(250));
    EXPECT_EQ(parse_duration("2s"), Duration(2000));
    EXPECT_EQ(parse_duration("1m"), Duration(60'000));
    EXPECT_EQ(parse_duration("1h"), Duration(3'600'000));
    EXPECT_EQ(parse_duration("0"), Duration(0));
    EXPECT_EQ(parse_duration("0s"), Duration(0));
    EXPECT_EQ(parse_duration("0ms"), Duration(0));
    EXPECT_EQ(parse_duration("65535s"), Duration(65'535'000));
}

TEST(ParseDuration, RejectsMalformedText) {
    for (std::string_view bad :
         {"", "2", "2x", "s", "ms", "-1s", "+1s", "1.5s", " 2s", "2s ", "2 s", "2S", "2sec", "1d",
          "0x10s", "2ms5", "99999999999999999999s", "9223372036854775807h"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
    }
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
    EXPECT_EQ(format_duration(Duration(0)), "0");
    EXPECT_EQ(format_duration(Duration(250)), "250ms");
    EXPECT_EQ(format_duration(Duration(1500)), "1500ms");
    EXPECT_EQ(format_duration(Duration(2000)), "2s");
    EXPECT_EQ(format_duration(Duration(90'000)), "90s");
    EXPECT_EQ(format_duration(Duration(180'000)), "3m");
    EXPECT_EQ(format_duration(Duration(7'200'000)), "2h");
}

TEST(FormatDuration, RoundTripsThroughParse) {
    for (int64_t ms : {0, 1, 999, 1000, 59'000, 60'000, 61'000, 3'600'000, 86'400'000}) {
        EXPECT_EQ(parse_duration(format_duration(Duration(ms))), Duration(ms)) << ms;
    }
}

TEST(Names, PrintTheSpecSpelling) {
    EXPECT_EQ(to_string(Algorithm::roundrobin), "roundrobin");
    EXPECT_EQ(to_string(Algorithm::leastconn), "leastconn");
    EXPECT_EQ(to_string(Algorithm::random2), "random2");
    EXPECT_EQ(to_string(Algorithm::source), "source");
    EXPECT_EQ(to_string(Algorithm::maglev), "maglev");
    EXPECT_EQ(to_string(Mode::http), "http");
    EXPECT_EQ(to_string(Mode::tcp), "tcp");
    EXPECT_EQ(to_string(CheckType::http), "http");
    EXPECT_EQ(to_string(CheckType::tcp), "tcp");
    EXPECT_EQ(to_string(CheckType::none), "none");
    EXPECT_EQ(to_string(LogLevel::warn), "warn");
}

TEST(ErrorFormat, IsFileLineColumnMessage) {
    EXPECT_EQ((Error{"conf.yaml", 12, 7, "bad"}.to_string()), "conf.yaml:12:7: bad");
    EXPECT_EQ((Error{"conf.yaml", 0, 0, "cannot open"}.to_string()), "conf.yaml: cannot open");
}

}  // namespace
}  // namespace clb::config
