// The admin server's view of HTTP: a parsed request, a response to send, and the routes
// between them. Transport (sockets, parsing, timeouts) lives in server.cpp.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/address.hpp"

namespace clb::admin {

struct Request {
    std::string method;  // "GET"
    std::string target;  // as sent: "/stats?refresh=5"
    net::SocketAddress peer;
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra: Allow, Location
};

const char* reason_phrase(int status);
Response text_response(int status, std::string body);
// {"error": message}
Response json_error(int status, std::string_view message);

// The bytes of a response. `head_only` (HEAD) keeps Content-Length but drops the body;
// `keep_alive` false adds Connection: close.
std::string serialize(const Response& response, bool head_only, bool keep_alive,
                      std::string_view version, double now);

// The path of a request target, without query: origin form ("/a?b") or absolute form
// ("http://host/a?b"). Empty when the target is neither.
std::string_view target_path(std::string_view target);
// The value of `name` in the target's query string, or empty.
std::string_view query_parameter(std::string_view target, std::string_view name);

// Maps requests to the endpoints. Runs on the control thread.
class Router {
  public:
    explicit Router(Sources sources) : sources_(std::move(sources)) {}
    Response handle(const Request& request, double now);
    const Sources& sources() const { return sources_; }

  private:
    Response backend_admin(const Request& request, std::string_view service,
                           std::string_view backend, std::string_view action);
    Sources sources_;
};

}  // namespace clb::admin
