#include "config/yaml_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <unordered_map>

namespace clb::config::detail {

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-blind:
// "timout", "retires" and "Timeout" are all one edit from what was meant.
size_t edit_distance(std::string_view a, std::string_view b) {
    auto lower = [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

std::string in_quotes(std::string_view text) {
    constexpr size_t kMax = 60;
    std::string out = "\"";
    for (char c : text.substr(0, kMax)) {
        auto byte = static_cast<unsigned char>(c);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        } else {
            out += c;
        }
    }
    if (text.size() > kMax) out += "...";
    return out + "\"";
}

namespace {

std::string join_choices(const std::vector<std::string_view>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
        out += names[i];
    }
    return out;
}

std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates) {
    if (auto best = closest(word, candidates))
        return " (did you mean \"" + std::string(*best) + "\"?)";
    return "";
}

// A quoted scalar is a string to YAML even when it looks like a number or a boolean.
bool is_quoted(const YAML::Node& node) {
    return node.Tag() == "!";
}

}  // namespace

std::string position(const YAML::Mark& mark) {
    return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

void Diagnostics::error(const YAML::Mark& mark, std::string message) {
    Error e;
    e.file = file_;
    // yaml-cpp marks are 0-based and -1 when unknown (an empty document): point at 1:1 then,
    // the file is still where the problem is.
    e.line = mark.line >= 0 ? mark.line + 1 : 1;
    e.column = mark.column >= 0 ? mark.column + 1 : 1;
    e.message = std::move(message);
    errors_.push_back(std::move(e));
}

std::string child_path(const std::string& path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return path + "." + std::string(key);
}

std::string item_path(const std::string& path, size_t index) {
    return path + "[" + std::to_string(index) + "]";
}

std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
    // Keys and names are short; a long word is no typo, and the distance is quadratic.
    constexpr size_t kMaxWord = 64;
    if (word.size() > kMaxWord) return std::nullopt;
    std::optional<std::string_view> best;
    size_t best_distance = std::numeric_limits<size_t>::max();
    for (auto candidate : candidates) {
        if (candidate.size() > kMaxWord) continue;
        size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    // Two edits is a typo; more than that (or rewriting a short word entirely) is a different
    // word, and suggesting something unrelated would only confuse.
    if (best && best_distance <= 2 && best_distance < word.size()) return best;
    // A truncated or extended word: "warning" for "warn", "health" for "health_check".
    auto starts = [](std::string_view text, std::string_view prefix) {
        return prefix.size() >= 3 && prefix.size() <= text.size() &&
               edit_distance(text.substr(0, prefix.size()), prefix) == 0;
    };
    for (auto candidate : candidates) {
        if (starts(word, candidate) || starts(candidate, word)) return candidate;
    }
    return std::nullopt;
}

std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return in_quotes(node.Scalar());
        default:
            return "nothing";
    }
}

Section::Section(Diagnostics& diag, const YAML::Node& node, std::string path,
                 std::vector<std::string_view> allowed)
    : diag_(diag), node_(node), path_(std::move(path)) {
    if (node.IsNull()) {
        valid_ = true;
        return;
    }
    if (!node.IsMap()) {
        diag_.error(node, (path_.empty() ? "the configuration" : path_) +
                              ": expected a mapping of keys, got " + describe(node));
        return;
    }
    valid_ = true;
    std::string where = path_.empty() ? " at top level" : " in " + path_;
    for (const auto& entry : node) {
        const YAML::Node& key = entry.first;
        if (!key.IsScalar()) {
            diag_.error(key, "expected a plain key" + where + ", got " + describe(key));
            continue;
        }
        const std::string& name = key.Scalar();
        auto [first, inserted] = key_marks_.emplace(name, key.Mark());
        if (!inserted) {
            diag_.error(key, "duplicate key " + in_quotes(name) + where + " (first at " +
                                 position(first->second) + ")");
            continue;
        }
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            std::string hint = suggestion(name, allowed);
            if (hint.empty()) hint = " (expected " + join_choices(allowed) + ")";
            diag_.error(key, "unknown key " + in_quotes(name) + where + hint);
        }
    }
}

std::optional<YAML::Node> Section::find(std::string_view key) const {
    if (!node_.IsMap()) return std::nullopt;
    for (const auto& entry : node_) {
        if (entry.first.IsScalar() && entry.first.Scalar() == key) return entry.second;
    }
    return std::nullopt;
}

std::optional<YAML::Node> Section::require(std::string_view key) const {
    auto value = find(key);
    if (!value && valid_) {
        diag_.error(node_, "missing required key \"" + std::string(key) + "\" in " +
                               (path_.empty() ? "the top level" : path_));
    }
    return value;
}

std::optional<YAML::Node> Section::find_value(std::string_view key) const {
    auto value = find(key);
    if (value && value->IsNull()) {
        auto mark = key_marks_.find(std::string(key));
        diag_.error(mark != key_marks_.end() ? mark->second : value->Mark(),
                    path_of(key) + ": no value given");
        return std::nullopt;
    }
    return value;
}

std::optional<YAML::Node> Section::require_value(std::string_view key) const {
    auto value = find(key);
    if (!value) return require(key);
    return find_value(key);
}

std::optional<YAML::Node> Section::find_section(std::string_view key) const {
    auto value = find(key);
    if (value && value->IsNull()) return std::nullopt;
    return value;
}

std::optional<std::string> Scalars::string(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) {
        diag_.error(node, path + ": expected a string, got " + describe(node));
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<int64_t> Scalars::integer(const YAML::Node& node, const std::string& path,
                                        int64_t min, int64_t max) const {
    std::string range = std::to_string(min) + ".." + std::to_string(max);
    auto fail = [&] {
        diag_.error(node, path + ": expected an integer in " + range + ", got " + describe(node));
        return std::nullopt;
    };
    if (!node.IsScalar() || is_quoted(node)) return fail();
    // Plain decimal only: YAML 1.1 reads 010 as octal and 0x10 as hex, and a port or an AS
    // number must mean what it looks like.
    const std::string& text = node.Scalar();
    std::string_view digits = text;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    if (digits.empty() || (digits.size() > 1 && digits.front() == '0') ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail();
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        std::string shown = text.size() <= 24 ? text : text.substr(0, 24) + "...";
        diag_.error(node, path + ": " + shown + " is out of range " + range);
        return std::nullopt;
    }
    return value;
}

std::optional<bool> Scalars::boolean(const YAML::Node& node, const std::string& path) const {
    if (node.IsScalar() && !is_quoted(node)) {
        const std::string& text = node.Scalar();
        if (text == "true" || text == "True" || text == "TRUE") return true;
        if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    diag_.error(node, path + ": expected true or false, got " + describe(node));
    return std::nullopt;
}

std::optional<Duration> Scalars::duration(const YAML::Node& node, const std::string& path,
                                          Duration min) const {
    auto text = string(node, path);
    if (!text) return std::nullopt;
    auto value = parse_duration(*text);
    if (!value) {
        diag_.error(node, path + ": invalid duration " + in_quotes(*text) +
                              ": use a number with a unit: 250ms, 2s, 1m");
        return std::nullopt;
    }
    // Other modules add durations to clocks and multiply them; keep them far from overflow.
    constexpr Duration kMax = std::chrono::hours(24);
    // As written, unless it is padded out of all proportion ("0000...0001s").
    std::string shown = text->size() <= 24 ? *text : format_duration(*value);
    if (*value < min) {
        diag_.error(
            node, path + ": " + shown + " is too short: must be " +
                      (min == Duration(1) ? "greater than 0" : "at least " + format_duration(min)));
        return std::nullopt;
    }
    if (*value > kMax) {
        diag_.error(node, path + ": " + shown + " is too long: must be at most 24h");
        return std::nullopt;
    }
    return value;
}

std::optional<net::SocketAddress> Scalars::socket_address(const YAML::Node& node,
                                                          const std::string& path) const {
    auto text = string(node, path);
    if (!text) return std::nullopt;
    auto address = net::SocketAddress::parse(*text);
    if (!address) {
        diag_.error(node, path + ": invalid address " + in_quotes(*text) +
                              ": use IP:PORT, e.g. 10.0.0.11:8082, \"[::1]:8082\" or \"*:8082\"");
        return std::nullopt;
    }
    if (address->port() == 0) {
        diag_.error(node,
                    path + ": port 0 in " + in_quotes(*text) + " is not a usable port (1..65535)");
        return std::nullopt;
    }
    return address;
}

std::optional<net::IpAddress> Scalars::ip_address(const YAML::Node& node,
                                                  const std::string& path) const {
    auto text = string(node, path);
    if (!text) return std::nullopt;
    auto ip = net::IpAddress::parse(*text);
    if (!ip) {
        diag_.error(node, path + ": invalid IP address " + in_quotes(*text) +
                              " (literal IPv4 or IPv6 only, no host names)");
    }
    return ip;
}

bool Scalars::is_sequence(const YAML::Node& node, const std::string& path,
                          std::string_view of) const {
    if (node.IsSequence()) return true;
    diag_.error(node, path + ": expected a list of " + std::string(of) + ", got " + describe(node));
    return false;
}

void Scalars::report_bad_choice(const YAML::Node& node, const std::string& path,
                                const std::string& text,
                                const std::vector<std::string_view>& names) const {
    diag_.error(node, path + ": unknown value " + in_quotes(text) + ": use " + join_choices(names) +
                          suggestion(text, names));
}

}  // namespace clb::config::detail
