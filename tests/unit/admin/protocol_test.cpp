// The admin server as an HTTP/1.1 server facing careless or hostile clients: keep-alive,
// pipelining, malformed input, size limits, timeouts and the connection limit.
#include <gtest/gtest.h>

#include "fixture.hpp"

namespace clb::admin::testing {
namespace {

TEST_F(AdminTest, KeepAliveServesManyRequestsOnOneConnection) {
    auto client = connect();
    for (int i = 0; i < 5; ++i) {
        auto r = client->request("GET", "/healthz");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->header("connection"), "");
    }
    EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(AdminTest, PipelinedRequestsAreAnsweredInOrder) {
    auto client = connect();
    client->send(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
        "POST /api/v1/services/contrail-api/backends/api1/drain HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Length: 5\r\n\r\nhello"
        "GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n");
    auto r1 = client->read_response();
    auto r2 = client->read_response();
    auto r3 = client->read_response();
    auto r4 = client->read_response();
    ASSERT_TRUE(r1 && r2 && r3 && r4);
    EXPECT_EQ(r1->body, "ok");
    EXPECT_EQ(r2->status, 404);
    EXPECT_EQ(r3->status, 200);
    EXPECT_NE(r4->body.find(R"("name":"api1","address":"127.0.0.1:18082","state":"DRAINED")"),
              std::string::npos);
}

TEST_F(AdminTest, HeadHasLengthButNoBody) {
    auto client = connect();
    auto r = client->request("HEAD", "/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_GT(std::stoul(r->header("content-length")), 100u);
    // The next response starts right away: no body bytes were sent.
    auto next = client->request("GET", "/healthz");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "ok");
}

TEST_F(AdminTest, Http10WithoutKeepAliveIsClosed) {
    auto client = connect();
    client->send("GET /healthz HTTP/1.0\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(client->wait_closed());
}

TEST_F(AdminTest, Http10KeepAliveIsConfirmed) {
    auto client = connect();
    for (int i = 0; i < 2; ++i) {
        client->send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        auto r = client->read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "ok");
        EXPECT_EQ(r->header("connection"), "keep-alive");
    }
    EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(AdminTest, ConnectionCloseIsHonoured) {
    auto client = connect();
    client->send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(client->wait_closed());
}

// Each malformed request gets a 400 and the connection is closed: nothing after it is read.
TEST_F(AdminTest, MalformedRequestsAre400AndClose) {
    for (const char* raw : {
             "GARBAGE\r\n\r\n",
             "GET /healthz HTTP/9.9\r\n\r\n",
             "GET /healthz HTTP/1.1\r\nHost a\r\n\r\n",
             "GET /healthz HTTP/1.1\r\nHost: localhost\r\n folded: x\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: "
             "2\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: "
             "chunked\r\n\r\nzz\r\n",
         }) {
        SCOPED_TRACE(raw);
        auto client = connect();
        client->send(raw);
        client->send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        auto r = client->read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400);
        EXPECT_EQ(r->header("connection"), "close");
        EXPECT_TRUE(client->wait_closed());
        EXPECT_EQ(client->unread(), "") << "a request after a malformed one must not be served";
    }
}

// RFC 9110 §5.5: an empty field value is valid (llhttp reports it as an empty span at the
// start of the next line, which once passed for obs-fold).
TEST_F(AdminTest, EmptyHeaderValuesAreAccepted) {
    auto client = connect();
    for (const char* path : {"/healthz", "/metrics"}) {
        SCOPED_TRACE(path);
        client->send(std::string("GET ") + path +
                     " HTTP/1.1\r\nX-Empty:\r\nHost: localhost\r\nX-Blank: \t \r\n\r\n");
        auto r = client->read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->header("connection"), "");
    }
}

// Whitespace around a value is not part of it, the token included.
TEST_F(AdminTest, TokenIsReadWithoutSurroundingWhitespace) {
    server_->set_token("t0ken");
    const std::string drain =
        "POST /api/v1/services/contrail-api/backends/api1/drain HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Length: 0\r\n";
    auto client = connect();
    client->send(drain + "Authorization: \tBearer t0ken \t \r\nX-Empty:\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(entry("contrail-api", "api1").drained);
    client->send(drain + "Authorization: Bearer t0ken x\r\n\r\n");
    r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
}

// An empty first Host (or token) must not let a second one in unnoticed.
TEST_F(AdminTest, DuplicateFieldAfterAnEmptyOneIs400) {
    for (const char* raw : {"GET /healthz HTTP/1.1\r\nHost:\r\nHost: localhost\r\n\r\n",
                            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nAuthorization:\r\n"
                            "Authorization: Bearer x\r\n\r\n"}) {
        SCOPED_TRACE(raw);
        auto client = connect();
        client->send(raw);
        auto r = client->read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400);
    }
}

// obs-fold (RFC 9112 §5.2) stays refused, whatever precedes it and however the bytes
// arrive: all at once or one per read.
TEST_F(AdminTest, ObsoleteLineFoldingIs400) {
    for (const char* fields : {"X-A: a\r\n b\r\n", "X-A: a\r\n\tb\r\n", "X-A:\r\n b\r\n",
                               "X-A:\r\n \r\n", "X-A:  \r\n \t b\r\n", "X-A: a \r\n \r\n"}) {
        for (bool bytewise : {false, true}) {
            SCOPED_TRACE(std::string(fields) + (bytewise ? " (byte by byte)" : ""));
            // After a whole request on the same connection: the scan restarts per message.
            std::string raw = std::string("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n") +
                              "\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n" + fields + "\r\n";
            auto client = connect();
            if (!bytewise) client->send(raw);
            for (size_t i = 0; bytewise && i < raw.size(); ++i) {
                client->send(raw.substr(i, 1));
                ev_run(loop_.raw(), EVRUN_NOWAIT);
            }
            auto first = client->read_response();
            auto second = client->read_response();
            ASSERT_TRUE(first && second);
            EXPECT_EQ(first->status, 200);
            EXPECT_EQ(second->status, 400);
            EXPECT_TRUE(client->wait_closed());
        }
    }
}

// A body may hold anything, line breaks followed by spaces too.
TEST_F(AdminTest, BodyIsNotScannedForFolding) {
    auto client = connect();
    client->send(
        "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n\r\na\r\n b\n"
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    auto r1 = client->read_response();
    auto r2 = client->read_response();
    ASSERT_TRUE(r1 && r2);
    EXPECT_NE(r1->status, 400);
    EXPECT_EQ(r2->status, 200);
}

TEST_F(AdminTest, OversizedHeadIs431) {
    auto client = connect();
    client->send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                 std::string(70 * 1024, 'a') + "\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
    EXPECT_TRUE(client->wait_closed());
}

TEST_F(AdminTest, TooManyHeadersIs431) {
    std::string raw = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
    for (int i = 0; i < 200; ++i)
        raw += "X-H" + std::to_string(i) + ": v\r\n";
    auto client = connect();
    client->send(raw + "\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
}

TEST_F(AdminTest, OversizedBodyIs413) {
    auto client = connect();
    client->send(
        "POST /api/v1/services/contrail-api/backends/api1/drain HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Length: 1000000\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(client->wait_closed());
    EXPECT_FALSE(entry("contrail-api", "api1").drained);
}

TEST_F(AdminTest, OversizedChunkedBodyIs413) {
    auto client = connect();
    client->send(
        "POST /api/v1/services/contrail-api/backends/api1/drain HTTP/1.1\r\nHost: localhost\r\n"
        "Transfer-Encoding: chunked\r\n\r\n");
    std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
    for (int i = 0; i < 5; ++i)
        client->send(chunk);
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_FALSE(entry("contrail-api", "api1").drained);
}

TEST_F(AdminTest, SmallChunkedBodyIsAccepted) {
    auto client = connect();
    client->send(
        "POST /api/v1/services/contrail-api/backends/api1/drain HTTP/1.1\r\nHost: localhost\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(entry("contrail-api", "api1").drained);
}

TEST_F(AdminTest, UpgradeIsAnsweredThenClosed) {
    auto client = connect();
    client->send(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: "
        "websocket\r\n\r\n");
    auto r = client->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(client->wait_closed());
}

class AdminTimeoutTest : public AdminTest {
  protected:
    void SetUp() override {
        Limits limits;
        limits.request_timeout = 0.2;
        limits.idle_timeout = 0.3;
        limits.max_connections = 2;
        limits.max_body_bytes = 1024;
        start(limits);
    }
};

TEST_F(AdminTimeoutTest, SlowRequestGets408AndClose) {
    auto client = connect();
    client->send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");  // never finished
    auto r = client->read_response(false, 2s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(client->wait_closed());
}

TEST_F(AdminTimeoutTest, TrickledRequestStillTimesOut) {
    auto client = connect();
    client->send("GET /healthz HTTP/1.1\r\n");
    auto start = Clock::now();
    std::optional<HttpResponse> r;
    // A byte every 50 ms never completes the head; the deadline counts from the first byte.
    while (!r && Clock::now() - start < 2s) {
        client->send("X");
        r = client->read_response(false, 50ms);
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
}

TEST_F(AdminTimeoutTest, IdleConnectionIsClosed) {
    auto client = connect();
    ASSERT_TRUE(client->request("GET", "/healthz"));
    EXPECT_TRUE(client->wait_closed(2s));
    EXPECT_TRUE(run_until(loop_, [&] { return server_->connection_count() == 0; }));
}

TEST_F(AdminTimeoutTest, SilentConnectionIsClosed) {
    auto client = connect();
    EXPECT_TRUE(client->wait_closed(2s));
}

TEST_F(AdminTimeoutTest, ConnectionsOverTheLimitAreRefused) {
    auto a = connect();
    auto b = connect();
    ASSERT_TRUE(run_until(loop_, [&] { return server_->connection_count() == 2; }));
    auto c = connect();
    auto r = c->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(server_->connection_count(), 2u);
    // The held connections still work, and a freed slot is usable again.
    ASSERT_TRUE(a->request("GET", "/healthz"));
    b.reset();
    ASSERT_TRUE(run_until(loop_, [&] { return server_->connection_count() == 1; }));
    auto d = connect();
    auto r2 = d->request("GET", "/healthz");
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 200);
}

TEST_F(AdminTimeoutTest, ClientThatNeverReadsIsDropped) {
    auto client = connect();
    // Pipeline many /stats requests and read nothing: the server must stop reading,
    // keep bounded output, and give up after the request timeout.
    std::string many;
    for (int i = 0; i < 200; ++i)
        many += "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    client->send(many);
    EXPECT_TRUE(run_until(
        loop_, [&] { return server_->connection_count() == 0; }, 3s));
}

TEST_F(AdminTest, ServesOnIpv6Loopback) {
    int error = 0;
    net::ListenOptions options;
    options.reuse_port = false;
    if (!net::listen_tcp(*net::SocketAddress::parse("[::1]:0"), options, error))
        GTEST_SKIP() << "no ::1 here: " << net::error_text(error);
    Server v6(loop_.raw(), *net::SocketAddress::parse("[::1]:0"), sources_of(&registry_));
    EXPECT_TRUE(v6.address().to_string().starts_with("[::1]:"));
    Client client(loop_, v6.address());
    auto r = client.request("POST", "/api/v1/services/contrail-api/backends/api3/drain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(entry("contrail-api", "api3").drained);
}

}  // namespace
}  // namespace clb::admin::testing
