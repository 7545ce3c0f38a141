#include "io.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace clb::proxy {

ReadResult read_into(int fd, IoBuffer& buf) {
    size_t room = 0;
    char* at = buf.space(room);
    if (room == 0) return {};
    for (;;) {
        ssize_t n = ::recv(fd, at, room, 0);  // recv, not read: skips the VFS layer
        if (n > 0) {
            buf.commit(static_cast<size_t>(n));
            return {n, false, static_cast<size_t>(n) == room};
        }
        if (n == 0) return {0, true};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        return {-errno, false};
    }
}

namespace {
// Two pieces this small (a response head and a small body) are copied into one and sent
// with send(): the copy costs less than sendmsg's msghdr and iovec import and the second
// segment's walk in tcp_sendmsg.
constexpr size_t kJoinedMax = 2048;

// Bytes sent, 0 if it would block, or -errno; EINTR is retried.
template <class Send>
ssize_t sent_or_error(Send send) {
    for (;;) {
        ssize_t n = send();
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
}
}  // namespace

ssize_t write2(int fd, const char* a, size_t alen, const char* b, size_t blen, int flags) {
    // send/sendmsg rather than write/writev: MSG_NOSIGNAL spares us SIGPIPE on a closed peer.
    flags |= MSG_NOSIGNAL;
    if (alen && blen && alen + blen <= kJoinedMax) {
        char joined[kJoinedMax];
        std::memcpy(joined, a, alen);
        std::memcpy(joined + alen, b, blen);
        return sent_or_error([&] { return ::send(fd, joined, alen + blen, flags); });
    }
    iovec iov[2];
    int cnt = 0;
    if (alen) iov[cnt++] = {const_cast<char*>(a), alen};
    if (blen) iov[cnt++] = {const_cast<char*>(b), blen};
    if (cnt == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(cnt);
    // Plain send when there is one piece, as it skips the iovec import.
    return sent_or_error([&] {
        return cnt == 1 ? ::send(fd, iov[0].iov_base, iov[0].iov_len, flags)
                        : ::sendmsg(fd, &msg, flags);
    });
}

void watch(struct ev_loop* loop, ev_io& io, int fd, int events) {
    bool active = ev_is_active(&io);
    if (active ? (io.events & (EV_READ | EV_WRITE)) == events : events == 0) return;
    ev_io_stop(loop, &io);
    if (!events) return;
    ev_io_set(&io, fd, events);
    ev_io_start(loop, &io);
}

}  // namespace clb::proxy
