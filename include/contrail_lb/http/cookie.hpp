// The Cookie request field (RFC 6265 §4.2): what cookie persistence needs of it.
#pragma once

#include <string>
#include <string_view>

namespace clb::http {

// The value of the first cookie called `name` in a Cookie field value ("a=1; b=2"), or
// empty. Surrounding whitespace and quotes are not part of it.
std::string_view find_cookie(std::string_view field, std::string_view name);

// `field` without the cookies called `name`, into `out` (cleared first), pairs joined by
// "; ". True when one was removed; `out` may then be empty (drop the field).
bool remove_cookie(std::string_view field, std::string_view name, std::string& out);

}  // namespace clb::http
