// Factories for the two kinds of client session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "contrail_lb/net/address.hpp"
#include "contrail_lb/net/fd.hpp"
#include "contrail_lb/tls/tls.hpp"
#include "worker_impl.hpp"

namespace clb::proxy {

std::unique_ptr<Session> make_http_session(Worker::Impl& worker, net::Fd fd,
                                           const net::SocketAddress& peer,
                                           const std::string& service, uint16_t listen_port,
                                           const std::shared_ptr<const tls::ServerContext>& tls);
std::unique_ptr<Session> make_tcp_session(Worker::Impl& worker, net::Fd fd,
                                          const net::SocketAddress& peer,
                                          const std::string& service);

}  // namespace clb::proxy
