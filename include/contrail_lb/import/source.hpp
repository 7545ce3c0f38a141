// What the importers read: positions in an operator's file, and what they report.
#pragma once

#include <string>
#include <vector>

namespace clb::import {

// A file the importer cannot read as HAProxy or BIRD syntax: exit status 1.
struct SourceError {
    std::string file;
    int line = 0;  // 1-based; 0 when the whole file is at fault
    std::string message;
    // "FILE:LINE: message"
    std::string to_string() const;
};

// Where a translated or untranslated piece came from.
struct Origin {
    std::string file;
    int line = 0;
    std::string where() const { return file + ":" + std::to_string(line); }
};

// One directive the translation left out, or changed in a way the operator must know.
struct Untranslated {
    Origin origin;
    std::string directive;  // as written, on one line
    std::string why;
    // "FILE:LINE: <directive>: <why>"
    std::string to_string() const;
};

// Files larger than this are refused: an haproxy.cfg or bird.conf is a few KiB.
inline constexpr size_t kMaxSourceBytes = 4 * 1024 * 1024;

}  // namespace clb::import
