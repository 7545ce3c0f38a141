// A worker's access log: lines go to the worker's own log::Lane (lock-free, never
// blocking on stderr; a full lane drops the line and counts it) and the log writer is
// woken once per loop iteration, not once per line.
#pragma once

#include <string>
#include <string_view>

#include "contrail_lb/log/writer.hpp"

namespace clb::proxy {

class AccessLog {
  public:
    // Without a writer (tests that run a worker bare) the lines are dropped.
    explicit AccessLog(log::Writer* writer)
        : writer_(writer), lane_(writer ? &writer->add_lane() : nullptr) {}

    // `line` without timestamp and newline; the prefix matches every other log line.
    void append(std::string_view line);
    void flush();  // once per loop iteration
    bool pending() const { return pending_; }

  private:
    log::Writer* writer_;
    log::Lane* lane_;
    std::string scratch_;
    bool pending_ = false;
};

}  // namespace clb::proxy
