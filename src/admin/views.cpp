#include <algorithm>

#include "admin/views.hpp"

namespace clb::admin {

const char* backend_state(const runtime::BackendEntry& backend) {
    if (backend.drained) return "DRAINED";
    return backend.up ? "UP" : "DOWN";
}

bool backend_eligible(const runtime::ServiceEntry& service, size_t backend_index) {
    return std::find(service.eligible.begin(), service.eligible.end(), backend_index) !=
           service.eligible.end();
}

std::array<uint64_t, 5> status_classes(const runtime::StatusCounters& counters) {
    std::array<uint64_t, 5> classes{};
    for (size_t i = 0; i < counters.size(); ++i)
        classes[i / 100] += counters[i].get();
    return classes;
}

}  // namespace clb::admin
