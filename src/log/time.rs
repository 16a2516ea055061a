//! Calendar arithmetic and the date formats HAProxy prints in logs.
//!
//! Pure functions over a `SystemTime` and a UTC offset in seconds, so every format can be
//! tested against a fixed instant. The local offset comes from [`local_offset`], which reads
//! the system time zone once (`TZ`, else `/etc/localtime`, see [`super::tz`]).

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down date in some time zone (the zone is `offset` seconds east of UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tm {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub micros: u32,
    /// Seconds east of UTC.
    pub offset: i32,
}

/// Seconds and microseconds since the epoch; instants before 1970 are clamped to it
/// (a proxy's clock is never there, and logging must not fail).
fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// A date kept in 8 bytes (nanoseconds since the epoch, enough until 2554) where a
/// `SystemTime` takes 16: every stream and HTTP side holds one for as long as its
/// connection lives, idle ones included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedDate(u64);

impl PackedDate {
    pub fn get(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }
}

impl From<SystemTime> for PackedDate {
    fn from(t: SystemTime) -> PackedDate {
        PackedDate(u64::try_from(since_epoch(t).as_nanos()).unwrap_or(u64::MAX))
    }
}

/// Unix timestamp in whole seconds (`%Ts`).
pub fn unix_secs(t: SystemTime) -> u64 {
    since_epoch(t).as_secs()
}

/// Breaks `t` down in the zone `offset` seconds east of UTC.
pub fn breakdown(t: SystemTime, offset: i32) -> Tm {
    let d = since_epoch(t);
    let secs = d.as_secs() as i64 + offset as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Tm {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        micros: d.subsec_micros(),
        offset,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Tm {
    fn mon(&self) -> &'static str {
        MONTHS[(self.month - 1) as usize]
    }

    /// `Nov  5 20:30:01`: the RFC 3164 timestamp (day padded with a space).
    pub fn write_rfc3164(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:2} {:02}:{:02}:{:02}",
            self.mon(),
            self.day,
            self.hour,
            self.min,
            self.sec
        );
    }

    /// `2026-11-25T20:30:01.123456+00:00`: the RFC 5424 / ISO 8601 timestamp.
    pub fn write_iso(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            self.year, self.month, self.day, self.hour, self.min, self.sec, self.micros
        );
        self.write_offset(out, true);
    }

    /// `25/Nov/2026:20:30:01.123`: `%t`, with milliseconds.
    pub fn write_log_date_ms(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            self.mon(),
            self.year,
            self.hour,
            self.min,
            self.sec,
            self.micros / 1000
        );
    }

    /// `25/Nov/2026:20:30:01 +0000`: `%T` (with a zero offset) and `%Tl`.
    pub fn write_log_date_tz(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{:04}:{:02}:{:02}:{:02} ",
            self.day,
            self.mon(),
            self.year,
            self.hour,
            self.min,
            self.sec
        );
        self.write_offset(out, false);
    }

    /// `+hh:mm` (`colon`) or `+hhmm`.
    fn write_offset(&self, out: &mut String, colon: bool) {
        let sign = if self.offset < 0 { '-' } else { '+' };
        let abs = self.offset.unsigned_abs();
        let (h, m) = (abs / 3600, abs / 60 % 60);
        let sep = if colon { ":" } else { "" };
        let _ = write!(out, "{sign}{h:02}{sep}{m:02}");
    }
}

/// The local zone's offset from UTC at instant `t`, in seconds east of UTC.
pub fn local_offset(t: SystemTime) -> i32 {
    super::tz::local_zone().offset_at(unix_secs(t) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25 20:30:01.123456 UTC.
    pub(crate) fn fixed() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_795_638_601, 123_456_789)
    }

    #[test]
    fn packed_dates_keep_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_795_638_107, 258_123_456);
        assert_eq!(PackedDate::from(t).get(), t);
        assert_eq!(PackedDate::from(UNIX_EPOCH - Duration::from_secs(1)).get(), UNIX_EPOCH, "clamped");
    }

    #[test]
    fn breakdown_known_dates() {
        let tm = breakdown(fixed(), 0);
        assert_eq!(
            (tm.year, tm.month, tm.day, tm.hour, tm.min, tm.sec, tm.micros),
            (2026, 11, 25, 20, 30, 1, 123_456)
        );
        let epoch = breakdown(UNIX_EPOCH, 0);
        assert_eq!((epoch.year, epoch.month, epoch.day), (1970, 1, 1));
        // 2024-02-29 (leap day) 00:00:00 UTC.
        let leap = breakdown(UNIX_EPOCH + Duration::from_secs(1_709_164_800), 0);
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.hour),
            (2024, 2, 29, 0)
        );
        // Offsets move the date across midnight.
        let east = breakdown(fixed(), 5 * 3600);
        assert_eq!((east.day, east.hour), (26, 1));
        let west = breakdown(fixed(), -21 * 3600);
        assert_eq!((west.day, west.hour), (24, 23));
    }

    #[test]
    fn formats() {
        let tm = breakdown(fixed(), 0);
        let mut s = String::new();
        tm.write_rfc3164(&mut s);
        assert_eq!(s, "Nov 25 20:30:01");
        s.clear();
        tm.write_iso(&mut s);
        assert_eq!(s, "2026-11-25T20:30:01.123456+00:00");
        s.clear();
        tm.write_log_date_ms(&mut s);
        assert_eq!(s, "25/Nov/2026:20:30:01.123");
        s.clear();
        tm.write_log_date_tz(&mut s);
        assert_eq!(s, "25/Nov/2026:20:30:01 +0000");

        let early = breakdown(
            UNIX_EPOCH + Duration::from_secs(1_762_300_800),
            -(5 * 3600 + 1800),
        );
        s.clear();
        early.write_rfc3164(&mut s);
        assert_eq!(s, "Nov  4 18:30:00", "day is space-padded");
        s.clear();
        early.write_iso(&mut s);
        assert_eq!(s, "2025-11-04T18:30:00.000000-05:30");
        s.clear();
        early.write_log_date_tz(&mut s);
        assert_eq!(s, "04/Nov/2025:18:30:00 -0530");
    }
}
