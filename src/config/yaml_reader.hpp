// Typed, error-collecting access to a yaml-cpp tree. Every reader reports what is wrong at
// the node's own position and returns nullopt, so the loader keeps going and the operator
// sees every error of the file at once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "contrail_lb/config/config.hpp"

namespace clb::config::detail {

// "\"text\"" for messages: truncated, control bytes escaped (a value must not be able to
// rewrite the operator's terminal or split a log line).
std::string in_quotes(std::string_view text);

// "12:7": a human-readable position, for "first defined at" notes.
std::string position(const YAML::Mark& mark);

// The collected errors of one load; positions come from yaml-cpp marks (0-based there).
class Diagnostics {
  public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}

    void error(const YAML::Mark& mark, std::string message);
    void error(const YAML::Node& at, std::string message) { error(at.Mark(), std::move(message)); }
    bool empty() const { return errors_.empty(); }
    std::vector<Error> take() { return std::move(errors_); }

  private:
    std::string file_;
    std::vector<Error> errors_;
};

// "services[0].health_check" + "timeout"
std::string child_path(const std::string& path, std::string_view key);
std::string item_path(const std::string& path, size_t index);

// The closest of `candidates` to `word` when it is close enough to be a likely typo.
std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates);

// A YAML mapping with a fixed set of allowed keys. Construction reports a node that is not a
// mapping, unknown keys (with a suggestion) and duplicate keys; a null node (a section with
// everything commented out) reads as an empty mapping.
class Section {
  public:
    // `allowed` are string literals (the schema), so views are safe to keep.
    Section(Diagnostics& diag, const YAML::Node& node, std::string path,
            std::vector<std::string_view> allowed);

    bool valid() const { return valid_; }
    const YAML::Node& node() const { return node_; }
    const std::string& path() const { return path_; }
    std::string path_of(std::string_view key) const { return child_path(path_, key); }

    // The value of `key` (possibly null: an empty subsection), or nullopt when absent.
    std::optional<YAML::Node> find(std::string_view key) const;
    // Same, but an absent key is an error reported at the mapping.
    std::optional<YAML::Node> require(std::string_view key) const;
    // For keys that hold a scalar or a list: like find/require, and a key written without a
    // value ("grace:") is an error reported at the key (yaml-cpp places an empty value at the
    // next token, usually on the following line).
    std::optional<YAML::Node> find_value(std::string_view key) const;
    std::optional<YAML::Node> require_value(std::string_view key) const;
    // For subsections: a key whose contents are all commented out ("tls:") counts as absent.
    std::optional<YAML::Node> find_section(std::string_view key) const;

    // Reads `key` with `read(node, path)` into `out` when present and valid; `out` keeps its
    // default otherwise.
    template <class T, class Read>
    void read(std::string_view key, T& out, Read&& read_value) const {
        if (auto value = find_value(key)) {
            if (auto parsed = read_value(*value, path_of(key))) out = std::move(*parsed);
        }
    }

  private:
    Diagnostics& diag_;
    YAML::Node node_;
    std::string path_;
    bool valid_ = false;
    std::unordered_map<std::string, YAML::Mark> key_marks_;
};

// Scalar readers. `path` names the key in messages ("services[0].retries").
class Scalars {
  public:
    explicit Scalars(Diagnostics& diag) : diag_(diag) {}

    std::optional<std::string> string(const YAML::Node& node, const std::string& path) const;
    std::optional<int64_t> integer(const YAML::Node& node, const std::string& path, int64_t min,
                                   int64_t max) const;
    std::optional<bool> boolean(const YAML::Node& node, const std::string& path) const;
    // `min` is inclusive; a duration must also fit a 32-bit millisecond count.
    std::optional<Duration> duration(const YAML::Node& node, const std::string& path,
                                     Duration min) const;
    std::optional<net::SocketAddress> socket_address(const YAML::Node& node,
                                                     const std::string& path) const;
    std::optional<net::IpAddress> ip_address(const YAML::Node& node, const std::string& path) const;

    template <class E>
    std::optional<E> choice(const YAML::Node& node, const std::string& path,
                            std::initializer_list<std::pair<std::string_view, E>> values) const {
        auto text = string(node, path);
        if (!text) return std::nullopt;
        for (const auto& [name, value] : values) {
            if (name == *text) return value;
        }
        std::vector<std::string_view> names;
        for (const auto& entry : values)
            names.push_back(entry.first);
        report_bad_choice(node, path, *text, names);
        return std::nullopt;
    }

    // A sequence node; anything else is reported.
    bool is_sequence(const YAML::Node& node, const std::string& path, std::string_view of) const;

  private:
    void report_bad_choice(const YAML::Node& node, const std::string& path, const std::string& text,
                           const std::vector<std::string_view>& names) const;

    Diagnostics& diag_;
};

// "a mapping", "a sequence", "the string \"x\"", "an empty value": for "expected X, got Y".
std::string describe(const YAML::Node& node);

}  // namespace clb::config::detail
