#include "access_log.hpp"

namespace clb::proxy {

void AccessLog::append(std::string_view line) {
    if (!lane_) return;
    scratch_.clear();
    log::append_prefix(scratch_, "info");
    scratch_.append(line);
    scratch_.push_back('\n');
    pending_ |= lane_->push(scratch_);
}

void AccessLog::flush() {
    if (pending_) writer_->wake();
    pending_ = false;
}

}  // namespace clb::proxy
