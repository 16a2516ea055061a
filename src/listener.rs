//! Listening sockets: bind, accept until WouldBlock, maxconn gating.
