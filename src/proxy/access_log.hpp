// Access log without a lock on the request path: each worker formats its lines into its
// own buffer and writes it to stderr with one write(2) per loop iteration. Writes up to
// PIPE_BUF are atomic, so lines of different workers never interleave.
#pragma once

#include <string>
#include <string_view>

namespace clb::proxy {

class AccessLog {
  public:
    // `line` without timestamp and newline; the prefix matches the spdlog pattern.
    void append(std::string_view line);
    void flush();  // once per loop iteration
    bool pending() const { return !buffer_.empty(); }

  private:
    static constexpr size_t kChunk = 4096;  // PIPE_BUF
    std::string buffer_;
};

}  // namespace clb::proxy
