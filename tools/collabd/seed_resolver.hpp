// Seeds that name DNS records (a Kubernetes headless service, an
// autoscaling group's record): resolved now and every `interval`, each to
// all of its addresses, which go to membership (seeds_atom) to be dialled
// when they are not members yet. So a new node finds the cluster, and the
// cluster finds a new node, without anyone's configuration changing.
// Numeric seeds are membership's own (dialled at start).
//
// Thread-safety: its handlers run on a strand of the io_context it was
// given (which may have several threads); start() from main, before run.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "actors/cluster_protocol.hpp"

namespace collabd {

class seed_resolver {
public:
  // `seeds`: host:port, the numeric ones are skipped.
  seed_resolver(boost::asio::io_context& ioc, std::vector<std::string> seeds,
                collab::membership_actor membership,
                std::chrono::milliseconds interval);

  // False when no seed is a DNS name (nothing to do).
  bool start();

private:
  void resolve_all();
  void resolved(std::vector<std::string> addresses);

  struct name {
    std::string host, port;
  };
  std::vector<name> names_;
  collab::membership_actor membership_;
  std::chrono::milliseconds interval_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer timer_;
  size_t pending_ = 0;
  std::vector<std::string> found_; // this round's addresses
};

} // namespace collabd
