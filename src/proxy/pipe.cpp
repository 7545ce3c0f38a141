#include "pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace clb::proxy {

namespace {
// Moves as much as one call takes; SPLICE_F_MOVE is a hint the kernel may ignore.
constexpr unsigned kSpliceFlags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
constexpr uint64_t kMaxStep = 1024 * 1024;  // the pipe holds less anyway (64 KiB)
}  // namespace

SplicePipe::SplicePipe(net::Fd read_end, net::Fd write_end, std::atomic<uint32_t>* open_count)
    : read_end_(std::move(read_end)), write_end_(std::move(write_end)), open_count_(open_count) {
    if (open_count_) open_count_->fetch_add(1, std::memory_order_relaxed);
}

SplicePipe::~SplicePipe() {
    if (open_count_) open_count_->fetch_sub(1, std::memory_order_relaxed);
}

std::unique_ptr<SplicePipe> SplicePipe::open(std::atomic<uint32_t>* open_count) {
    int ends[2];
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) return nullptr;
    return std::make_unique<SplicePipe>(net::Fd(ends[0]), net::Fd(ends[1]), open_count);
}

ReadResult SplicePipe::fill(int fd, size_t max) {
    if (max == 0) return {};
    for (;;) {
        ssize_t n = ::splice(fd, nullptr, write_end_.get(), nullptr, max, kSpliceFlags);
        if (n > 0) {
            size_ += static_cast<size_t>(n);
            return {n, false, static_cast<size_t>(n) == max};
        }
        if (n == 0) return {0, true};
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            // The socket is empty or the pipe is full; splice does not say which.
            blocked_ = size_ > 0;
            return {};
        }
        return {-errno, false};
    }
}

SplicePipe::Drained SplicePipe::drain(int fd) {
    Drained out;
    while (size_ > 0) {
        ssize_t n = ::splice(read_end_.get(), nullptr, fd, nullptr, size_, kSpliceFlags);
        if (n > 0) {
            size_ -= static_cast<size_t>(n);
            out.moved += static_cast<size_t>(n);
            blocked_ = false;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) out.error = errno;
        break;
    }
    return out;
}

ReadResult fill_body(SplicePipe& pipe, int fd, http::MessageParser& parser) {
    uint64_t left = parser.length_left();
    if (left == 0 || pipe.blocked()) return {};
    ReadResult r = pipe.fill(fd, static_cast<size_t>(std::min<uint64_t>(left, kMaxStep)));
    if (r.n > 0) parser.skip_length(static_cast<uint64_t>(r.n));
    return r;
}

std::unique_ptr<SplicePipe> PipePool::get() {
    if (!free_.empty()) {
        auto pipe = std::move(free_.back());
        free_.pop_back();
        return pipe;
    }
    // Workers race for the last pipes: one may go over by a pipe or two, which the fd
    // limit's slack absorbs.
    if (open_.load(std::memory_order_relaxed) >= allowed_.load(std::memory_order_relaxed))
        return nullptr;
    return SplicePipe::open(&open_);
}

void PipePool::put(std::unique_ptr<SplicePipe> pipe) {
    if (!pipe || !pipe->empty() || free_.size() >= kMaxFree) return;
    // Near the allowance an idle pipe is closed: it would keep an fd from a worker that
    // needs one now.
    uint64_t open = open_.load(std::memory_order_relaxed);
    if (4 * open > 3 * uint64_t{allowed_.load(std::memory_order_relaxed)}) return;
    free_.push_back(std::move(pipe));
}

}  // namespace clb::proxy
