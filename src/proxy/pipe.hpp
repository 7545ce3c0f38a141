// Body bytes from one socket to another through a kernel pipe (splice(2)): on plain TCP
// they never cross into user space, which saves the proxy two copies of every byte and
// the read/write pairs a 32 KiB buffer needs for a large body. TLS needs the bytes
// themselves, so it keeps the buffer path.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "contrail_lb/http/parser.hpp"
#include "contrail_lb/net/fd.hpp"
#include "io.hpp"

namespace clb::proxy {

class SplicePipe {
  public:
    // Null when the kernel refuses a pipe (EMFILE, ENFILE): the caller copies instead.
    // `open_count`, when given, counts the pipe while it exists.
    static std::unique_ptr<SplicePipe> open(std::atomic<uint32_t>* open_count = nullptr);
    // The two ends of a non-blocking pipe.
    SplicePipe(net::Fd read_end, net::Fd write_end, std::atomic<uint32_t>* open_count = nullptr);
    ~SplicePipe();
    SplicePipe(const SplicePipe&) = delete;
    SplicePipe& operator=(const SplicePipe&) = delete;

    // Moves up to `max` bytes from socket `fd` into the pipe (0 = the socket has nothing
    // or the pipe is full). A would-block with bytes in the pipe marks it `blocked()`:
    // the socket is not worth watching until the pipe drains.
    ReadResult fill(int fd, size_t max);
    struct Drained {
        size_t moved = 0;
        int error = 0;  // errno of a failed write, after `moved` bytes went
    };
    // Moves what the pipe holds to socket `fd`, as far as the socket takes it.
    Drained drain(int fd);

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool blocked() const { return blocked_; }

  private:
    net::Fd read_end_;
    net::Fd write_end_;
    std::atomic<uint32_t>* open_count_;
    size_t size_ = 0;
    bool blocked_ = false;
};

// Fills `pipe` from socket `fd` with at most the rest of `parser`'s Content-Length body;
// the parser counts what moved as seen.
ReadResult fill_body(SplicePipe& pipe, int fd, http::MessageParser& parser);

// Per-worker free list: a pipe costs three syscalls to make and two to close. Every
// worker's pipes, pooled or in use, count against one allowance: pipes take fds that
// connections need first (net::pipes_allowed), so past it a body is copied instead.
class PipePool {
  public:
    PipePool(std::atomic<uint32_t>& open, const std::atomic<uint32_t>& allowed)
        : open_(open), allowed_(allowed) {}

    // Null at the allowance or when the kernel refuses a pipe.
    std::unique_ptr<SplicePipe> get();
    // Keeps an empty pipe while the pipes open stay below 3/4 of the allowance; one that
    // still holds bytes of an aborted body is closed.
    void put(std::unique_ptr<SplicePipe> pipe);

  private:
    static constexpr size_t kMaxFree = 64;
    std::atomic<uint32_t>& open_;
    const std::atomic<uint32_t>& allowed_;
    std::vector<std::unique_ptr<SplicePipe>> free_;
};

}  // namespace clb::proxy
