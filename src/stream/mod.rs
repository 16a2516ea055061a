//! Streams: one per client connection, an explicit state machine forwarding between two connections.
