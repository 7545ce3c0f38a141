// The proxy's own answers an operator configures: error pages (HAProxy errorfile) and
// scheme redirects (HAProxy redirect scheme).
#include <gtest/gtest.h>

#include "contrail_lb/http/responses.hpp"

using namespace clb::http;

namespace {

std::string page_or_error(std::string_view file) {
    std::string error;
    auto page = make_error_page(file, error);
    return page ? *page : "error: " + error;
}

std::string redirect(int code, std::string_view scheme, uint16_t port, std::string_view host,
                     std::string_view target, std::string_view connection = "") {
    std::string out;
    append_redirect(out, code, scheme, port, host, target, connection);
    return out;
}

}  // namespace

TEST(ErrorPage, CompleteResponseKeepsItsFieldsAndClosesTheConnection) {
    EXPECT_EQ(page_or_error("HTTP/1.1 503 Service Unavailable\r\nX-Page: maint\r\n"
                            "Content-Length: 5\r\nConnection: keep-alive\r\n\r\nsorry"),
              "HTTP/1.1 503 Service Unavailable\r\nX-Page: maint\r\nContent-Length: 5\r\n"
              "Connection: close\r\n\r\nsorry");
}

TEST(ErrorPage, LfHeadBecomesCrlfAndTheLengthIsAdded) {
    // The body is bytes: its LF line endings stay, and count in the length.
    EXPECT_EQ(page_or_error("HTTP/1.0 503 Service Unavailable\nContent-Type: text/html\n\n"
                            "<p>down</p>\n"),
              "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n"
              "Content-Length: 12\r\nConnection: close\r\n\r\n<p>down</p>\n");
}

TEST(ErrorPage, FieldsNamedByConnectionAreDropped) {
    EXPECT_EQ(page_or_error("HTTP/1.1 502 Bad Gateway\r\nConnection: X-A\r\nX-A: 1\r\n\r\n"),
              "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(ErrorPage, WhatIsNotAResponseIsRefused) {
    EXPECT_EQ(page_or_error("<html>maintenance</html>\n"),
              "error: not an HTTP response: no empty line after the headers");
    EXPECT_EQ(page_or_error("<html>\n\nbody"),
              "error: not an HTTP/1.x response: malformed start line");
    EXPECT_EQ(page_or_error("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
              "error: not an HTTP/1.x response: a request line");
    EXPECT_EQ(page_or_error("HTTP/2 503 Service Unavailable\r\n\r\n"),
              "error: not an HTTP/1.x response: unsupported HTTP version");
    EXPECT_EQ(page_or_error("HTTP/1.1 503 Down\r\nBad Field: x\r\n\r\n"),
              "error: not an HTTP/1.x response: malformed header field name");
    EXPECT_EQ(page_or_error("HTTP/1.1 100 Continue\r\n\r\n"),
              "error: status 100 is not a final response (200..599)");
}

TEST(ErrorPage, FramingMustBeWhatTheFileHolds) {
    EXPECT_EQ(page_or_error("HTTP/1.1 503 Down\r\nContent-Length: 9\r\n\r\nsorry"),
              "error: Content-Length is 9 but the body has 5 bytes");
    EXPECT_EQ(page_or_error("HTTP/1.1 503 Down\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
              "error: Transfer-Encoding is not supported: give the body as is, with or without "
              "Content-Length");
}

TEST(Redirect, SchemeHostPortAndTarget) {
    EXPECT_EQ(redirect(301, "https", 8143, "ui.example:8080", "/a/b?c=d"),
              "HTTP/1.1 301 Moved Permanently\r\nLocation: https://ui.example:8143/a/b?c=d\r\n"
              "Content-Length: 0\r\nCache-Control: no-cache\r\n\r\n");
}

TEST(Redirect, DefaultPortIsLeftOut) {
    auto location = [](std::string_view scheme, uint16_t port, std::string_view host) {
        auto out = redirect(302, scheme, port, host, "/");
        auto at = out.find("Location: ") + 10;
        return out.substr(at, out.find("\r\n", at) - at);
    };
    EXPECT_EQ(location("https", 443, "ui.example:8080"), "https://ui.example/");
    EXPECT_EQ(location("http", 80, "ui.example"), "http://ui.example/");
    EXPECT_EQ(location("http", 443, "ui.example"), "http://ui.example:443/");
    EXPECT_EQ(location("https", 8143, "[::1]:8080"), "https://[::1]:8143/");
    EXPECT_EQ(location("https", 443, "10.0.0.1"), "https://10.0.0.1/");
}

TEST(Redirect, AbsoluteFormTargetKeepsOnlyPathAndQuery) {
    auto location = [](std::string_view target) {
        auto out = redirect(308, "https", 443, "h", target);
        auto at = out.find("Location: ") + 10;
        return out.substr(at, out.find("\r\n", at) - at);
    };
    EXPECT_EQ(location("http://other:8080/x?y"), "https://h/x?y");
    EXPECT_EQ(location("http://other:8080"), "https://h/");
    EXPECT_EQ(location("http://other?q"), "https://h/?q");
    EXPECT_EQ(location("*"), "https://h/");
}

TEST(Redirect, ReasonAndConnection) {
    EXPECT_EQ(redirect(307, "https", 443, "h", "/", "close"),
              "HTTP/1.1 307 Temporary Redirect\r\nLocation: https://h/\r\nContent-Length: 0\r\n"
              "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(redirect_reason(302), "Found");
    EXPECT_EQ(redirect_reason(303), "See Other");
    EXPECT_EQ(redirect_reason(308), "Permanent Redirect");
}
