#include "contrail_lb/http/responses.hpp"

#include <string>
#include <vector>

#include "contrail_lb/http/head.hpp"
#include "contrail_lb/http/parser.hpp"

namespace clb::http {

namespace {

struct Canned {
    int status;
    std::string text;
};

std::string render(int status, std::string_view reason, std::string_view body) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                      "\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
                      "Connection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

const std::vector<Canned>& canned() {
    static const std::vector<Canned> responses = [] {
        struct Row {
            int status;
            std::string_view reason, body;
        };
        const Row rows[] = {
            {400, "Bad Request", "400 malformed request\n"},
            {408, "Request Timeout", "408 request head timeout\n"},
            {413, "Content Too Large", "413 content too large\n"},
            {414, "URI Too Long", "414 URI too long\n"},
            {431, "Request Header Fields Too Large", "431 request head too large\n"},
            {500, "Internal Server Error", "500 internal error\n"},
            {501, "Not Implemented", "501 not implemented\n"},
            {502, "Bad Gateway", "502 the backend failed\n"},
            {503, "Service Unavailable", "503 no backend is available\n"},
            {504, "Gateway Timeout", "504 the backend timed out\n"},
            {505, "HTTP Version Not Supported", "505 HTTP version not supported\n"},
        };
        std::vector<Canned> out;
        for (const auto& r : rows)
            out.push_back({r.status, render(r.status, r.reason, r.body)});
        return out;
    }();
    return responses;
}

// The head of `file` with every line ended by CRLF (an editor may have saved LF), and where
// the body starts; nullopt when no empty line ends the head.
std::optional<std::string> crlf_head(std::string_view file, size_t& body_at) {
    std::string head;
    for (size_t pos = 0; pos < file.size();) {
        size_t lf = file.find('\n', pos);
        if (lf == std::string_view::npos) break;
        std::string_view line = file.substr(pos, lf - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        head.append(line).append("\r\n");
        pos = lf + 1;
        if (line.empty()) {
            body_at = pos;
            return head;
        }
    }
    return std::nullopt;
}

// The fields this proxy decides for an error answer: how the connection ends.
bool connection_field(const Head& head, std::string_view name) {
    return iequals(name, "connection") || iequals(name, "keep-alive") ||
           iequals(name, "proxy-connection") || head.named_by_connection(name);
}

}  // namespace

std::optional<std::string> make_error_page(std::string_view file, std::string& error) {
    auto refuse = [&](std::string why) -> std::optional<std::string> {
        error = std::move(why);
        return std::nullopt;
    };
    size_t body_at = 0;
    auto head_text = crlf_head(file, body_at);
    if (!head_text) return refuse("not an HTTP response: no empty line after the headers");
    Head head;
    MessageParser framing(Kind::response);
    if (!head.parse(*head_text) || !head.first().starts_with("HTTP/"))
        return refuse("not an HTTP/1.x response: " +
                      std::string(head.error().empty() ? "a request line" : head.error()));
    if (!framing.parse_head(head_text->data(), head_text->size()))
        return refuse("not an HTTP/1.x response: " + std::string(framing.error()));
    if (framing.status() < 200)
        return refuse("status " + std::string(head.second()) +
                      " is not a final response (200..599)");
    if (head.find("transfer-encoding"))
        return refuse(
            "Transfer-Encoding is not supported: give the body as is, with or "
            "without Content-Length");
    std::string_view body = file.substr(body_at);
    const Header* length = head.find("content-length");
    if (length && length->value != std::to_string(body.size()))
        return refuse("Content-Length is " + std::string(length->value) + " but the body has " +
                      std::to_string(body.size()) + " bytes");
    std::string out;
    out.reserve(file.size() + 64);
    out.append(head.start_line()).append("\r\n");
    for (const auto& h : head.headers()) {
        if (connection_field(head, h.name)) continue;
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    // Without a length, the client could only find the end by the close.
    if (!length) out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append("Connection: close\r\n\r\n").append(body);
    return out;
}

std::string_view error_response(int status) {
    for (const auto& r : canned())
        if (r.status == status) return r.text;
    return error_response(500);
}

namespace {

std::string_view without_port(std::string_view host) {
    if (host.starts_with('[')) return host.substr(0, host.find(']') + 1);  // [IPv6]:port
    return host.substr(0, host.find(':'));
}

// "/a?b" from "/a?b" or "http://h:1/a?b"; "/" for "*" or a bare authority.
std::string_view path_and_query(std::string_view target) {
    size_t scheme_end = target.find("://");
    if (!target.starts_with('/') && scheme_end != std::string_view::npos) {
        size_t path = target.find_first_of("/?", scheme_end + 3);
        target = path == std::string_view::npos ? std::string_view() : target.substr(path);
    }
    bool has_path = target.starts_with('/') || target.starts_with('?');
    return has_path ? target : std::string_view("/");
}

}  // namespace

std::string_view redirect_reason(int code) {
    switch (code) {
        case 301:
            return "Moved Permanently";
        case 303:
            return "See Other";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        default:
            return "Found";
    }
}

void append_redirect(std::string& out, int code, std::string_view scheme, uint16_t port,
                     std::string_view host, std::string_view target, std::string_view connection) {
    out.append("HTTP/1.1 ").append(std::to_string(code)).append(" ");
    out.append(redirect_reason(code)).append("\r\nLocation: ");
    out.append(scheme).append("://").append(without_port(host));
    uint16_t default_port = scheme == "https" ? 443 : 80;
    if (port != default_port) out.append(":").append(std::to_string(port));
    std::string_view path = path_and_query(target);
    // A query without a path ("?a" in "http://h?a") still needs the path's "/".
    if (path.starts_with('?')) out.append("/");
    out.append(path).append("\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n");
    if (!connection.empty()) out.append("Connection: ").append(connection).append("\r\n");
    out.append("\r\n");
}

}  // namespace clb::http
