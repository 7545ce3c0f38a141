// bird.conf (BIRD 2) as a tree of statements: words up to ';' or a '{ ... }' block.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/import/source.hpp"

namespace clb::import {

struct BirdStatement {
    int line = 0;
    std::vector<std::string> words;  // strings keep their quotes: "\"eth0\""
    bool has_block = false;
    std::vector<BirdStatement> block;  // the statements inside { ... }
    std::string text() const;          // words joined by spaces (for comments)
};

struct BirdConfig {
    std::string file;
    std::vector<BirdStatement> statements;
};

struct BirdParse {
    std::optional<BirdConfig> config;
    std::optional<SourceError> error;
};

// Never throws; an unterminated string, comment or block, a stray '}', or nesting deeper
// than 32 is an error at its line.
BirdParse parse_bird(std::string_view text, const std::string& file);

}  // namespace clb::import
