// --source-addrs; see source_addrs.hpp.
#include "source_addrs.hpp"

#include <netinet/in.h>

#include <atomic>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 // Linux 4.2 (linux/in.h)
#endif

namespace collab::bench {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Constant after set_source_addrs().
std::vector<asio::ip::address> sources;
std::atomic<size_t> next_source{0};

bool has_family(bool v6) {
  for (const auto& a : sources)
    if (a.is_v6() == v6)
      return true;
  return false;
}

} // namespace

bool set_source_addrs(const std::vector<std::string>& addrs, std::string& why) {
  sources.clear();
  for (const auto& text : addrs) {
    const auto dash = text.find('-');
    boost::system::error_code ec, ec2;
    auto a = asio::ip::make_address(text.substr(0, dash), ec);
    if (dash == std::string::npos) {
      if (ec) {
        why = "bad --source-addrs address: " + text;
        return false;
      }
      sources.push_back(a);
      continue;
    }
    // A range of IPv4 addresses, both ends included.
    auto b = asio::ip::make_address(text.substr(dash + 1), ec2);
    if (ec || ec2 || !a.is_v4() || !b.is_v4()
        || b.to_v4().to_uint() < a.to_v4().to_uint()
        || b.to_v4().to_uint() - a.to_v4().to_uint() >= 65536) {
      why = "bad --source-addrs range (FIRST-LAST, IPv4, at most 65536): "
            + text;
      return false;
    }
    for (auto i = a.to_v4().to_uint(); i <= b.to_v4().to_uint(); ++i)
      sources.push_back(asio::ip::address_v4(i));
  }
  return true;
}

bool have_source_addrs() {
  return !sources.empty();
}

bool open_bound(tcp::socket& s, const tcp::endpoint& peer,
                boost::system::error_code& ec) {
  s.open(peer.protocol(), ec);
  if (ec || sources.empty())
    return !ec;
  const bool v6 = peer.address().is_v6();
  if (!has_family(v6))
    return true;
  asio::ip::address a;
  do // some entry of this family exists: the loop ends
    a = sources[next_source.fetch_add(1, std::memory_order_relaxed)
                % sources.size()];
  while (a.is_v6() != v6);
  using no_port
    = asio::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;
  boost::system::error_code ignored; // without it: a port at bind
  s.set_option(no_port(true), ignored);
  s.bind(tcp::endpoint(a, 0), ec);
  return !ec;
}

const tcp::endpoint& pick_endpoint(const std::vector<tcp::endpoint>& eps) {
  for (const auto& ep : eps)
    if (has_family(ep.address().is_v6()))
      return ep;
  return eps.front();
}

} // namespace collab::bench
