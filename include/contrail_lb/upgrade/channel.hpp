// The hand-over channel: a Unix stream socket carrying frames (a 4-byte big-endian length
// and a JSON document) and file descriptors (SCM_RIGHTS). Names starting with '@' are in
// Linux's abstract namespace (no file; gone with the last socket).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/net/fd.hpp"

namespace clb::upgrade {

inline constexpr size_t kMaxFrameBytes = 1 << 20;
inline constexpr size_t kMaxFdsPerMessage = 200;  // the kernel allows 253 (SCM_MAX_FD)

// Listening, non-blocking, mode 0600; a stale file at `path` is replaced. Invalid Fd and
// `error` (errno) on failure.
net::Fd listen_unix(const std::string& path, int& error);
// Blocking connect; the socket's sends and receives time out after `timeout` seconds.
net::Fd connect_unix(const std::string& path, double timeout, int& error);
// Removes the file of a listening socket (nothing for an abstract name).
void unlink_unix(const std::string& path);
// The uid of the process at the other end (SO_PEERCRED); nullopt when unknown.
std::optional<uid_t> peer_uid(int fd);
// Only the same user, or root, may take a process's sockets.
bool peer_allowed(uid_t peer, uid_t self);

// Sends one frame with `fds` attached (at most kMaxFdsPerMessage); blocking. False and
// `error` set on failure.
bool send_frame(int fd, std::string_view json, const std::vector<int>& fds, std::string& error);

struct Frame {
    std::string json;
};

// Reads frames and the descriptors that come with them from a socket, blocking or not.
class FrameReader {
  public:
    enum class Status { frame, again, closed, error };
    // Reads what the socket has (once). `error` says why on Status::error.
    Status read_some(int fd, std::string& error);
    // The next complete frame, if any.
    std::optional<Frame> next(std::string& error, bool& bad);
    // Takes `count` received descriptors, in arrival order; nullopt if fewer arrived.
    std::optional<std::vector<net::Fd>> take_fds(size_t count);
    size_t fds_waiting() const { return fds_.size(); }
    // Blocks (under the socket's receive timeout) until a whole frame is here.
    std::optional<Frame> wait_frame(int fd, std::string& error);

  private:
    std::string in_;
    std::deque<net::Fd> fds_;
};

}  // namespace clb::upgrade
