// --source-addrs: the local addresses the bench's outgoing sockets bind to,
// one after the other (round-robin), so that tens of thousands of sockets
// to one server address do not run out of ephemeral ports (a source
// address, server address and server port share one range of ~28,000 local
// ports; sockets the bench closed hold theirs in TIME_WAIT for a minute).
// On Linux every 127.x.y.z is local, so 127.0.0.2, 127.0.0.3, ... need no
// set-up. The port is picked at connect (IP_BIND_ADDRESS_NO_PORT), so that
// one local port serves many server addresses.
//
// Thread-safety: set_source_addrs() once at start-up, before any I/O
// thread; open_bound() from any thread (the round-robin count is atomic).
#pragma once

#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace collab::bench {

// Parses addresses ("127.0.0.1", "::1") and IPv4 ranges, both ends
// included ("127.0.0.1-127.0.0.16"); an empty list: no binding. False with
// `why` on a bad one.
bool set_source_addrs(const std::vector<std::string>& addrs, std::string& why);
bool have_source_addrs();

// Opens `s` for `peer`'s protocol and binds it to the next source address
// of that family (none given: only opens). False with `ec` on failure.
bool open_bound(boost::asio::ip::tcp::socket& s,
                const boost::asio::ip::tcp::endpoint& peer,
                boost::system::error_code& ec);

// The endpoint of `eps` to connect a bound socket to: the first of a family
// some source address has (else the first).
const boost::asio::ip::tcp::endpoint&
pick_endpoint(const std::vector<boost::asio::ip::tcp::endpoint>& eps);

} // namespace collab::bench
