#include "seed_resolver.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace collabd {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

seed_resolver::seed_resolver(asio::io_context& ioc,
                             std::vector<std::string> seeds,
                             collab::membership_actor membership,
                             std::chrono::milliseconds interval)
    : membership_(std::move(membership)),
      interval_(interval),
      strand_(asio::make_strand(ioc)),
      resolver_(strand_),
      timer_(strand_) {
  for (auto& s : seeds) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos)
      continue;
    auto host = s.substr(0, colon);
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    if (ec) // not numeric
      names_.push_back({host, s.substr(colon + 1)});
  }
}

bool seed_resolver::start() {
  if (names_.empty())
    return false;
  resolve_all();
  return true;
}

void seed_resolver::resolve_all() {
  pending_ = names_.size();
  found_.clear();
  for (auto& n : names_)
    resolver_.async_resolve(
      n.host, n.port, tcp::resolver::numeric_service,
      [this, host = n.host](const boost::system::error_code& ec,
                            tcp::resolver::results_type results) {
        if (ec)
          spdlog::warn("event=seed_unresolved host={} error=\"{}\"", host,
                       ec.message());
        else
          for (auto& r : results)
            found_.push_back(r.endpoint().address().to_string() + ":"
                             + std::to_string(r.endpoint().port()));
        if (--pending_ == 0)
          resolved(std::move(found_));
      });
}

void seed_resolver::resolved(std::vector<std::string> addresses) {
  if (!addresses.empty())
    caf::anon_send(membership_, collab::seeds_atom_v, std::move(addresses));
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec)
      resolve_all();
  });
}

} // namespace collabd
