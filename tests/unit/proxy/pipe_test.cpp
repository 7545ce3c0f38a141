// Bodies spliced socket to socket through a pipe (src/proxy/pipe.hpp), over real TCP
// connections on 127.0.0.1: exact bytes, the message boundary, back-pressure, EOF and
// a failed peer.
#include "proxy/pipe.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "contrail_lb/http/parser.hpp"
#include "sockets.hpp"

namespace clb::proxy {
namespace {

std::string body_of(size_t size) {
    std::string body(size, '\0');
    for (size_t i = 0; i < size; ++i)
        body[i] = static_cast<char>('a' + i % 26);
    return body;
}

// A response parser past a head announcing `content_length` body bytes.
struct ResponseParser : http::MessageParser {
    explicit ResponseParser(size_t content_length) : http::MessageParser(http::Kind::response) {
        std::string head =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
        EXPECT_TRUE(parse_head(head.data(), head.size()));
    }
};

TEST(SplicePipe, MovesABodyExactlyAndStopsAtItsEnd) {
    TcpPair from, to;
    std::string body = body_of(300'000);
    ResponseParser parser(body.size());
    auto pipe = SplicePipe::open();
    ASSERT_TRUE(pipe);
    std::string next = "HTTP/1.1 204 No Content\r\n\r\n";  // the next message, pipelined
    std::string received;
    std::thread sender([&] { send_all(from.far.get(), body + next); });
    while (!(parser.message_complete() && pipe->empty())) {
        ReadResult r = fill_body(*pipe, from.near.get(), parser);
        ASSERT_GE(r.n, 0);
        ASSERT_FALSE(r.eof);
        auto drained = pipe->drain(to.near.get());
        ASSERT_EQ(drained.error, 0);
        received += recv_some(to.far.get(), 1 << 20);
    }
    sender.join();
    while (received.size() < body.size())
        received += recv_some(to.far.get(), 1 << 20);
    EXPECT_EQ(received, body);
    // What follows the body stayed in the socket, for the parser of the next message.
    EXPECT_EQ(recv_some(from.near.get(), 1024), next);
}

TEST(SplicePipe, FullPipeIsBlockedUntilDrained) {
    TcpPair from, to;
    std::string body = body_of(1 << 20);
    ResponseParser parser(body.size());
    send_all(from.far.get(), body.substr(0, 512 * 1024));
    auto pipe = SplicePipe::open();
    ASSERT_TRUE(pipe);
    while (fill_body(*pipe, from.near.get(), parser).n > 0) {
    }
    EXPECT_TRUE(pipe->blocked());
    EXPECT_GT(pipe->size(), 0u);
    // Blocked: nothing more is taken from the socket, however often it is asked.
    EXPECT_EQ(fill_body(*pipe, from.near.get(), parser).n, 0);
    size_t held = pipe->size();
    auto drained = pipe->drain(to.near.get());
    EXPECT_EQ(drained.moved, held);
    EXPECT_FALSE(pipe->blocked());
    EXPECT_GT(fill_body(*pipe, from.near.get(), parser).n, 0);
}

TEST(SplicePipe, ReportsEofAndAFailedPeer) {
    TcpPair from, to;
    ResponseParser parser(1 << 20);
    auto pipe = SplicePipe::open();
    ASSERT_TRUE(pipe);
    send_all(from.far.get(), body_of(1000));
    from.far.reset();  // the sender closes mid-body
    ReadResult r;
    do {
        r = fill_body(*pipe, from.near.get(), parser);
    } while (r.n > 0);
    EXPECT_TRUE(r.eof);
    EXPECT_EQ(pipe->size(), 1000u);
    EXPECT_FALSE(parser.message_complete());
    // The receiver resets: the drain fails with its errno, never SIGPIPE.
    linger hard{1, 0};
    ::setsockopt(to.far.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    to.far.reset();
    SplicePipe::Drained drained;
    for (int i = 0; i < 100 && drained.error == 0; ++i)
        drained = pipe->drain(to.near.get());
    EXPECT_TRUE(drained.error == ECONNRESET || drained.error == EPIPE) << drained.error;
}

TEST(PipePool, KeepsOnlyEmptyPipes) {
    std::atomic<uint32_t> open{0}, allowed{8};
    PipePool pool(open, allowed);
    auto pipe = pool.get();
    ASSERT_TRUE(pipe);
    SplicePipe* first = pipe.get();
    pool.put(std::move(pipe));
    auto again = pool.get();
    EXPECT_EQ(again.get(), first);

    TcpPair from;
    ResponseParser parser(10);
    send_all(from.far.get(), "0123");
    for (int i = 0; i < 1000 && again->empty(); ++i)
        fill_body(*again, from.near.get(), parser);
    ASSERT_FALSE(again->empty());
    pool.put(std::move(again));  // holds bytes of a body that was cut short: closed
    auto fresh = pool.get();
    ASSERT_TRUE(fresh);
    EXPECT_TRUE(fresh->empty());
    EXPECT_EQ(open, 1u);
}

// Pipes take fds that connections need first: past the allowance the pool says no (the
// body is copied), and near it an idle pipe is closed instead of kept.
TEST(PipePool, StaysWithinTheAllowanceSharedByWorkers) {
    std::atomic<uint32_t> open{0}, allowed{4};
    PipePool one(open, allowed), other(open, allowed);
    std::vector<std::unique_ptr<SplicePipe>> held;
    for (int i = 0; i < 4; ++i)
        held.push_back(i % 2 ? one.get() : other.get());
    for (const auto& pipe : held)
        ASSERT_TRUE(pipe);
    EXPECT_EQ(open, 4u);
    EXPECT_FALSE(one.get());
    EXPECT_FALSE(other.get());
    one.put(std::move(held.back()));  // 4 open of 4: closed, not pooled
    held.pop_back();
    EXPECT_EQ(open, 3u);
    auto fourth = other.get();  // room again
    EXPECT_TRUE(fourth);
    held.clear();
    fourth.reset();
    EXPECT_EQ(open, 0u);
}

}  // namespace
}  // namespace clb::proxy
