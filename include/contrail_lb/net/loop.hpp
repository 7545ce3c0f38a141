// RAII wrappers over libev: a loop per thread, and watchers that stop themselves when
// destroyed. Callbacks are std::function for control-plane code; the proxy's hot path
// embeds ev_io directly (src/proxy) to stay free of indirection.
#pragma once

#include <ev.h>

#include <functional>

namespace clb::net {

class Loop {
  public:
    // A new loop with the best backend (epoll on Linux). `default_loop` also handles
    // signals and child processes, and must be used by exactly one (the control) thread.
    static Loop make_default();
    Loop();
    ~Loop();
    Loop(Loop&& other) noexcept;
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    Loop& operator=(Loop&&) = delete;

    struct ev_loop* raw() const {
        return loop_;
    }
    void run();
    void stop();  // from inside the loop's own thread
    double now() const { return ev_now(loop_); }

  private:
    explicit Loop(struct ev_loop* loop, bool is_default) : loop_(loop), is_default_(is_default) {}
    struct ev_loop* loop_ = nullptr;
    bool is_default_ = false;
};

class IoWatcher {
  public:
    using Callback = std::function<void(int revents)>;
    IoWatcher(struct ev_loop* loop, Callback cb);
    ~IoWatcher() { stop(); }
    IoWatcher(const IoWatcher&) = delete;
    IoWatcher& operator=(const IoWatcher&) = delete;

    // (Re)starts watching `fd` for `events` (EV_READ | EV_WRITE).
    void start(int fd, int events);
    void stop();
    bool active() const { return ev_is_active(&io_); }
    int events() const { return io_.events & (EV_READ | EV_WRITE); }

  private:
    static void trampoline(struct ev_loop*, ev_io* w, int revents);
    struct ev_loop* loop_;
    ev_io io_{};
    Callback cb_;
};

class Timer {
  public:
    using Callback = std::function<void()>;
    Timer(struct ev_loop* loop, Callback cb);
    ~Timer() { stop(); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Fires after `after` seconds, then every `repeat` seconds when repeat > 0.
    void start(double after, double repeat = 0.);
    void stop();
    bool active() const { return ev_is_active(&timer_); }
    // Seconds until it fires; 0 when inactive.
    double remaining() const;

  private:
    static void trampoline(struct ev_loop*, ev_timer* w, int revents);
    struct ev_loop* loop_;
    ev_timer timer_{};
    Callback cb_;
};

// Wakes a loop from another thread; the callback runs on the loop's thread.
class AsyncWaker {
  public:
    using Callback = std::function<void()>;
    AsyncWaker(struct ev_loop* loop, Callback cb);
    ~AsyncWaker();
    AsyncWaker(const AsyncWaker&) = delete;
    AsyncWaker& operator=(const AsyncWaker&) = delete;
    void send();  // thread-safe

  private:
    static void trampoline(struct ev_loop*, ev_async* w, int revents);
    struct ev_loop* loop_;
    ev_async async_{};
    Callback cb_;
};

// Only valid on the default loop.
class SignalWatcher {
  public:
    using Callback = std::function<void()>;
    SignalWatcher(struct ev_loop* loop, int signum, Callback cb);
    ~SignalWatcher();
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

  private:
    static void trampoline(struct ev_loop*, ev_signal* w, int revents);
    struct ev_loop* loop_;
    ev_signal signal_{};
    Callback cb_;
};

}  // namespace clb::net
