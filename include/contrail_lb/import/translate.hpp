// haproxy.cfg (+ bird.conf) -> a contrail-lb configuration an operator would have written.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "contrail_lb/import/source.hpp"

namespace clb::import {

struct ImportInput {
    std::string haproxy_file;  // the name used in comments and errors
    std::string haproxy_text;
    std::optional<std::string> bird_file;
    std::string bird_text;
    // Where the hashed `stats auth` users go (admin.users_file), as the YAML names it;
    // empty when the output goes to stdout: then there is nowhere to write it.
    std::string users_file;
};

struct ImportResult {
    std::optional<SourceError> error;  // a file that cannot be parsed: exit 1
    std::string yaml;
    std::vector<Untranslated> untranslated;  // not empty: exit 3
    std::string users_file_text;             // "user:HASH\n" lines; empty = no users file
};

// Never throws for any input (a failed hash is an untranslated directive).
ImportResult translate(const ImportInput& input);

// crypt(3) of `password` with a fresh yescrypt (else SHA-512) salt; empty on failure.
std::string hash_password(const std::string& password);

}  // namespace clb::import
