// A blocking HTTP client for one admin request (collabctl runs one or a few
// per invocation): connect, send with the bearer token, read the answer.
#pragma once

#include <chrono>
#include <string>

namespace collabctl {

struct admin_answer {
  unsigned status = 0; // 0: the node could not be reached
  std::string body;
  std::string transport_error;
};

admin_answer admin_request(const std::string& node, const std::string& token,
                           const std::string& method, const std::string& target,
                           const std::string& body,
                           std::chrono::milliseconds timeout);

} // namespace collabctl
