//! Token layout: what a `mio::Token` means.
//!
//! A token is a `usize` split into three fields:
//!
//! ```text
//!  63            32 31           4 3     0
//! +----------------+--------------+-------+
//! |   generation   |  slot index  | kind  |
//! +----------------+--------------+-------+
//! ```
//!
//! * `kind` says which table the slot indexes ([`Kind`]): a reserved token (signals),
//!   a listener, the client or server side of a stream, a health check, an idle
//!   server connection, a Lua socket, or the CLI.
//! * `slot` is the index in that table (a slab key, a listener index ...).
//! * `generation` is the value the slot had when the token was registered. A slab slot
//!   is reused after a stream is removed; an event still queued for the old stream
//!   carries the old generation and is dropped by [`super::GenSlab::get_mut`] instead of
//!   reaching the new occupant.
//!
//! Only 64-bit targets are supported (mio itself assumes `usize` can hold a pointer).

use mio::Token;

/// Which table a token's slot indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A token reserved by name (see [`SIGNALS`]).
    Reserved = 0,
    /// A listening socket; the slot is the listener's index.
    Listener = 1,
    /// The client-side connection of a stream.
    Client = 2,
    /// The server-side connection of a stream.
    Server = 3,
    /// A health-check connection; the slot indexes the checks table.
    Check = 4,
    /// An idle HTTP server connection waiting in the shared pool (`http-reuse`).
    Idle = 5,
    /// A Lua socket (`core.tcp()`, `core.httpclient()`); the slot indexes the socket
    /// table of `lua::api::socket`.
    LuaSocket = 6,
    /// The stats socket CLI (`crate::cli_socket`): its listeners and sessions share
    /// one table, the slot indexes it.
    Cli = 7,
    /// The syslog relay (`log-forward` sections, `crate::log::forward`): its UDP
    /// sockets, TCP listeners and connections share one table, the slot indexes it.
    LogFwd = 8,
    /// An HTTP/2 client connection (`crate::stream::h2conn`): its streams are served
    /// by streams of their own; the slot indexes the runtime's HTTP/2 table.
    H2 = 9,
    /// The name-server sockets of a stream's `do-resolve` lookup
    /// (`crate::stream::resolve`): the slot is the stream's, as for [`Kind::Client`].
    Resolve = 10,
    /// A connection to an SPOE agent (`crate::runtime::spoe`); the slot indexes its
    /// connection table.
    Spoe = 11,
}

impl Kind {
    fn from_bits(b: usize) -> Option<Kind> {
        Some(match b {
            0 => Kind::Reserved,
            1 => Kind::Listener,
            2 => Kind::Client,
            3 => Kind::Server,
            4 => Kind::Check,
            5 => Kind::Idle,
            6 => Kind::LuaSocket,
            7 => Kind::Cli,
            8 => Kind::LogFwd,
            9 => Kind::H2,
            10 => Kind::Resolve,
            11 => Kind::Spoe,
            _ => return None,
        })
    }
}

const KIND_BITS: u32 = 4;
const SLOT_BITS: u32 = 28;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
/// The largest slot index a token can carry.
pub const MAX_SLOT: usize = SLOT_MASK;

/// A slab key together with the generation it had when handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub slot: usize,
    pub gen: u32,
}

/// A decoded token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tagged {
    pub kind: Kind,
    pub key: Key,
}

/// The self-pipe (or signalfd) of [`crate::sys::signals`].
pub const SIGNALS: Token = Token(0);
/// The [`mio::Waker`] of this reactor thread's mailbox (`nbthread` > 1: messages from
/// the other threads, `crate::runtime::threads`). Reserved kind, slot 1.
pub const MAILBOX: Token = Token(1 << KIND_BITS);

/// The UDP socket of name server `index` (`crate::dns`): reserved kind, slots from
/// [`crate::dns::FIRST_SLOT`] on.
pub fn dns(index: usize) -> Token {
    encode(Kind::Reserved, Key { slot: crate::dns::FIRST_SLOT + index, gen: 0 })
}

/// The name-server index of a [`dns`] token.
pub fn dns_index(token: Token) -> Option<usize> {
    let t = decode(token)?;
    (t.kind == Kind::Reserved && t.key.gen == 0).then(|| t.key.slot.checked_sub(crate::dns::FIRST_SLOT)).flatten()
}

/// Builds the token for `kind` and `key`.
pub fn encode(kind: Kind, key: Key) -> Token {
    debug_assert!(key.slot <= MAX_SLOT, "slot {} does not fit in a token", key.slot);
    Token(((key.gen as usize) << (KIND_BITS + SLOT_BITS)) | (key.slot << KIND_BITS) | kind as usize)
}

/// Splits a token back into its fields; `None` for a kind we never hand out.
pub fn decode(token: Token) -> Option<Tagged> {
    let raw = token.0;
    let kind = Kind::from_bits(raw & ((1 << KIND_BITS) - 1))?;
    let slot = (raw >> KIND_BITS) & SLOT_MASK;
    let gen = (raw >> (KIND_BITS + SLOT_BITS)) as u32;
    Some(Tagged { kind, key: Key { slot, gen } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for kind in [Kind::Listener, Kind::Client, Kind::Server, Kind::Check, Kind::Idle, Kind::LuaSocket, Kind::Cli, Kind::LogFwd, Kind::H2, Kind::Resolve, Kind::Spoe] {
            for (slot, gen) in [(0, 0), (1, 7), (MAX_SLOT, u32::MAX)] {
                let key = Key { slot, gen };
                assert_eq!(decode(encode(kind, key)), Some(Tagged { kind, key }));
            }
        }
    }

    #[test]
    fn reserved_signal_token_decodes_as_reserved() {
        let t = decode(SIGNALS).unwrap();
        assert_eq!(t.kind, Kind::Reserved);
        assert_eq!(t.key.slot, 0);
    }

    #[test]
    fn mailbox_token_is_reserved_and_distinct() {
        let t = decode(MAILBOX).unwrap();
        assert_eq!((t.kind, t.key.slot), (Kind::Reserved, 1));
        assert_ne!(MAILBOX, SIGNALS);
    }

    #[test]
    fn dns_tokens_round_trip_and_miss_the_named_ones() {
        assert_eq!(dns_index(dns(3)), Some(3));
        assert_eq!(dns_index(SIGNALS), None);
        assert_eq!(dns_index(MAILBOX), None);
    }

    #[test]
    fn kinds_past_the_last_are_refused() {
        // Four bits, twelve kinds: values 12..15 are free for new tables.
        assert_eq!(decode(Token(10)).map(|t| t.kind), Some(Kind::Resolve));
        assert_eq!(decode(Token(11)).map(|t| t.kind), Some(Kind::Spoe));
        assert_eq!(decode(Token(12)), None);
    }
}
