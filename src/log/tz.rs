//! The local time zone, read once, for the dates HAProxy prints in local time
//! (`%t`, `%Tl`, the RFC 3164/5424 and ISO headers).
//!
//! HAProxy relies on the C library's `localtime_r`; moonproxy reads the same sources
//! itself (no libc call outside `src/sys`):
//!
//! - `TZ` unset: `/etc/localtime`;
//! - `TZ` empty: UTC;
//! - `TZ=Europe/Paris` or `TZ=:Europe/Paris`: `/usr/share/zoneinfo/Europe/Paris`
//!   (an absolute path is read as is);
//! - otherwise a POSIX string such as `EST5EDT` or `JST-9`: its standard offset only
//!   (its DST rule is not applied; glibc's zoneinfo files cover the usual names).
//!
//! Zone files are TZif (versions 1 to 4); after the last transition of the table
//! (Debian ships "fat" files, which reach 2037) the last offset stays in force.
//! Anything unreadable falls back to UTC: logging must never fail.

use std::path::Path;
use std::sync::OnceLock;

/// A time zone: a fixed offset, or a table of transitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    /// `(transition time, offset from then on)`, sorted; `before` applies earlier.
    Table {
        before: i32,
        transitions: Vec<(i64, i32)>,
    },
}

impl Zone {
    /// Offset from UTC (seconds east) at the Unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match self {
            Zone::Fixed(off) => *off,
            Zone::Table {
                before,
                transitions,
            } => match transitions.partition_point(|&(at, _)| at <= t) {
                0 => *before,
                n => transitions[n - 1].1,
            },
        }
    }

    /// The zone named by a `TZ` value (`None`: the variable is unset).
    pub fn from_tz_env(tz: Option<&str>) -> Zone {
        let Some(tz) = tz else {
            return Zone::from_file(Path::new("/etc/localtime")).unwrap_or(Zone::Fixed(0));
        };
        let name = tz.strip_prefix(':').unwrap_or(tz);
        if name.is_empty() {
            return Zone::Fixed(0);
        }
        let path = if name.starts_with('/') {
            Path::new(name).to_path_buf()
        } else if name.split('/').any(|c| c == "..") {
            return Zone::Fixed(0);
        } else {
            Path::new("/usr/share/zoneinfo").join(name)
        };
        Zone::from_file(&path)
            .or_else(|| parse_posix_std(name).map(Zone::Fixed))
            .unwrap_or(Zone::Fixed(0))
    }

    fn from_file(path: &Path) -> Option<Zone> {
        parse_tzif(&std::fs::read(path).ok()?)
    }
}

static LOCAL: OnceLock<Zone> = OnceLock::new();

/// The process's local zone, determined on first use from `TZ` or `/etc/localtime`.
pub fn local_zone() -> &'static Zone {
    LOCAL.get_or_init(|| Zone::from_tz_env(std::env::var("TZ").ok().as_deref()))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a TZif file, preferring its 64-bit (version 2+) block.
fn parse_tzif(data: &[u8]) -> Option<Zone> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = *data.get(4)?;
    let (counts, block_len) = header(data, 0, 4)?;
    if version >= b'2' {
        let second = 44 + block_len;
        if data.get(second..second + 4)? != b"TZif" {
            return None;
        }
        let (counts64, _) = header(data, second, 8)?;
        return table(data, second + 44, counts64, 8);
    }
    table(data, 44, counts, 4)
}

/// `(isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt)`
type Counts = [usize; 6];

/// Reads the counts of the header at `at`, and the length of the data block that
/// follows when times are `tsize` bytes wide.
fn header(data: &[u8], at: usize, tsize: usize) -> Option<(Counts, usize)> {
    let mut c = [0usize; 6];
    for (i, v) in c.iter_mut().enumerate() {
        *v = be32(data, at + 20 + 4 * i)? as usize;
    }
    let [isut, isstd, leap, time, typ, chars] = c;
    let len = time * tsize + time + typ * 6 + chars + leap * (tsize + 4) + isstd + isut;
    Some((c, len))
}

fn table(data: &[u8], at: usize, counts: Counts, tsize: usize) -> Option<Zone> {
    let [_, _, _, timecnt, typecnt, _] = counts;
    if typecnt == 0 {
        return None;
    }
    let times_at = at;
    let idx_at = times_at + timecnt * tsize;
    let types_at = idx_at + timecnt;
    let offset_of = |ty: usize| -> Option<i32> {
        (ty < typecnt).then_some(())?;
        Some(be32(data, types_at + 6 * ty)? as i32)
    };
    let mut transitions = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        let p = times_at + i * tsize;
        let t = if tsize == 8 {
            i64::from_be_bytes(data.get(p..p + 8)?.try_into().ok()?)
        } else {
            i64::from(be32(data, p)? as i32)
        };
        let ty = *data.get(idx_at + i)? as usize;
        transitions.push((t, offset_of(ty)?));
    }
    // Before the first transition: the first non-DST type, as the TZif spec says
    // (type 0 in practice).
    let before = offset_of(0)?;
    if transitions.is_empty() {
        return Some(Zone::Fixed(before));
    }
    Some(Zone::Table {
        before,
        transitions,
    })
}

/// The standard offset of a POSIX `TZ` string (`EST5EDT` → -5 h, `JST-9` → +9 h,
/// `<+0330>-3:30` → +3:30). POSIX offsets count west of UTC, hence the sign flip.
fn parse_posix_std(s: &str) -> Option<i32> {
    let rest = if let Some(r) = s.strip_prefix('<') {
        &r[r.find('>')? + 1..]
    } else {
        let n = s.find(|c: char| !c.is_ascii_alphabetic())?;
        if n < 3 {
            return None;
        }
        &s[n..]
    };
    let (sign, rest) = match rest.as_bytes().first()? {
        b'-' => (1, &rest[1..]),
        b'+' => (-1, &rest[1..]),
        _ => (-1, rest),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map_or(Ok(0), str::parse).ok()?;
    let sec: i32 = parts.next().map_or(Ok(0), str::parse).ok()?;
    if h > 24 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_strings() {
        assert_eq!(parse_posix_std("EST5EDT"), Some(-5 * 3600));
        assert_eq!(parse_posix_std("JST-9"), Some(9 * 3600));
        assert_eq!(parse_posix_std("<+0330>-3:30"), Some(3 * 3600 + 1800));
        assert_eq!(parse_posix_std("UTC0"), Some(0));
        assert_eq!(parse_posix_std("XX"), None);
        assert_eq!(parse_posix_std("garbage"), None);
    }

    #[test]
    fn env_forms() {
        assert_eq!(Zone::from_tz_env(Some("")), Zone::Fixed(0));
        assert_eq!(Zone::from_tz_env(Some("JST-9")).offset_at(0), 9 * 3600);
        assert_eq!(Zone::from_tz_env(Some("../../etc/passwd")), Zone::Fixed(0));
        assert_eq!(Zone::from_tz_env(Some("No/Such/Zone")), Zone::Fixed(0));
    }

    /// A hand-built TZif v2 file: +1 h, then +2 h from t=1000, back to +1 h at t=2000.
    #[test]
    fn tzif_v2_table() {
        fn counts(v: &mut Vec<u8>, timecnt: u32, typecnt: u32, charcnt: u32) {
            for c in [0, 0, 0, timecnt, typecnt, charcnt] {
                v.extend_from_slice(&u32::to_be_bytes(c));
            }
        }
        let mut f = Vec::new();
        // v1 header and an empty-ish v1 block (one type, no transitions).
        f.extend_from_slice(b"TZif2");
        f.extend_from_slice(&[0; 15]);
        counts(&mut f, 0, 1, 4);
        f.extend_from_slice(&3600i32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(b"CET\0");
        // v2 header and 64-bit block.
        f.extend_from_slice(b"TZif2");
        f.extend_from_slice(&[0; 15]);
        counts(&mut f, 2, 2, 9);
        f.extend_from_slice(&1000i64.to_be_bytes());
        f.extend_from_slice(&2000i64.to_be_bytes());
        f.extend_from_slice(&[1, 0]);
        f.extend_from_slice(&3600i32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&7200i32.to_be_bytes());
        f.extend_from_slice(&[1, 4]);
        f.extend_from_slice(b"CET\0CEST\0");
        f.extend_from_slice(b"\nCET-1CEST,M3.5.0,M10.5.0/3\n");
        let z = parse_tzif(&f).unwrap();
        assert_eq!(z.offset_at(0), 3600);
        assert_eq!(z.offset_at(999), 3600);
        assert_eq!(z.offset_at(1000), 7200);
        assert_eq!(z.offset_at(1999), 7200);
        assert_eq!(z.offset_at(5000), 3600);
        assert!(parse_tzif(b"nope").is_none());
        assert!(parse_tzif(&f[..50]).is_none());
    }

    /// The system's own files, when present (Debian's tzdata is installed here).
    #[test]
    fn real_zone_files() {
        let paris = Path::new("/usr/share/zoneinfo/Europe/Paris");
        if !paris.exists() {
            return;
        }
        let z = Zone::from_file(paris).unwrap();
        // 2026-07-01 12:00 UTC: summer time, +2 h; 2026-11-25: winter, +1 h.
        assert_eq!(z.offset_at(1_782_907_200), 7200);
        assert_eq!(z.offset_at(1_795_638_601), 3600);
        let utc = Zone::from_file(Path::new("/usr/share/zoneinfo/Etc/UTC")).unwrap();
        assert_eq!(utc.offset_at(1_795_638_601), 0);
    }
}
