// The haproxy.cfg and bird.conf readers: HAProxy's and BIRD's own tokenizing rules, and
// a FILE:LINE error (never a crash) for what they would refuse.
#include <gtest/gtest.h>

#include "contrail_lb/import/bird.hpp"
#include "contrail_lb/import/haproxy.hpp"

using namespace clb::import;

TEST(HaproxyParser, SectionsDirectivesQuotesAndComments) {
    auto parsed = parse_haproxy(
        "# top comment\n"
        "global\n"
        "  maxconn 100   # trailing comment\n"
        "defaults\n"
        "  timeout connect 5s\n"
        "frontend api *:8082\n"
        "  http-request set-header X-Name \"a b\\\"c\" \n"
        "  acl x path_beg '/a b'\n"
        "  errorfile 503 /etc/errors/a\\ b.http\n",
        "h.cfg");
    ASSERT_FALSE(parsed.error) << parsed.error->to_string();
    const auto& sections = parsed.config->sections;
    ASSERT_EQ(sections.size(), 3u);
    EXPECT_EQ(sections[0].kind, "global");
    EXPECT_EQ(sections[0].directives[0].words, (std::vector<std::string>{"maxconn", "100"}));
    EXPECT_EQ(sections[0].directives[0].text, "maxconn 100");
    EXPECT_EQ(sections[0].directives[0].line, 3);
    EXPECT_EQ(sections[2].name, "api");
    EXPECT_EQ(sections[2].header_args, (std::vector<std::string>{"*:8082"}));
    EXPECT_EQ(sections[2].directives[0].words[3], "a b\"c");
    EXPECT_EQ(sections[2].directives[1].words[3], "/a b");
    EXPECT_EQ(sections[2].directives[2].words[2], "/etc/errors/a b.http");
}

TEST(HaproxyParser, RefusesWithFileAndLine) {
    struct Case {
        const char* text;
        int line;
        const char* message;
    };
    const Case cases[] = {
        {"global\n  log \"unterminated\n", 2, "unterminated \" quote"},
        {"maxconn 5\nglobal\n", 1, "outside any section"},
        {"global\nbackend\n", 2, "needs a name"},
        {"", 0, "no section"},
        {"# only comments\n", 0, "no section"},
    };
    for (const auto& c : cases) {
        auto parsed = parse_haproxy(c.text, "h.cfg");
        ASSERT_TRUE(parsed.error) << c.text;
        EXPECT_EQ(parsed.error->line, c.line) << c.text;
        EXPECT_NE(parsed.error->message.find(c.message), std::string::npos)
            << parsed.error->message;
        EXPECT_EQ(parsed.error->to_string().rfind("h.cfg", 0), 0u);
    }
    std::string nul = "global\n  a\0b\n";
    nul.resize(13);
    auto parsed = parse_haproxy(nul, "h.cfg");
    ASSERT_TRUE(parsed.error);
    EXPECT_EQ(parsed.error->line, 2);
    std::string many = "global\n";
    for (int i = 0; i < 70; ++i)
        many += "w ";
    EXPECT_TRUE(parse_haproxy(many, "h.cfg").error);
}

TEST(HaproxyParser, Times) {
    EXPECT_EQ(parse_haproxy_time_ms("5000"), 5000);
    EXPECT_EQ(parse_haproxy_time_ms("5s"), 5000);
    EXPECT_EQ(parse_haproxy_time_ms("3m"), 180000);
    EXPECT_EQ(parse_haproxy_time_ms("1h"), 3600000);
    EXPECT_EQ(parse_haproxy_time_ms("1d"), 86400000);
    EXPECT_EQ(parse_haproxy_time_ms("1500us"), 2);
    EXPECT_FALSE(parse_haproxy_time_ms("2d"));
    EXPECT_FALSE(parse_haproxy_time_ms("5x"));
    EXPECT_FALSE(parse_haproxy_time_ms(""));
    EXPECT_FALSE(parse_haproxy_time_ms("99999999999999999999"));
}

TEST(BirdParser, StatementsBlocksStringsComments) {
    auto parsed = parse_bird(
        "router id 10.0.0.1; # comment\n"
        "/* a\n block comment */\n"
        "protocol bgp tor1 {\n"
        "  neighbor 10.0.0.2 as 65000;\n"
        "  password \"a;b{c}\";\n"
        "  ipv4 { import none; export filter { if net = 10.0.0.100/32 then accept; reject; }; };\n"
        "}\n",
        "b.conf");
    ASSERT_FALSE(parsed.error) << parsed.error->to_string();
    const auto& top = parsed.config->statements;
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0].words, (std::vector<std::string>{"router", "id", "10.0.0.1"}));
    EXPECT_EQ(top[1].line, 4);
    ASSERT_TRUE(top[1].has_block);
    ASSERT_EQ(top[1].block.size(), 3u);
    EXPECT_EQ(top[1].block[1].words[1], "\"a;b{c}\"");
    EXPECT_EQ(top[1].block[2].block[1].block.size(), 2u);  // the filter's two statements
    EXPECT_EQ(top[1].text(), "protocol bgp tor1 { ... }");
}

TEST(BirdParser, RefusesWithFileAndLine) {
    struct Case {
        const char* text;
        int line;
    };
    const Case cases[] = {
        {"router id 1.2.3.4;\nprotocol bgp x {\n", 3},
        {"}\n", 1},
        {"a \"b\n", 1},
        {"\n/* never closed\n", 2},
        {"router id 1.2.3.4\n", 1},
    };
    for (const auto& c : cases) {
        auto parsed = parse_bird(c.text, "b.conf");
        ASSERT_TRUE(parsed.error) << c.text;
        EXPECT_EQ(parsed.error->line, c.line) << c.text << ": " << parsed.error->message;
    }
    std::string deep(100, '{');
    EXPECT_TRUE(parse_bird("a " + deep, "b.conf").error);
}
