// The admin server's view of HTTP: a parsed request, a response to send, and the routes
// between them. Transport (sockets, parsing, timeouts) lives in server.cpp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/basic_auth.hpp"
#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/address.hpp"

namespace clb::admin {

struct Request {
    std::string method;  // "GET"
    std::string target;  // as sent: "/stats?refresh=5"
    net::SocketAddress peer;
    net::SocketAddress local;  // the address the client reached
    // The fields access control looks at (access.cpp); empty when absent.
    std::string host;
    std::string origin;
    std::string sec_fetch_site;
    std::string authorization;
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra: Allow, Location
    // Set when the answer comes later (POST /api/v1/upgrade): the connection calls it with
    // the function that sends the answer, and reads nothing more until then.
    std::function<void(std::function<void(Response)> answer)> later;
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

// Who may do what (docs/admin.md "Access control"): nullopt when `request` may go on,
// else the refusal (403 for a foreign Host or a cross-site request, 401 for a missing or
// wrong token on a state-changing request).
std::optional<Response> refuse_access(const Request& request, std::string_view token);
// With admin.users_file (`users` enabled): nullopt when `request` carries valid HTTP Basic
// credentials, or, for a state change, the bearer `token`; else 401 with a Basic
// challenge (a browser asks), or 429 once the client IP has used up its failures. Wrong
// credentials are logged (client, user name, never the password).
std::optional<Response> refuse_unauthenticated(const Request& request, std::string_view token,
                                               BasicAuth& users, double now);
// Equal contents in a time that does not depend on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// Maps requests to the endpoints. Runs on the control thread.
class Router {
  public:
    explicit Router(Sources sources) : sources_(std::move(sources)) {
        users_.set_users(sources_.users);
    }
    Response handle(const Request& request, double now);
    const Sources& sources() const { return sources_; }
    void set_token(std::string token) { sources_.token = std::move(token); }
    void set_users(std::vector<config::AdminUser> users) { users_.set_users(std::move(users)); }

  private:
    Response upgrade(const Request& request);
    Response backend_admin(const Request& request, std::string_view service,
                           std::string_view backend, std::string_view action);
    Sources sources_;
    BasicAuth users_;
};

}  // namespace clb::admin
