//! HTTP/2 on the client side (RFC 9113, RFC 7541), sans-io.
//!
//! - [`frame`]: frame headers, types, error codes, the frames we write.
//! - [`huffman`], [`hpack`]: header compression, with the RFC 7541 examples as tests.
//! - [`session`]: one connection's state machine. It turns each stream's request into
//!   HTTP/1.1 bytes and takes the HTTP/1.1 response back, so that each HTTP/2 stream is
//!   served by an ordinary moonproxy stream (the design: doc/http.md, "HTTP/2").
//!
//! The socket side (the connection's token, waking the streams) is
//! `crate::stream::h2conn` and `crate::runtime::world::h2`.

pub mod frame;
pub mod hpack;
pub mod huffman;
pub mod session;

pub use frame::PREFACE;
