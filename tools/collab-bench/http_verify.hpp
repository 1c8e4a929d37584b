// GET /v1/docs/{id} over plain HTTP/1.1 with the bench's bearer token, to
// compare the server's stored text and revision with what the clients hold.
// One keep-alive connection per fetcher, reopened once when the server
// drops it; every request has a 10 s deadline.
//
// Thread-safety: a fetcher is used by one thread (main, after the run).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "options.hpp"

namespace collab::bench {

struct http_doc {
  unsigned status = 0;
  uint64_t rev = 0;
  std::string text;
  bool no_store = false; // Cache-Control: no-store present (docs/PROTOCOL.md)
};

class http_fetcher {
public:
  http_fetcher(endpoint ep, std::vector<boost::asio::ip::tcp::endpoint> addrs,
               std::string token);
  ~http_fetcher();
  // True with `out` filled on a 200 with a well-formed body; otherwise false
  // with `why`.
  bool get_doc(const std::string& doc_id, http_doc& out, std::string& why);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace collab::bench
