#include "contrail_lb/upgrade/channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "contrail_lb/net/socket.hpp"

namespace clb::upgrade {

namespace {

bool unix_address(const std::string& path, sockaddr_un& sa, socklen_t& len) {
    sa = {};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sa.sun_path) return false;
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract: no trailing NUL counted
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                 (path[0] == '@' ? 0 : 1));
    return true;
}

}  // namespace

net::Fd listen_unix(const std::string& path, int& error) {
    sockaddr_un sa;
    socklen_t len = 0;
    if (!unix_address(path, sa, len)) {
        error = ENAMETOOLONG;
        return {};
    }
    net::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = errno;
        return {};
    }
    unlink_unix(path);
    // Created 0600 from the start: no moment when another user could connect.
    mode_t old_mask = ::umask(0177);
    int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
    ::umask(old_mask);
    if (rc != 0 || ::listen(fd.get(), 8) != 0) {
        error = errno;
        return {};
    }
    return fd;
}

net::Fd connect_unix(const std::string& path, double timeout, int& error) {
    sockaddr_un sa;
    socklen_t len = 0;
    if (!unix_address(path, sa, len)) {
        error = ENAMETOOLONG;
        return {};
    }
    net::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        error = errno;
        return {};
    }
    timeval tv{static_cast<time_t>(timeout),
               static_cast<suseconds_t>(
                   (timeout - static_cast<double>(static_cast<time_t>(timeout))) * 1e6)};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        error = errno;
        return {};
    }
    return fd;
}

void unlink_unix(const std::string& path) {
    if (path.empty() || path[0] == '@') return;
    struct stat st {};
    // Only a socket: a typo must not delete a file.
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

std::optional<uid_t> peer_uid(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
    return cred.uid;
}

bool peer_allowed(uid_t peer, uid_t self) {
    return peer == self || peer == 0;
}

bool send_frame(int fd, std::string_view json, const std::vector<int>& fds, std::string& error) {
    if (json.size() > kMaxFrameBytes || fds.size() > kMaxFdsPerMessage) {
        error = "frame too large";
        return false;
    }
    uint32_t n = static_cast<uint32_t>(json.size());
    unsigned char head[4] = {static_cast<unsigned char>(n >> 24),
                             static_cast<unsigned char>(n >> 16),
                             static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
    std::string bytes(reinterpret_cast<char*>(head), 4);
    bytes.append(json);
    std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage));
    size_t sent = 0;
    int waited_ms = 0;
    constexpr int kSendWaitMs = 2000;
    while (sent < bytes.size()) {
        iovec iov{bytes.data() + sent, bytes.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (sent == 0 && !fds.empty()) {  // the descriptors ride on the frame's first byte
            msg.msg_control = control.data();
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        ssize_t rc = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (rc < 0 && errno == EINTR) continue;
        // A non-blocking socket whose reader is behind (thousands of clients handed over):
        // wait for room, bounded, rather than drop a frame.
        if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waited_ms < kSendWaitMs) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 50);
            waited_ms += 50;
            continue;
        }
        if (rc <= 0) {
            error = rc < 0 ? net::error_text(errno) : "short write";
            return false;
        }
        sent += static_cast<size_t>(rc);
    }
    return true;
}

FrameReader::Status FrameReader::read_some(int fd, std::string& error) {
    char buffer[16384];
    std::vector<char> control(CMSG_SPACE(sizeof(int) * 253));
    iovec iov{buffer, sizeof buffer};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t rc = 0;
    do {
        rc = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::again;
        error = net::error_text(errno);
        return Status::error;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int received = -1;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds_.emplace_back(received);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        error = "descriptors truncated";
        return Status::error;
    }
    if (rc == 0) return Status::closed;
    in_.append(buffer, static_cast<size_t>(rc));
    return Status::frame;
}

std::optional<Frame> FrameReader::next(std::string& error, bool& bad) {
    bad = false;
    if (in_.size() < 4) return std::nullopt;
    auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(in_[i])); };
    uint32_t n = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
    if (n > kMaxFrameBytes) {
        error = "a frame of " + std::to_string(n) + " bytes";
        bad = true;
        return std::nullopt;
    }
    if (in_.size() < 4 + n) return std::nullopt;
    Frame f{in_.substr(4, n)};
    in_.erase(0, 4 + n);
    return f;
}

std::optional<std::vector<net::Fd>> FrameReader::take_fds(size_t count) {
    if (fds_.size() < count) return std::nullopt;
    std::vector<net::Fd> out;
    for (size_t i = 0; i < count; ++i) {
        out.push_back(std::move(fds_.front()));
        fds_.pop_front();
    }
    return out;
}

std::optional<Frame> FrameReader::wait_frame(int fd, std::string& error) {
    for (;;) {
        bool bad = false;
        if (auto f = next(error, bad)) return f;
        if (bad) return std::nullopt;
        switch (read_some(fd, error)) {
            case Status::frame:
                continue;
            case Status::again:
                error = "timed out";
                return std::nullopt;
            case Status::closed:
                error = "the other process closed the connection";
                return std::nullopt;
            case Status::error:
                return std::nullopt;
        }
    }
}

}  // namespace clb::upgrade
