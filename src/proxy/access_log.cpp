#include "access_log.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

namespace clb::proxy {

namespace {
// "[2026-11-25 12:00:00.123] [info] " as spdlog prints it with the program's pattern.
void append_prefix(std::string& out) {
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, "[%Y-%m-%d %H:%M:%S", &tm);
    n += static_cast<size_t>(
        std::snprintf(buf + n, sizeof buf - n, ".%03lld] [info] ", static_cast<long long>(ms)));
    out.append(buf, n);
}
}  // namespace

void AccessLog::append(std::string_view line) {
    append_prefix(buffer_);
    buffer_.append(line);
    buffer_.push_back('\n');
    if (buffer_.size() >= 8 * kChunk) flush();
}

void AccessLog::flush() {
    std::string_view rest = buffer_;
    while (!rest.empty()) {
        // Cut at a line end no further than kChunk bytes so each write stays atomic.
        size_t cut = rest.size();
        if (cut > kChunk) {
            size_t nl = rest.rfind('\n', kChunk - 1);
            cut = nl == std::string_view::npos ? kChunk : nl + 1;
        }
        ssize_t n = ::write(STDERR_FILENO, rest.data(), cut);
        if (n <= 0) break;  // stderr gone or full: drop rather than stall the worker
        rest.remove_prefix(static_cast<size_t>(n));
    }
    buffer_.clear();
}

}  // namespace clb::proxy
