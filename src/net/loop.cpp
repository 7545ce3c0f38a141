#include "contrail_lb/net/loop.hpp"

#include <stdexcept>
#include <utility>

namespace clb::net {

Loop Loop::make_default() {
    struct ev_loop* loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) throw std::runtime_error("libev: cannot create the default loop");
    return Loop(loop, true);
}

Loop::Loop() : loop_(ev_loop_new(EVFLAG_AUTO)) {
    if (!loop_) throw std::runtime_error("libev: cannot create a loop");
}

Loop::Loop(Loop&& other) noexcept
    : loop_(std::exchange(other.loop_, nullptr)), is_default_(other.is_default_) {}

Loop::~Loop() {
    if (loop_ && !is_default_) ev_loop_destroy(loop_);
}

void Loop::run() {
    ev_run(loop_, 0);
}
void Loop::stop() {
    ev_break(loop_, EVBREAK_ALL);
}

IoWatcher::IoWatcher(struct ev_loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
    ev_init(&io_, &IoWatcher::trampoline);
    io_.data = this;
}

void IoWatcher::start(int fd, int events) {
    if (ev_is_active(&io_)) {
        if (io_.fd == fd && (io_.events & (EV_READ | EV_WRITE)) == events) return;
        ev_io_stop(loop_, &io_);
    }
    ev_io_set(&io_, fd, events);
    ev_io_start(loop_, &io_);
}

void IoWatcher::stop() {
    ev_io_stop(loop_, &io_);
}

void IoWatcher::trampoline(struct ev_loop*, ev_io* w, int revents) {
    static_cast<IoWatcher*>(w->data)->cb_(revents);
}

Timer::Timer(struct ev_loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
    ev_init(&timer_, &Timer::trampoline);
    timer_.data = this;
}

void Timer::start(double after, double repeat) {
    ev_timer_stop(loop_, &timer_);
    ev_timer_set(&timer_, after, repeat);
    ev_timer_start(loop_, &timer_);
}

void Timer::stop() {
    ev_timer_stop(loop_, &timer_);
}

double Timer::remaining() const {
    return ev_is_active(&timer_) ? ev_timer_remaining(loop_, const_cast<ev_timer*>(&timer_)) : 0.;
}

void Timer::trampoline(struct ev_loop*, ev_timer* w, int) {
    static_cast<Timer*>(w->data)->cb_();
}

AsyncWaker::AsyncWaker(struct ev_loop* loop, Callback cb) : loop_(loop), cb_(std::move(cb)) {
    ev_async_init(&async_, &AsyncWaker::trampoline);
    async_.data = this;
    ev_async_start(loop_, &async_);
}

AsyncWaker::~AsyncWaker() {
    ev_async_stop(loop_, &async_);
}

void AsyncWaker::send() {
    ev_async_send(loop_, &async_);
}

void AsyncWaker::trampoline(struct ev_loop*, ev_async* w, int) {
    static_cast<AsyncWaker*>(w->data)->cb_();
}

SignalWatcher::SignalWatcher(struct ev_loop* loop, int signum, Callback cb)
    : loop_(loop), cb_(std::move(cb)) {
    ev_signal_init(&signal_, &SignalWatcher::trampoline, signum);
    signal_.data = this;
    ev_signal_start(loop_, &signal_);
}

SignalWatcher::~SignalWatcher() {
    ev_signal_stop(loop_, &signal_);
}

void SignalWatcher::trampoline(struct ev_loop*, ev_signal* w, int) {
    static_cast<SignalWatcher*>(w->data)->cb_();
}

}  // namespace clb::net
