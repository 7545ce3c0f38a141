// The libev wrappers on real loops: watchers fire, stop, and stop themselves when
// destroyed; an AsyncWaker wakes a loop from another thread.
#include "contrail_lb/net/loop.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

#include "contrail_lb/net/fd.hpp"

namespace clb::net {
namespace {

struct SocketPair {
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
    Fd a, b;
};

// A guard for tests whose loop should have been stopped by what they test.
struct Deadline {
    Deadline(Loop& loop, double seconds)
        : timer(loop.raw(), [&loop, this] {
              expired = true;
              loop.stop();
          }) {
        timer.start(seconds);
    }
    Timer timer;
    bool expired = false;
};

TEST(Loop, TimerFiresOnceThenIsInactive) {
    Loop loop;
    int fired = 0;
    Timer timer(loop.raw(), [&] { ++fired; });
    EXPECT_FALSE(timer.active());
    EXPECT_EQ(timer.remaining(), 0.);
    timer.start(0.01);
    EXPECT_TRUE(timer.active());
    EXPECT_GT(timer.remaining(), 0.);
    EXPECT_LE(timer.remaining(), 0.01 + 1e-6);  // loop time and the clock, not rounding
    loop.run();                                 // returns when no watcher is left active
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(timer.active());
}

TEST(Loop, RepeatingTimerUntilStopped) {
    Loop loop;
    int fired = 0;
    std::unique_ptr<Timer> timer;
    timer = std::make_unique<Timer>(loop.raw(), [&] {
        if (++fired < 3) return;
        timer->stop();
        loop.stop();
    });
    timer->start(0.001, 0.001);
    Deadline deadline(loop, 2.);
    loop.run();
    EXPECT_FALSE(deadline.expired);
    EXPECT_EQ(fired, 3);
    EXPECT_FALSE(timer->active());
}

TEST(Loop, StoppedOrDestroyedTimerNeverFires) {
    Loop loop;
    bool fired = false;
    Timer stopped(loop.raw(), [&] { fired = true; });
    stopped.start(0.001);
    stopped.stop();
    {
        Timer destroyed(loop.raw(), [&] { fired = true; });
        destroyed.start(0.001);
    }
    Timer last(loop.raw(), [] {});
    last.start(0.02);  // outlives the other two by far
    loop.run();
    EXPECT_FALSE(fired);
}

TEST(Loop, IoWatcherSeesReadableAndWritable) {
    Loop loop;
    SocketPair pair;
    int seen = 0;
    IoWatcher watcher(loop.raw(), [&](int revents) {
        seen = revents;
        loop.stop();
    });
    watcher.start(pair.a.get(), EV_READ);
    EXPECT_TRUE(watcher.active());
    EXPECT_EQ(watcher.events(), EV_READ);
    ASSERT_EQ(::write(pair.b.get(), "x", 1), 1);
    Deadline deadline(loop, 2.);
    loop.run();
    EXPECT_FALSE(deadline.expired);
    EXPECT_TRUE(seen & EV_READ);

    watcher.start(pair.a.get(), EV_WRITE);  // restart with other events
    EXPECT_EQ(watcher.events(), EV_WRITE);
    seen = 0;
    loop.run();
    EXPECT_TRUE(seen & EV_WRITE);
    watcher.stop();
    EXPECT_FALSE(watcher.active());
}

TEST(Loop, DestroyedIoWatcherLeavesTheLoop) {
    Loop loop;
    SocketPair pair;
    bool called = false;
    {
        IoWatcher watcher(loop.raw(), [&](int) { called = true; });
        watcher.start(pair.a.get(), EV_WRITE);  // ready at once
    }
    ev_run(loop.raw(), EVRUN_NOWAIT);
    EXPECT_FALSE(called);
}

TEST(Loop, AsyncWakerRunsItsCallbackOnTheLoopThread) {
    Loop loop;
    std::thread::id ran_on;
    AsyncWaker waker(loop.raw(), [&] {
        ran_on = std::this_thread::get_id();
        loop.stop();
    });
    Deadline deadline(loop, 5.);
    std::thread other([&] { waker.send(); });
    loop.run();
    other.join();
    EXPECT_FALSE(deadline.expired);
    EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(Loop, SendsBeforeTheLoopRunsCoalesce) {
    Loop loop;
    int calls = 0;
    AsyncWaker waker(loop.raw(), [&] { ++calls; });
    waker.send();
    waker.send();
    ev_run(loop.raw(), EVRUN_NOWAIT);
    EXPECT_EQ(calls, 1);
}

TEST(Loop, MovedLoopKeepsRunningItsWatchers) {
    Loop first;
    Loop second(std::move(first));
    EXPECT_EQ(first.raw(), nullptr);
    bool fired = false;
    Timer timer(second.raw(), [&] { fired = true; });
    timer.start(0.001);
    second.run();
    EXPECT_TRUE(fired);
    EXPECT_GT(second.now(), 0.);
}

}  // namespace
}  // namespace clb::net
