// A fixed-capacity byte buffer between a socket and the parser: bytes are appended at the
// tail by read(2) and consumed from the head as they are forwarded. Capacity is the
// back-pressure: a full buffer stops reading from its socket.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace clb::proxy {

inline constexpr size_t kBufferSize = 32 * 1024;  // also the largest request/response head

// Per-worker free list: connections come and go by the thousand, their buffers need not.
class BufferPool {
  public:
    std::unique_ptr<char[]> get() {
        if (free_.empty()) return std::make_unique<char[]>(kBufferSize);
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
    }
    void put(std::unique_ptr<char[]> b) {
        if (b && free_.size() < kMaxFree) free_.push_back(std::move(b));
    }

  private:
    static constexpr size_t kMaxFree = 1024;
    std::vector<std::unique_ptr<char[]>> free_;
};

class IoBuffer {
  public:
    IoBuffer() = default;
    explicit IoBuffer(std::unique_ptr<char[]> storage) : data_(std::move(storage)) {}

    bool allocated() const { return data_ != nullptr; }
    void attach(std::unique_ptr<char[]> storage) { data_ = std::move(storage); }
    std::unique_ptr<char[]> detach() {
        head_ = tail_ = 0;
        return std::move(data_);
    }

    const char* data() const { return data_.get() + head_; }
    size_t size() const { return tail_ - head_; }
    bool empty() const { return head_ == tail_; }
    bool full() const { return head_ == 0 && tail_ == kBufferSize; }
    std::string_view view() const { return {data(), size()}; }

    // Room at the tail, moving unread bytes to the front first when that makes room.
    char* space(size_t& len) {
        if (tail_ == kBufferSize && head_ > 0) compact();
        len = kBufferSize - tail_;
        return data_.get() + tail_;
    }
    void commit(size_t n) { tail_ += n; }
    void consume(size_t n) {
        head_ += n;
        if (head_ == tail_) head_ = tail_ = 0;
    }

  private:
    void compact() {
        std::memmove(data_.get(), data_.get() + head_, tail_ - head_);
        tail_ -= head_;
        head_ = 0;
    }

    std::unique_ptr<char[]> data_;
    size_t head_ = 0;
    size_t tail_ = 0;
};

}  // namespace clb::proxy
