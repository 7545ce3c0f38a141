// The escaping and formatting helpers behind every admin view.
#include "admin/text.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "admin/http.hpp"

namespace clb::admin {
namespace {

TEST(HtmlEscape, EscapesEveryMarkupCharacter) {
    EXPECT_EQ(html_escape("a<b>&\"'c"), "a&lt;b&gt;&amp;&quot;&#39;c");
    EXPECT_EQ(html_escape("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    EXPECT_EQ(html_escape("plain api-1.example"), "plain api-1.example");
}

TEST(PrometheusLabelEscape, EscapesBackslashQuoteNewline) {
    EXPECT_EQ(prometheus_label_escape(R"(a\b"c)"), R"(a\\b\"c)");
    EXPECT_EQ(prometheus_label_escape("line1\nline2"), "line1\\nline2");
    EXPECT_EQ(prometheus_label_escape("10.0.0.100/32"), "10.0.0.100/32");
}

TEST(JsonQuote, EscapesQuotesBackslashesAndControls) {
    EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
    EXPECT_EQ(json_quote("tab\there\nnl\r"), R"("tab\there\nnl\r")");
    EXPECT_EQ(json_quote(std::string_view("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
    EXPECT_EQ(json_quote(std::string_view("nul\0x", 5)), R"("nul\u0000x")");
}

TEST(JsonQuote, KeepsValidUtf8AndReplacesInvalid) {
    EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    EXPECT_EQ(json_quote("bad\xff"), R"("bad\ufffd")");
    EXPECT_EQ(json_quote("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
    EXPECT_EQ(json_quote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
    EXPECT_EQ(json_quote("\xe2\x82"), R"("\ufffd\ufffd")");            // truncated
}

TEST(JsonWriter, NestsAndSeparates) {
    JsonWriter w;
    w.begin_object();
    w.key("name");
    w.value("api1");
    w.key("list");
    w.begin_array();
    w.value(1);
    w.value(uint64_t{18446744073709551615u});
    w.value(-3);
    w.begin_object();
    w.end_object();
    w.null();
    w.end_array();
    w.key("ok");
    w.value(true);
    w.key("x");
    w.value(0.25);
    w.key("nan");
    w.value(std::nan(""));
    w.end_object();
    EXPECT_EQ(w.str(),
              R"({"name":"api1","list":[1,18446744073709551615,-3,{},null],"ok":true,"x":0.25,)"
              R"("nan":null})");
}

TEST(FormatNumber, ShortestRoundTrip) {
    EXPECT_EQ(format_number(0.001), "0.001");
    EXPECT_EQ(format_number(0.0025), "0.0025");
    EXPECT_EQ(format_number(10), "10");
    EXPECT_EQ(format_number(1.5), "1.5");
    EXPECT_EQ(format_number(1.0 / 0.0), "+Inf");
}

TEST(HumanForms, BytesDurationsTimes) {
    EXPECT_EQ(human_bytes(12), "12 B");
    EXPECT_EQ(human_bytes(1536), "1.5 KiB");
    EXPECT_EQ(human_bytes(3ull << 30), "3.0 GiB");
    EXPECT_EQ(human_duration(45), "45s");
    EXPECT_EQ(human_duration(192), "3m12s");
    EXPECT_EQ(human_duration(7500), "2h05m");
    EXPECT_EQ(human_duration(2 * 86400 + 3 * 3600), "2d03h");
    EXPECT_EQ(human_duration(-5), "0s");
    EXPECT_EQ(utc_time(0), "-");
    EXPECT_EQ(utc_time(1764072000), "2025-11-25 12:00:00 UTC");
}

TEST(Targets, PathAndQuery) {
    EXPECT_EQ(target_path("/stats?refresh=5"), "/stats");
    EXPECT_EQ(target_path("/metrics"), "/metrics");
    EXPECT_EQ(target_path("http://lb:9090/healthz?x"), "/healthz");
    EXPECT_EQ(target_path("http://lb:9090"), "/");
    EXPECT_EQ(target_path("*"), "");
    EXPECT_EQ(query_parameter("/stats?a=1&refresh=5", "refresh"), "5");
    EXPECT_EQ(query_parameter("/stats?refresh", "refresh"), "");
    EXPECT_EQ(query_parameter("/stats", "refresh"), "");
    EXPECT_EQ(query_parameter("/stats?refreshx=3", "refresh"), "");
}

}  // namespace
}  // namespace clb::admin
