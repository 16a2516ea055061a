//! The three date formats of RFC 9110 section 5.6.7 (IMF-fixdate, RFC 850, asctime),
//! to seconds since the epoch (UTC): `core.http_date`, `imf_date`, `rfc850_date`,
//! `asctime_date`.
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn month(s: &str) -> Option<i64> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as i64 + 1)
}

/// `HH:MM:SS` to seconds.
fn time(s: &str) -> Option<i64> {
    let mut it = s.split(':');
    let (h, m, sec) = (num(it.next()?, 2)?, num(it.next()?, 2)?, num(it.next()?, 2)?);
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

fn epoch(y: i64, mon: i64, d: i64, secs: i64) -> Option<i64> {
    if !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, mon, d) * 86400 + secs)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn imf(t: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(t).ok()?;
    let (day, rest) = t.split_once(", ")?;
    DAYS.contains(&day).then_some(())?;
    let w: Vec<&str> = rest.split(' ').collect();
    let [d, mon, y, hms, "GMT"] = w[..] else { return None };
    epoch(num(y, 4)?, month(mon)?, num(d, 2)?, time(hms)?)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years: 70-99 are 19xx, as HAProxy).
pub fn rfc850(t: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(t).ok()?;
    let (day, rest) = t.split_once(", ")?;
    LONG_DAYS.contains(&day).then_some(())?;
    let w: Vec<&str> = rest.split(' ').collect();
    let [date, hms, "GMT"] = w[..] else { return None };
    let dm: Vec<&str> = date.split('-').collect();
    let [d, mon, y] = dm[..] else { return None };
    let y = num(y, 2)?;
    let y = if y >= 70 { 1900 + y } else { 2000 + y };
    epoch(y, month(mon)?, num(d, 2)?, time(hms)?)
}

/// `Sun Nov  6 08:49:37 1994`.
pub fn asctime(t: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(t).ok()?;
    let (day, rest) = t.split_at_checked(3)?;
    DAYS.contains(&day).then_some(())?;
    let rest = rest.strip_prefix(' ')?;
    let (mon, rest) = rest.split_at_checked(3)?;
    let rest = rest.strip_prefix(' ')?;
    // The day is two characters, space-padded (`Nov  6`).
    let (d, rest) = rest.split_at_checked(2)?;
    let d = d.trim_start_matches(' ');
    let d = num(d, d.len().max(1))?;
    let w: Vec<&str> = rest.strip_prefix(' ')?.split(' ').collect();
    let [hms, y] = w[..] else { return None };
    epoch(num(y, 4)?, month(mon)?, d, time(hms)?)
}

#[cfg(test)]
mod tests {
    /// Values from HAProxy 2.6 (`core.http_date` and friends).
    #[test]
    fn the_three_formats() {
        assert_eq!(super::imf(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(super::rfc850(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(784111777));
        assert_eq!(super::asctime(b"Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(super::asctime(b"Thu Feb 29 00:00:00 2024"), Some(1709164800));
        assert_eq!(super::imf(b"Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(super::imf(b"Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(super::imf(b"bad"), None);
        assert_eq!(super::rfc850(b"Sunday, 06-Nov-1994 08:49:37 GMT"), None);
    }
}
