// A fixed-capacity byte buffer between a socket and the parser: bytes are appended at the
// tail by read(2) and consumed from the head as they are forwarded. Capacity is the
// back-pressure: a full buffer stops reading from its socket.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "free_list.hpp"

namespace clb::proxy {

inline constexpr size_t kBufferSize = 32 * 1024;  // also the largest request/response head

// Per-worker free list: connections come and go by the thousand, their buffers need not.
// Only connections moving bytes hold one (idle client and pooled backend connections give
// theirs back), and trim() lets a burst's go.
class BufferPool {
  public:
    std::unique_ptr<char[]> get() {
        return free_.get([] { return std::make_unique<char[]>(kBufferSize); });
    }
    void put(std::unique_ptr<char[]> b) { free_.put(std::move(b)); }
    size_t trim() { return free_.trim(); }
    size_t size() const { return free_.size(); }

  private:
    FreeList<std::unique_ptr<char[]>, 1024> free_;
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
