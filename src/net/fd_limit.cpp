#include "contrail_lb/net/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace clb::net {

uint64_t fds_needed(uint64_t max_connections) {
    constexpr uint64_t kSlack = 256;
    return 2 * max_connections + kSlack;
}

FdLimit raise_fd_limit(uint64_t wanted) {
    FdLimit result;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        result.error = errno;
        return result;
    }
    result.before = result.soft = limit.rlim_cur;
    result.hard = limit.rlim_max;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
        rlim_t target =
            limit.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, limit.rlim_max);
        if (target > limit.rlim_cur) {
            limit.rlim_cur = target;
            if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
                result.soft = target;
            else
                result.error = errno;
        }
    }
    return result;
}

}  // namespace clb::net
