#include "actors/messages.hpp"

namespace collab {

// add_message_type<T> also registers std::vector<T>.
void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<ot::component>("collab::ot::component");
  cfg.add_message_type<ot::rope>("collab::ot::rope");
  cfg.add_message_type<committed_op>("collab::committed_op");
  cfg.add_message_type<shared_op>("collab::shared_op");
  cfg.add_message_type<join_request>("collab::join_request");
  cfg.add_message_type<leave_request>("collab::leave_request");
  cfg.add_message_type<submit_request>("collab::submit_request");
  cfg.add_message_type<presence_request>("collab::presence_request");
  cfg.add_message_type<joined_event>("collab::joined_event");
  cfg.add_message_type<op_event>("collab::op_event");
  cfg.add_message_type<ack_event>("collab::ack_event");
  cfg.add_message_type<presence_event>("collab::presence_event");
  cfg.add_message_type<error_event>("collab::error_event");
  cfg.add_message_type<ops_event>("collab::ops_event");
  cfg.add_message_type<presences_event>("collab::presences_event");
  cfg.add_message_type<doc_snapshot>("collab::doc_snapshot");
  cfg.add_message_type<member_info>("collab::member_info");
  cfg.add_message_type<placement_pin>("collab::placement_pin");
  cfg.add_message_type<node_status>("collab::node_status");
  cfg.add_message_type<doc_status>("collab::doc_status");
  cfg.add_message_type<subscriber_info>("collab::subscriber_info");
  cfg.add_message_type<doc_detail>("collab::doc_detail");
  cfg.add_message_type<conn_status>("collab::conn_status");
  cfg.add_message_type<revocation>("collab::revocation");
  // Typed handles in replies (a resolve answered by another node).
  cfg.add_message_type<document_actor>("collab::document_actor");
}

} // namespace collab
