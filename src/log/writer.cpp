#include "contrail_lb/log/writer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace clb::log {

namespace {

constexpr size_t kWriteChunk = 4096;  // PIPE_BUF: after POLLOUT, a write this size never blocks
constexpr int kIdlePollMs = 250;      // the writer's longest sleep: repeat summaries, stop
constexpr size_t kMaxRepeatKeys = 256;

size_t round_up_pow2(size_t n) {
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

// The wall clock now as `format` (strftime) then ".mmm", local time or UTC; its length.
size_t format_now(char* buf, size_t size, const char* format, bool utc) {
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    if (utc)
        gmtime_r(&t, &tm);
    else
        localtime_r(&t, &tm);
    size_t n = std::strftime(buf, size, format, &tm);
    n += static_cast<size_t>(
        std::snprintf(buf + n, size - n, ".%03lld", static_cast<long long>(ms)));
    return n;
}
}  // namespace

void append_prefix(std::string& out, std::string_view level) {
    char buf[64];
    size_t n = format_now(buf, sizeof buf, "[%Y-%m-%d %H:%M:%S", false);
    out.append(buf, n).append("] [").append(level).append("] ");
}

void begin_json_line(JsonWriter& w, std::string_view level) {
    char buf[40];
    size_t n = format_now(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", true);
    buf[n++] = 'Z';
    w.begin_object();
    w.field("time", std::string_view(buf, n));
    w.field("level", level);
}

// ---------------------------------------------------------------------------------------
// Lane

Lane::Lane(size_t capacity)
    : data_(std::make_unique<char[]>(round_up_pow2(capacity))),
      mask_(round_up_pow2(capacity) - 1) {}

bool Lane::push(std::string_view line) {
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t tail = tail_.load(std::memory_order_acquire);
    if (line.size() > mask_ + 1 - (head - tail)) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    const size_t at = head & mask_;
    const size_t first = std::min(line.size(), mask_ + 1 - at);
    std::memcpy(data_.get() + at, line.data(), first);
    std::memcpy(data_.get(), line.data() + first, line.size() - first);
    head_.store(head + line.size(), std::memory_order_release);
    return true;
}

void Lane::pop_into(std::string& out) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t head = head_.load(std::memory_order_acquire);
    if (head == tail) return;
    const size_t at = tail & mask_;
    const size_t size = head - tail;
    const size_t first = std::min(size, mask_ + 1 - at);
    out.append(data_.get() + at, first);
    out.append(data_.get(), size - first);
    tail_.store(head, std::memory_order_release);
}

bool Lane::empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// Writer

Writer::Writer(int fd)
    : fd_(fd), wakeup_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), thread_([this] { run(); }) {}

Writer::~Writer() {
    {
        std::lock_guard lock(mutex_);
        stop_deadline_ = std::chrono::steady_clock::now() + kCloseTimeout;
    }
    stopping_.store(true);
    sleeping_.store(true);  // force the eventfd write in wake()
    wake();
    thread_.join();
}

Lane& Writer::add_lane(size_t capacity) {
    std::lock_guard lock(mutex_);
    lanes_.push_back(std::make_unique<Lane>(capacity));
    return *lanes_.back();
}

void Writer::wake() {
    // Pairs with the fence in sleep(): either the writer sees the new bytes before it
    // sleeps, or we see it sleeping and wake it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.exchange(false)) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(wakeup_.get(), &one, sizeof one);
    }
}

void Writer::submit(std::string_view level, std::string_view message, bool rate_limited) {
    {
        std::lock_guard lock(mutex_);
        if (rate_limited) {
            auto now = std::chrono::steady_clock::now();
            if (auto it = repeats_.find(message); it != repeats_.end()) {
                ++it->second.suppressed;
                return;
            }
            if (repeats_.size() < kMaxRepeatKeys)
                repeats_.emplace(std::string(message),
                                 Repeat{now + kRepeatWindow, std::string(level), 0});
        }
        enqueue_locked(level, message);
    }
    wake();
}

uint64_t Writer::dropped() const {
    std::lock_guard lock(mutex_);
    uint64_t n = dropped_;
    for (const auto& lane : lanes_)
        n += lane->dropped();
    return n;
}

void Writer::enqueue_locked(std::string_view level, std::string_view message,
                            std::string_view suffix) {
    const size_t before = shared_.size();
    if (json()) {
        JsonWriter w;
        begin_json_line(w, level);
        w.field("msg", std::string(message).append(suffix));
        w.end_object();
        shared_.append(w.str());
    } else {
        append_prefix(shared_, level);
        shared_.append(message);
        shared_.append(suffix);
    }
    shared_.push_back('\n');
    if (shared_.size() > kSharedBytes) {
        shared_.resize(before);
        ++dropped_;
    }
}

// Summarises the repeats whose window ended. A message still repeating starts a new
// window at once, so a flood costs one line per window, not two.
void Writer::summarise_repeats(std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    for (auto it = repeats_.begin(); it != repeats_.end();) {
        Repeat& r = it->second;
        if (now < r.window_end) {
            ++it;
            continue;
        }
        if (r.suppressed == 0) {
            it = repeats_.erase(it);
            continue;
        }
        auto seconds = std::chrono::duration<double>(kRepeatWindow).count();
        char suffix[96];
        std::snprintf(suffix, sizeof suffix, " [repeated %llu times in the last %gs]",
                      static_cast<unsigned long long>(r.suppressed), seconds);
        enqueue_locked(r.level, it->first, suffix);
        r.suppressed = 0;
        r.window_end = now + kRepeatWindow;
        ++it;
    }
}

bool Writer::collect(std::string& batch) {
    std::lock_guard lock(mutex_);
    batch.swap(shared_);
    shared_.clear();
    for (auto& lane : lanes_)
        lane->pop_into(batch);
    return !batch.empty();
}

void Writer::run() {
    std::string batch;
    for (;;) {
        summarise_repeats(std::chrono::steady_clock::now());
        if (collect(batch)) {
            std::string_view rest = batch;
            if (!write_all(rest)) {
                std::lock_guard lock(mutex_);
                dropped_ += static_cast<uint64_t>(std::count(rest.begin(), rest.end(), '\n'));
            }
            batch.clear();
            continue;
        }
        if (stopping_.load()) return;
        sleep();
    }
}

void Writer::sleep() {
    sleeping_.store(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    {
        std::lock_guard lock(mutex_);
        bool queued = !shared_.empty() || std::any_of(lanes_.begin(), lanes_.end(),
                                                      [](auto& l) { return !l->empty(); });
        if (queued || stopping_.load()) {
            sleeping_.store(false);
            return;
        }
    }
    pollfd p{wakeup_.get(), POLLIN, 0};
    if (::poll(&p, 1, kIdlePollMs) > 0) {
        uint64_t n;
        [[maybe_unused]] ssize_t r = ::read(wakeup_.get(), &n, sizeof n);
    }
    sleeping_.store(false);
}

// Waits for room before each write, so that stopping is noticed while the reader stalls;
// false when the output failed or the exit deadline passed, with `bytes` what is left.
bool Writer::write_all(std::string_view& bytes) {
    while (!bytes.empty()) {
        pollfd p{fd_, POLLOUT, 0};
        int ready = ::poll(&p, 1, kIdlePollMs);
        if (ready < 0 && errno != EINTR) return false;
        if (ready <= 0 || !(p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            if (stopping_.load()) {
                std::lock_guard lock(mutex_);
                if (std::chrono::steady_clock::now() >= stop_deadline_) return false;
            }
            continue;
        }
        ssize_t n = ::write(fd_, bytes.data(), std::min(bytes.size(), kWriteChunk));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

}  // namespace clb::log
