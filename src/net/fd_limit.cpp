#include "contrail_lb/net/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace clb::net {

uint64_t fds_needed(uint64_t max_connections) {
    constexpr uint64_t kSlack = 256;
    return 2 * max_connections + kSlack;
}

uint64_t pipes_allowed(uint64_t fd_limit, uint64_t max_connections) {
    uint64_t needed = fds_needed(max_connections);
    uint64_t spare_fds = std::max(fd_limit > needed ? fd_limit - needed : 0, fd_limit / 8);
    return std::min(max_connections / 4, spare_fds / 2);
}

uint64_t fds_wanted(uint64_t max_connections) {
    return fds_needed(max_connections) + 2 * (max_connections / 4);
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
