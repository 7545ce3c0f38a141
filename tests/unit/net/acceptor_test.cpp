// The Acceptor on a real listening socket: accepts in bursts, and pauses instead of
// spinning when the process is out of file descriptors (EMFILE), then resumes.
#include "contrail_lb/net/acceptor.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <vector>

#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

namespace clb::net {
namespace {

struct Listener {
    Listener() {
        int err = 0;
        fd = listen_tcp(*SocketAddress::parse("127.0.0.1:0"), {}, err);
        EXPECT_TRUE(fd) << error_text(err);
        address = local_address(fd.get());
    }
    Fd connect() const {
        int err = 0;
        Fd client = connect_tcp(address, err);
        EXPECT_TRUE(client) << error_text(err);
        return client;
    }
    Fd fd;
    SocketAddress address;
};

// Runs `loop` until `done` or `seconds` have passed.
template <typename Done>
bool run_until(Loop& loop, Done done, double seconds = 2.) {
    Timer tick(loop.raw(), [&] {
        if (done()) loop.stop();
    });
    Timer deadline(loop.raw(), [&] { loop.stop(); });
    tick.start(0.001, 0.001);
    deadline.start(seconds);
    loop.run();
    return done();
}

// Fills the fd table (under a lowered soft limit) for as long as it lives.
class FdExhaustion {
  public:
    FdExhaustion() {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit low = saved_;
        low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 512);
        ::setrlimit(RLIMIT_NOFILE, &low);
        for (;;) {
            Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
            if (!fd) break;
            held_.push_back(std::move(fd));
        }
    }
    ~FdExhaustion() {
        held_.clear();
        ::setrlimit(RLIMIT_NOFILE, &saved_);
    }
    void release() { held_.clear(); }

  private:
    rlimit saved_{};
    std::vector<Fd> held_;
};

TEST(Acceptor, HandsOverEveryConnectionWithItsPeer) {
    Loop loop;
    Listener listener;
    std::vector<SocketAddress> peers;
    Acceptor acceptor(loop.raw(), "test listener", [&](Fd fd, const SocketAddress& peer) {
        EXPECT_TRUE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
        peers.push_back(peer);
    });
    acceptor.start(listener.fd.get());
    Fd a = listener.connect();
    Fd b = listener.connect();
    EXPECT_TRUE(run_until(loop, [&] { return peers.size() == 2; }));
    EXPECT_EQ(peers[0], local_address(a.get()));
    EXPECT_EQ(peers[1], local_address(b.get()));
    EXPECT_FALSE(acceptor.paused());
}

TEST(Acceptor, StoppedAcceptorLeavesConnectionsQueued) {
    Loop loop;
    Listener listener;
    int accepted = 0;
    Acceptor acceptor(loop.raw(), "test listener", [&](Fd, const SocketAddress&) { ++accepted; });
    acceptor.start(listener.fd.get());
    acceptor.stop();
    Fd client = listener.connect();
    EXPECT_FALSE(run_until(loop, [&] { return accepted > 0; }));
    acceptor.start(listener.fd.get());
    EXPECT_TRUE(run_until(loop, [&] { return accepted == 1; }));
}

TEST(Acceptor, PausesOnEmfileAndResumesWhenFdsAreBack) {
#if defined(__SANITIZE_ADDRESS__)
    // UBSan's vptr check reads memory through a pipe on each type it has not seen yet: with
    // the fd table full it reports every first virtual call in the logging path as an
    // invalid vptr. The release build runs this test, and test_fd_exhaustion.py the binary.
    GTEST_SKIP() << "fd exhaustion breaks the sanitizer runtime's own checks";
#endif
    Loop loop;
    Listener listener;
    std::atomic<uint64_t> pauses{0};
    int accepted = 0;
    Acceptor acceptor(
        loop.raw(), "test listener", [&](Fd, const SocketAddress&) { ++accepted; }, &pauses);
    acceptor.start(listener.fd.get());
    Fd client = listener.connect();
    {
        FdExhaustion exhaustion;
        EXPECT_TRUE(run_until(loop, [&] { return acceptor.paused(); }));
        EXPECT_EQ(accepted, 0);
        EXPECT_GE(pauses.load(), 1u);
        // Paused, not spinning: one pause per Acceptor::kPause at most.
        uint64_t before = pauses.load();
        run_until(
            loop, [] { return false; }, 0.5);
        EXPECT_LE(pauses.load() - before, static_cast<uint64_t>(0.5 / Acceptor::kPause) + 2);
    }
    EXPECT_TRUE(run_until(loop, [&] { return accepted == 1; }));
    EXPECT_FALSE(acceptor.paused());
}

TEST(Acceptor, ExhaustionErrorsAreTheResourceOnes) {
    for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM})
        EXPECT_TRUE(accept_exhausted(e)) << e;
    for (int e : {EAGAIN, ECONNABORTED, EINTR, EPERM})
        EXPECT_FALSE(accept_exhausted(e)) << e;
}

}  // namespace
}  // namespace clb::net
