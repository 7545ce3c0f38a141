// One event-loop thread of clb-test-backend with its own listeners.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "connection.hpp"
#include "connection_http.hpp"
#include "shared.hpp"
#include "socket.hpp"

namespace clb_test {

class Worker {
  public:
    Worker(SharedState& shared, std::vector<Fd> listen_fds, Connection::Mode mode)
        : loop_(ev_loop_new(EVFLAG_AUTO)), shared_(shared), mode_(mode) {
        if (!loop_) throw std::runtime_error("ev_loop_new failed");
        for (auto& fd : listen_fds) {
            auto listener = std::make_unique<Listener>();
            listener->fd = std::move(fd);
            listener->worker = this;
            ev_io_init(&listener->watcher, on_acceptable, listener->fd.get(), EV_READ);
            listener->watcher.data = listener.get();
            ev_io_start(loop_.get(), &listener->watcher);
            listeners_.push_back(std::move(listener));
        }
        ev_async_init(&stop_,
                      [](struct ev_loop* loop, ev_async*, int) { ev_break(loop, EVBREAK_ALL); });
        ev_async_start(loop_.get(), &stop_);
    }

    ~Worker() {
        connections_.clear();  // while the loop still exists: they stop their watchers
        for (auto& listener : listeners_)
            ev_io_stop(loop_.get(), &listener->watcher);
        ev_async_stop(loop_.get(), &stop_);
    }

    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void run() { ev_run(loop_.get(), 0); }
    void request_stop() { ev_async_send(loop_.get(), &stop_); }  // from any thread

  private:
    struct Listener {
        Fd fd;
        ev_io watcher;
        Worker* worker;
    };
    struct LoopDeleter {
        void operator()(struct ev_loop* loop) const { ev_loop_destroy(loop); }
    };

    static void on_acceptable(struct ev_loop*, ev_io* watcher, int) {
        auto* listener = static_cast<Listener*>(watcher->data);
        listener->worker->accept_connections(listener->fd.get());
    }

    void accept_connections(int listen_fd) {
        for (int i = 0; i < 64; ++i) {  // a burst, then let the other events run
            Fd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (fd.get() < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                    std::perror("clb-test-backend: accept");
                return;
            }
            const int one = 1;
            setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            const uint64_t id = shared_.connections_accepted.fetch_add(1) + 1;
            connections_
                .add(std::make_unique<Connection>(loop_.get(), shared_, connections_, std::move(fd),
                                                  id, mode_))
                .start();
        }
    }

    std::unique_ptr<struct ev_loop, LoopDeleter> loop_;
    SharedState& shared_;
    const Connection::Mode mode_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    ev_async stop_;
    ConnectionSet connections_;
};

}  // namespace clb_test
