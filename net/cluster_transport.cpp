#include "net/cluster_transport.hpp"

#include <set>
#include <utility>

#include <sys/socket.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/io/scribe.hpp>

namespace collab::net {
namespace {

class cluster_middleman : public caf::io::middleman_actor_impl {
public:
  cluster_middleman(caf::actor_config& cfg, caf::actor basp,
                    cluster_dial_fn dial)
      : caf::io::middleman_actor_impl(cfg, std::move(basp)),
        dial_(std::move(dial)) {
    // nop
  }

  const char* name() const override { return "cluster_middleman"; }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host,
                                             uint16_t port) override {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      return caf::make_error(caf::sec::cannot_connect_to_node,
                             "socketpair failed", host, port);
    dial_(host, port, fds[1]);
    return system().middleman().backend().new_scribe(fds[0]);
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t, const char*,
                                           bool) override {
    return caf::make_error(caf::sec::cannot_open_port,
                           "BASP listens only through the cluster tunnel");
  }

private:
  cluster_dial_fn dial_;
};

caf::actor basp_broker(caf::actor_system& sys) {
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

} // namespace

caf::io::middleman_actor spawn_cluster_middleman(caf::actor_system& sys,
                                                 cluster_dial_fn dial) {
  // Detached like CAF's own: connect() makes a system call.
  return sys.spawn<cluster_middleman, caf::detached + caf::hidden>(
    basp_broker(sys), std::move(dial));
}

void hand_to_basp(caf::actor_system& sys, int fd, const caf::actor& published,
                  uint16_t port) {
  auto scribe = sys.middleman().backend().new_scribe(fd);
  caf::anon_send(basp_broker(sys), caf::publish_atom_v, std::move(scribe), port,
                 caf::actor_cast<caf::strong_actor_ptr>(published),
                 std::set<std::string>{});
}

} // namespace collab::net
