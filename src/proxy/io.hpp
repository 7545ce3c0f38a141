// Thin non-blocking I/O helpers with one convention: a positive count is progress,
// 0 means "would block", a negative value is -errno (-ECONNRESET), and EOF on read is
// reported separately because it is not an error for HTTP.
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <cstddef>

#include "buffer.hpp"

namespace clb::proxy {

struct ReadResult {
    ssize_t n = 0;  // bytes read; 0 = would block; < 0 = -errno
    bool eof = false;
    bool filled = false;  // took all the room it was offered: the socket may hold more
};

ReadResult read_into(int fd, IoBuffer& buf);
// Sets the watcher to `events` (EV_READ | EV_WRITE, 0 = none) on `fd`; touches epoll only
// when that differs from what it watches now.
void watch(struct ev_loop* loop, ev_io& io, int fd, int events);
// Writes a then b (either may be empty) with one send; returns bytes written, 0 if it
// would block, or -errno. `flags` adds send(2) flags (MSG_MORE).
ssize_t write2(int fd, const char* a, size_t alen, const char* b, size_t blen, int flags = 0);

}  // namespace clb::proxy
