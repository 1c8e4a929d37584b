// How many messages wait in an actor's mailbox (for metrics and collabctl).
//
// Its own file because CAF 0.17.6's inbox, on the way to counting, casts the
// queue's own sentinel node to a message (task_queue::back() when the cached
// queue is empty): undefined behaviour by the letter that UBSan's vptr check
// reports, and that aborts a sanitized node. The call cannot be written any
// other way (the inbox is CAF's), so this file alone is built without the
// vptr check (CMakeLists.txt); CAF's own code makes the same cast in every
// actor's resume, uninstrumented, in libcaf_core.
//
// Thread-safety: call it only from inside the actor (it moves messages
// from the actor's inbox to its cache).
#pragma once

#include <cstddef>

#include <caf/fwd.hpp>

namespace collab {

size_t mailbox_depth(caf::scheduled_actor* self);

} // namespace collab
