// The parts of the HTTP session over real TCP sockets on 127.0.0.1, without the binary:
// the backend side (HttpUpstream: request out, response in, whether the connection may
// be pooled), the way back (ResponseOut) and the access record in both log formats.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "contrail_lb/log/writer.hpp"
#include "contrail_lb/net/loop.hpp"
#include "proxy/access_log.hpp"
#include "proxy/http_response.hpp"
#include "proxy/http_upstream.hpp"
#include "proxy/stream.hpp"
#include "sockets.hpp"

namespace clb::proxy {
namespace {

struct NoOwner : UpstreamOwner {
    void on_upstream_event(int) override {}
};

// An HttpUpstream attached to one end of a TCP pair; the test plays the backend on `far`.
struct BackendSide {
    net::Loop loop;
    BufferPool buffers;
    std::shared_ptr<runtime::Backend> backend = std::make_shared<runtime::Backend>(
        "api", "b1", *net::SocketAddress::parse("127.0.0.1:8082"));
    TcpPair pair;
    NoOwner owner;
    HttpUpstream up;
    BackendSide() {
        up.attach(std::make_unique<Upstream>(loop.raw(), std::move(pair.near), backend, buffers),
                  owner, 1.0);
        up.conn().connected = true;
    }
    ~BackendSide() { up.reset(); }
    // Parses a response head that announces `length` body bytes, from the buffer.
    void read_head(const std::string& head) {
        send_all(pair.far.get(), head);
        while (up.in().size() < head.size())
            up.read(nullptr);
        ASSERT_TRUE(up.parser().parse_head(up.in().data(), head.size()));
        up.in().consume(head.size());
    }
    // Reads until the body is complete (it arrives in one short read when small).
    void read_body() {
        while (!up.parser().message_complete()) {
            up.read(nullptr);
            auto step = up.parser().parse_body(up.in().data(), up.in().size());
            ASSERT_FALSE(step.error);
            up.in().consume(step.ready);
        }
    }
};

TEST(HttpUpstream, SendsTheHeadThenTheFramedBodyAndCountsThem) {
    BackendSide side;
    side.up.head() = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    IoBuffer body(std::make_unique<char[]>(kBufferSize));
    size_t room = 0;
    std::memcpy(body.space(room), "hellonext", 9);
    body.commit(9);
    size_t ahead = 5;  // "next" is the following request, not framed yet
    EXPECT_TRUE(side.up.wants_write(ahead));
    auto sent = side.up.send(body, ahead);
    EXPECT_TRUE(sent.head_finished);
    EXPECT_EQ(sent.bytes, side.up.head().size() + 5);
    EXPECT_EQ(ahead, 0u);
    EXPECT_EQ(body.view(), "next");
    EXPECT_FALSE(side.up.wants_write(ahead));
    EXPECT_EQ(side.backend->bytes_out.get(), sent.bytes);
    std::string got;
    while (got.size() < sent.bytes)
        got += recv_some(side.pair.far.get(), 4096);
    EXPECT_EQ(got, side.up.head() + "hello");
    // The same request again on another connection starts with its head.
    side.up.resend();
    EXPECT_TRUE(side.up.wants_write(0));
}

TEST(HttpUpstream, PooledOnlyWithNothingPending) {
    BackendSide side;
    side.read_head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    send_all(side.pair.far.get(), "ok");
    side.read_body();
    EXPECT_EQ(side.up.reuse(true, false), HttpUpstream::Reuse::yes);
    EXPECT_EQ(side.up.reuse(false, false), HttpUpstream::Reuse::no);  // request not all sent
    EXPECT_EQ(side.up.reuse(true, true), HttpUpstream::Reuse::no);    // draining
    send_all(side.pair.far.get(), "STALE");                           // after the response
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    side.up.conn().may_hold_more = true;  // as after a read that filled its room
    EXPECT_EQ(side.up.reuse(true, false), HttpUpstream::Reuse::surplus);
    side.up.read(nullptr);  // now in the buffer
    EXPECT_EQ(side.up.reuse(true, false), HttpUpstream::Reuse::surplus);
}

TEST(HttpUpstream, ABackendThatClosedIsNotPooled) {
    BackendSide side;
    side.read_head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    send_all(side.pair.far.get(), "ok");
    side.read_body();
    side.pair.far.reset();  // FIN
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    side.up.conn().may_hold_more = true;
    EXPECT_EQ(side.up.reuse(true, false), HttpUpstream::Reuse::no);
}

// The slot the Connector took (max_connections, leastconn) goes back once, when the
// backend's part is done.
TEST(HttpUpstream, GivesItsBackendSlotBackOnce) {
    BackendSide side;
    ASSERT_TRUE(side.backend->take_slot(1));   // as the Connector does before attach()
    EXPECT_FALSE(side.backend->take_slot(1));  // at its limit
    EXPECT_EQ(side.backend->active_connections.load(), 1);
    side.up.uncount_active();
    side.up.uncount_active();  // once only
    EXPECT_EQ(side.backend->active_connections.load(), 0);
}

TEST(ResponseOut, HeadAndBodyGoInOneWrite) {
    TcpPair client_pair;
    Stream client(std::move(client_pair.near), nullptr);
    ResponseOut out;
    out.start_head() = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    IoBuffer body(std::make_unique<char[]>(kBufferSize));
    size_t room = 0;
    std::memcpy(body.space(room), "bodyHTTP", 8);
    body.commit(8);
    out.ahead = 4;
    EXPECT_TRUE(out.pending());
    auto written = out.write(client, body, 0);
    EXPECT_EQ(written.error, 0);
    EXPECT_EQ(written.body, 4u);
    EXPECT_FALSE(out.pending());
    EXPECT_EQ(body.view(), "HTTP");  // the next response's start stays
    EXPECT_EQ(recv_some(client_pair.far.get(), 4096),
              "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
}

TEST(ResponseOut, AClosedClientIsAnError) {
    TcpPair client_pair;
    Stream client(std::move(client_pair.near), nullptr);
    client_pair.far.reset();
    ResponseOut out;
    IoBuffer body(std::make_unique<char[]>(kBufferSize));
    int error = 0;
    for (int i = 0; i < 100 && !error; ++i) {
        out.start_head() = std::string(16384, 'x');
        error = out.write(client, body, 0).error;
    }
    EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << error;
}

// Everything the writer's output pipe holds once `text` shows up in it.
std::string written_with(log::Writer& writer, int read_end, const std::string& text) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (out.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        writer.wake();
        pollfd p{read_end, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(read_end, buf, sizeof buf);
        if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

AccessRecord retried_request() {
    AccessRecord r;
    r.client = *net::SocketAddress::parse("10.1.2.3:40000");
    r.service = "api";
    r.backend = "b2";
    r.request_line = "GET /a HTTP/1.1";
    r.status = 200;
    r.bytes_up = 120;
    r.bytes_down = 345;
    r.timers = {0.0004, 0, 0.0021, 0.0153, 0.0182};
    r.retries = 1;
    r.cause = runtime::Termination::completed;
    r.phase = runtime::Phase::data;
    return r;
}

TEST(AccessLog, TextLineCarriesTheTimersAndTheStory) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        log::Writer writer(fds[1]);
        AccessLog access(&writer);
        access.append(retried_request());
        access.flush();
        std::string text = written_with(writer, fds[0], "\n");
        EXPECT_TRUE(std::regex_search(
            text, std::regex(R"(\[info\] access: 10\.1\.2\.3:40000 api b2 "GET /a HTTP/1\.1" 200 )"
                             R"(345 0\.018s completed phase=data timers=0/0/2/15/18 retries=1 )"
                             R"(conn=new up=120\n)")))
            << text;
    }
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(AccessLog, JsonLineHasTheSameFields) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        log::Writer writer(fds[1]);
        writer.set_json(true);
        AccessLog access(&writer);
        AccessRecord r = retried_request();
        r.tcp = true;
        r.backend = {};
        r.reason = "no \"backend\"";
        access.append(r);
        access.flush();
        std::string text = written_with(writer, fds[0], "}\n");
        EXPECT_NE(text.find(R"("level":"info","msg":"access","client":"10.1.2.3:40000",)"
                            R"("service":"api","backend":null,"mode":"tcp","bytes_up":120,)"
                            R"("bytes_down":345,"timers_ms":{"request":0,"queue":0,"connect":2,)"
                            R"("response":15,"total":18},"retries":1,"connection":"new",)"
                            R"("termination":"completed","phase":"data",)"
                            R"("reason":"no \"backend\""})"),
                  std::string::npos)
            << text;
    }
    ::close(fds[0]);
    ::close(fds[1]);
}

}  // namespace
}  // namespace clb::proxy
