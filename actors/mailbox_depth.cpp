#include "actors/mailbox_depth.hpp"

#include <caf/scheduled_actor.hpp>

namespace collab {

size_t mailbox_depth(caf::scheduled_actor* self) {
  return self->mailbox().size();
}

} // namespace collab
