//! HAProxy's two-letter termination state (`%ts`): the first letter says what ended
//! the stream, the second in which state it was.

/// First letter: the cause (HAProxy's `SF_ERR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Cause {
    /// `-`: normal end.
    #[default]
    None,
    /// `C`: the client aborted.
    ClientAbort,
    /// `S`: the server aborted or refused.
    ServerAbort,
    /// `P`: the proxy aborted (rule, internal limit).
    ProxyAbort,
    /// `R`: a resource was exhausted (memory, sockets, ports).
    Resource,
    /// `I`: internal error.
    Internal,
    /// `D`: the session was killed because the server went down.
    Down,
    /// `L`: the proxy answered locally.
    Local,
    /// `U`: killed because a backup server went up.
    Up,
    /// `K`: killed by the administrator.
    Killed,
    /// `c`: client-side timeout.
    ClientTimeout,
    /// `s`: server-side timeout.
    ServerTimeout,
}

/// Second letter: where the stream was (HAProxy's `SF_FINST_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Phase {
    /// `-`: normal end.
    #[default]
    None,
    /// `R`: waiting for the request (or running request rules).
    Request,
    /// `Q`: waiting in a queue.
    Queue,
    /// `C`: connecting to the server.
    Connect,
    /// `H`: waiting for the response headers.
    Headers,
    /// `D`: transferring data.
    Data,
    /// `L`: the proxy was sending its last data.
    Last,
    /// `T`: tarpitted.
    Tarpit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Termination {
    pub cause: Cause,
    pub phase: Phase,
}

impl Termination {
    pub const NORMAL: Termination = Termination { cause: Cause::None, phase: Phase::None };

    pub fn new(cause: Cause, phase: Phase) -> Termination {
        Termination { cause, phase }
    }

    /// The two characters for `%ts`.
    pub fn code(self) -> [u8; 2] {
        let c = match self.cause {
            Cause::None => b'-',
            Cause::ClientAbort => b'C',
            Cause::ServerAbort => b'S',
            Cause::ProxyAbort => b'P',
            Cause::Resource => b'R',
            Cause::Internal => b'I',
            Cause::Down => b'D',
            Cause::Local => b'L',
            Cause::Up => b'U',
            Cause::Killed => b'K',
            Cause::ClientTimeout => b'c',
            Cause::ServerTimeout => b's',
        };
        let p = match self.phase {
            Phase::None => b'-',
            Phase::Request => b'R',
            Phase::Queue => b'Q',
            Phase::Connect => b'C',
            Phase::Headers => b'H',
            Phase::Data => b'D',
            Phase::Last => b'L',
            Phase::Tarpit => b'T',
        };
        [c, p]
    }
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b] = self.code();
        write!(f, "{}{}", a as char, b as char)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_haproxy() {
        let cases = [
            (Cause::None, Phase::None, "--"),
            (Cause::ClientTimeout, Phase::Data, "cD"),
            (Cause::ServerTimeout, Phase::Data, "sD"),
            (Cause::ServerAbort, Phase::Connect, "SC"),
            (Cause::ServerTimeout, Phase::Connect, "sC"),
            (Cause::ClientAbort, Phase::Connect, "CC"),
            (Cause::ServerTimeout, Phase::Queue, "sQ"),
            (Cause::ServerAbort, Phase::Data, "SD"),
            (Cause::ClientAbort, Phase::Data, "CD"),
            (Cause::Killed, Phase::Data, "KD"),
            (Cause::Down, Phase::Data, "DD"),
        ];
        for (c, p, s) in cases {
            assert_eq!(Termination::new(c, p).to_string(), s);
        }
    }
}
