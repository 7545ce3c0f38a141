#include "contrail_lb/http/cookie.hpp"

#include "contrail_lb/http/head.hpp"

namespace clb::http {

namespace {

// Calls visit(pair, cookie_name, value) for each "name=value" of the field, in order.
template <class Visit>
void each_pair(std::string_view field, Visit visit) {
    while (!field.empty()) {
        size_t end = field.find(';');
        std::string_view pair = trim_ows(field.substr(0, end));
        field = end == std::string_view::npos ? std::string_view() : field.substr(end + 1);
        if (pair.empty()) continue;
        size_t eq = pair.find('=');
        std::string_view name = trim_ows(pair.substr(0, eq));
        std::string_view value =
            eq == std::string_view::npos ? std::string_view() : trim_ows(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        visit(pair, name, value);
    }
}

}  // namespace

std::string_view find_cookie(std::string_view field, std::string_view name) {
    std::string_view found;
    bool seen = false;
    each_pair(field, [&](std::string_view, std::string_view cookie, std::string_view value) {
        if (!seen && cookie == name) {
            found = value;
            seen = true;
        }
    });
    return found;
}

bool remove_cookie(std::string_view field, std::string_view name, std::string& out) {
    out.clear();
    bool removed = false;
    each_pair(field, [&](std::string_view pair, std::string_view cookie, std::string_view) {
        if (cookie == name) {
            removed = true;
            return;
        }
        if (!out.empty()) out.append("; ");
        out.append(pair);
    });
    return removed;
}

}  // namespace clb::http
