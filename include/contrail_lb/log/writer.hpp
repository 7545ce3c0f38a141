// Logging that never blocks the thread that logs (docs/operations.md "Logging").
//
// stderr may be a pipe whose reader stalls (a container runtime under pressure, a
// `| less` nobody scrolls). A worker or the control thread blocked in write(2) stops
// serving, health checking and withdrawing VIPs, so no thread but the Writer's own ever
// writes to stderr. Producers hand whole lines to bounded queues; when a queue is full
// the line is dropped and counted (contrail_lb_log_lines_dropped_total).
//
//   - each worker owns a Lane: a single-producer/single-consumer byte ring, lock-free
//     on the request path (the access log);
//   - every other line (spdlog, any thread) goes through submit(): a short mutex around
//     a memcpy, never held across I/O. Identical warnings and errors are rate-limited:
//     the first is written, copies within kRepeatWindow are counted and summarised as
//     "... [repeated N times in the last 1s]".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "contrail_lb/log/json.hpp"
#include "contrail_lb/net/fd.hpp"

namespace clb::log {

// "[2026-11-25 12:00:00.123] [info] ", the pattern every text line of the process starts with.
void append_prefix(std::string& out, std::string_view level);
// Opens a JSON line: {"time":"2026-11-25T12:00:00.123Z","level":"info" (RFC 3339, UTC);
// the caller adds its fields and closes the object.
void begin_json_line(JsonWriter& w, std::string_view level);

// A bounded byte ring with one producer thread and one consumer thread (the Writer).
class Lane {
  public:
    explicit Lane(size_t capacity);  // rounded up to a power of two
    Lane(const Lane&) = delete;
    Lane& operator=(const Lane&) = delete;

    // Producer: the whole line, or nothing and the drop is counted.
    bool push(std::string_view line);
    // Consumer: appends every published byte to `out` (whole lines only).
    void pop_into(std::string& out);
    bool empty() const;
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  private:
    std::unique_ptr<char[]> data_;
    size_t mask_;
    alignas(64) std::atomic<size_t> head_{0};  // bytes ever published (producer)
    alignas(64) std::atomic<size_t> tail_{0};  // bytes ever consumed (consumer)
    std::atomic<uint64_t> dropped_{0};
};

class Writer {
  public:
    static constexpr size_t kLaneBytes = 1 << 20;      // per worker: ~7000 access log lines
    static constexpr size_t kSharedBytes = 256 << 10;  // everything else
    static constexpr std::chrono::milliseconds kRepeatWindow{1000};
    static constexpr std::chrono::milliseconds kCloseTimeout{1000};  // flushing at exit

    explicit Writer(int fd);
    // Writes what is queued for up to kCloseTimeout (a stalled reader cannot hold the
    // exit), then stops the thread.
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // A lane for one producer thread; it lives as long as the Writer.
    Lane& add_lane(size_t capacity = kLaneBytes);
    // Producer, after pushing to a lane: wakes the writer if it sleeps (cheap otherwise).
    void wake();
    // Any thread: one line, "[time] [level] message". With `rate_limited` (warnings and
    // errors), an identical message within kRepeatWindow is counted instead of written.
    void submit(std::string_view level, std::string_view message, bool rate_limited);
    // Lines lost to full queues or a failing output since start.
    uint64_t dropped() const;
    // global.log_format: every line a JSON object ({"time","level","msg"}; access lines
    // carry their fields) instead of text. Any thread; applies to lines submitted after.
    void set_json(bool json) { json_.store(json, std::memory_order_relaxed); }
    bool json() const { return json_.load(std::memory_order_relaxed); }

  private:
    struct Repeat {
        std::chrono::steady_clock::time_point window_end;
        std::string level;
        uint64_t suppressed = 0;
    };
    void run();
    bool collect(std::string& batch);  // false when nothing was queued
    void summarise_repeats(std::chrono::steady_clock::time_point now);
    void enqueue_locked(std::string_view level, std::string_view message,
                        std::string_view suffix = {});
    bool write_all(std::string_view& bytes);
    void sleep();

    int fd_;
    net::Fd wakeup_;  // eventfd
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> json_{false};
    std::chrono::steady_clock::time_point stop_deadline_{};

    mutable std::mutex mutex_;  // guards everything below
    std::deque<std::unique_ptr<Lane>> lanes_;
    std::string shared_;                                  // lines from submit()
    std::map<std::string, Repeat, std::less<>> repeats_;  // by message
    uint64_t dropped_ = 0;                                // shared queue overflow, write failures

    std::thread thread_;  // last: starts once everything above exists
};

// Routes spdlog's default logger (its level kept) through a Writer while it lives;
// afterwards a plain stderr logger takes over again, so that a line logged after the
// Writer is gone still goes out.
class SpdlogRoute {
  public:
    explicit SpdlogRoute(Writer& writer);
    ~SpdlogRoute();
    SpdlogRoute(const SpdlogRoute&) = delete;
    SpdlogRoute& operator=(const SpdlogRoute&) = delete;
};

}  // namespace clb::log
