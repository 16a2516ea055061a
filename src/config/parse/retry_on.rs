//! `retry-on <keyword>...` (defaults, backend, listen): when a request is sent again.
//!
//! Fills [`Proxy::retry_on`](crate::config::model::Proxy::retry_on); the stream applies
//! it (`crate::stream::l7retry`). Keywords, as in HAProxy 2.6: `none` (alone),
//! `conn-failure`, `empty-response`, `junk-response`, `response-timeout`,
//! `0rtt-rejected`, the statuses `404 408 425 500 501 502 503 504`, and
//! `all-retryable-errors` (`conn-failure empty-response junk-response
//! response-timeout 0rtt-rejected 500 502 503 504`). A later `retry-on` line replaces
//! an earlier (or inherited) one. Error messages are HAProxy's, word for word
//! (including its "keyworld").

use super::{Line, Parser};
use crate::config::model::RetryOn;

/// The set one keyword stands for (`none` is handled by the caller).
fn keyword(word: &str) -> Option<RetryOn> {
    let events = match word {
        "conn-failure" => RetryOn::CONN_FAILURE,
        "empty-response" => RetryOn::EMPTY_RESPONSE,
        "junk-response" => RetryOn::JUNK_RESPONSE,
        "response-timeout" => RetryOn::RESPONSE_TIMEOUT,
        "0rtt-rejected" => RetryOn::ZERO_RTT_REJECTED,
        "all-retryable-errors" => {
            let mut all = RetryOn::CONN_FAILURE.0
                | RetryOn::EMPTY_RESPONSE.0
                | RetryOn::JUNK_RESPONSE.0
                | RetryOn::RESPONSE_TIMEOUT.0
                | RetryOn::ZERO_RTT_REJECTED.0;
            for code in [500, 502, 503, 504] {
                all |= RetryOn::status(code).map_or(0, |s| s.0);
            }
            RetryOn(all)
        }
        code => RetryOn::status(code.parse().ok().filter(|_| code.len() == 3)?)?,
    };
    Some(events)
}

/// Parses the arguments of a `retry-on` line.
pub fn parse(args: &[&str]) -> Result<RetryOn, String> {
    if args.is_empty() {
        return Err("'retry-on' needs at least one keyword to specify when to retry".into());
    }
    let mut set = RetryOn::default();
    for &word in args {
        if word == "none" {
            if args.len() > 1 {
                return Err("'retry-on' 'none' keyworld only usable alone".into());
            }
            continue;
        }
        let Some(events) = keyword(word) else {
            return Err(format!("'retry-on': unknown keyword '{word}'"));
        };
        set.0 |= events.0;
    }
    Ok(set)
}

/// The `retry-on` keyword.
pub fn retry_on(p: &mut Parser, l: &Line) -> Result<(), String> {
    let args: Vec<&str> = (1..l.args.len()).map(|i| l.arg(i)).collect();
    p.draft().proxy.retry_on = Some(parse(&args)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_sets() {
        let s = parse(&["503", "empty-response"]).unwrap();
        assert!(s.contains(RetryOn::status(503).unwrap()));
        assert!(s.contains(RetryOn::EMPTY_RESPONSE));
        assert!(!s.contains(RetryOn::CONN_FAILURE), "naming events replaces the default");
        assert!(s.any_l7());
        let all = parse(&["all-retryable-errors"]).unwrap();
        for code in [500, 502, 503, 504] {
            assert!(all.contains(RetryOn::status(code).unwrap()), "{code}");
        }
        for code in [404, 408, 425, 501] {
            assert!(!all.contains(RetryOn::status(code).unwrap()), "{code}");
        }
        assert!(all.contains(RetryOn::CONN_FAILURE) && all.contains(RetryOn::RESPONSE_TIMEOUT));
        assert_eq!(parse(&["none"]).unwrap(), RetryOn::default());
        assert!(!parse(&["conn-failure"]).unwrap().any_l7());
    }

    #[test]
    fn haproxy_error_messages() {
        assert_eq!(parse(&[]).unwrap_err(), "'retry-on' needs at least one keyword to specify when to retry");
        assert_eq!(parse(&["foo"]).unwrap_err(), "'retry-on': unknown keyword 'foo'");
        assert_eq!(parse(&["200"]).unwrap_err(), "'retry-on': unknown keyword '200'");
        assert_eq!(parse(&["503", "none"]).unwrap_err(), "'retry-on' 'none' keyworld only usable alone");
        assert_eq!(parse(&["none", "503"]).unwrap_err(), "'retry-on' 'none' keyworld only usable alone");
    }
}
