//! What a stick-table entry stores: the data types of `store <list>` and their values,
//! with HAProxy's frequency counter ([`FreqCtr`]) behind every `*_rate(<period>)`.

/// A data type a table may store (HAProxy's `STKTABLE_DT_*` known to 2.6, without the
/// `gpc`/`gpt` arrays).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    ServerId,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    ServerKey,
    HttpFailCnt,
    HttpFailRate,
}

/// Every data type, in HAProxy's order (the order `show table` prints them in).
pub const ALL: [DataType; 22] = {
    use DataType::*;
    [
        ServerId, Gpt0, Gpc0, Gpc0Rate, ConnCnt, ConnRate, ConnCur, SessCnt, SessRate, HttpReqCnt, HttpReqRate,
        HttpErrCnt, HttpErrRate, BytesInCnt, BytesInRate, BytesOutCnt, BytesOutRate, Gpc1, Gpc1Rate, ServerKey,
        HttpFailCnt, HttpFailRate,
    ]
};

impl DataType {
    /// The name in `store` lists, `show table` lines and `data.<name>` filters.
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            ServerId => "server_id",
            Gpt0 => "gpt0",
            Gpc0 => "gpc0",
            Gpc0Rate => "gpc0_rate",
            ConnCnt => "conn_cnt",
            ConnRate => "conn_rate",
            ConnCur => "conn_cur",
            SessCnt => "sess_cnt",
            SessRate => "sess_rate",
            HttpReqCnt => "http_req_cnt",
            HttpReqRate => "http_req_rate",
            HttpErrCnt => "http_err_cnt",
            HttpErrRate => "http_err_rate",
            BytesInCnt => "bytes_in_cnt",
            BytesInRate => "bytes_in_rate",
            BytesOutCnt => "bytes_out_cnt",
            BytesOutRate => "bytes_out_rate",
            Gpc1 => "gpc1",
            Gpc1Rate => "gpc1_rate",
            ServerKey => "server_key",
            HttpFailCnt => "http_fail_cnt",
            HttpFailRate => "http_fail_rate",
        }
    }

    pub fn from_name(name: &str) -> Option<DataType> {
        ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether the type is a rate over a period (`store x_rate(<period>)`).
    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }

    /// The value a new entry starts with.
    fn initial(self) -> Value {
        match self {
            DataType::ServerId => Value::Sint(0),
            DataType::ServerKey => Value::Str(String::new()),
            DataType::BytesInCnt | DataType::BytesOutCnt => Value::Ull(0),
            t if t.is_rate() => Value::Rate(FreqCtr::default()),
            _ => Value::Uint(0),
        }
    }
}

/// One stored datum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `server_id`.
    Sint(i32),
    /// Counters and `gpt0` (32 bits, wrapping as HAProxy's).
    Uint(u32),
    /// `bytes_in_cnt`, `bytes_out_cnt`.
    Ull(u64),
    Rate(FreqCtr),
    /// `server_key`.
    Str(String),
}

/// One entry of a `store` list: the type and, for rates, the period in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub ty: DataType,
    pub period: u32,
}

/// The values of one entry, in the table's `store` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data(pub Vec<Value>);

impl Data {
    pub fn new(store: &[Stored]) -> Data {
        Data(store.iter().map(|s| s.ty.initial()).collect())
    }
}

/// HAProxy's `freq_ctr` over a period: events counted in the current period, those
/// of the previous one, and where the current one started (aligned on multiples of
/// the period). The rate read at a time is the current count plus the previous
/// count weighted by the part of the period still to run: a sliding window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreqCtr {
    pub curr_tick: u64,
    pub curr: u32,
    pub prev: u32,
}

impl FreqCtr {
    /// Counts `inc` events at `now` (milliseconds).
    pub fn add(&mut self, now: u64, period: u32, inc: u32) {
        let period = u64::from(period.max(1));
        let elapsed = now.saturating_sub(self.curr_tick);
        if elapsed >= period {
            let periods = elapsed / period;
            self.prev = if periods == 1 { self.curr } else { 0 };
            self.curr = 0;
            self.curr_tick += periods * period;
        }
        self.curr = self.curr.wrapping_add(inc);
    }

    /// The rate over the period at `now`.
    pub fn read(&self, now: u64, period: u32) -> u32 {
        let period = u64::from(period.max(1));
        let (mut curr, mut past) = (u64::from(self.curr), u64::from(self.prev));
        let end = self.curr_tick + period;
        let remain = if now < end {
            end - now
        } else if now < end + period {
            // The current period ended: it is the previous one now.
            past = curr;
            curr = 0;
            end + period - now
        } else {
            return 0;
        };
        (curr + past * remain / period) as u32
    }
}

/// Parses one `store` item: `name` or `name(<period>)` for rates. Errors are
/// HAProxy's message bodies (after `stick-table: `).
pub fn parse_store_item(item: &str) -> Result<Stored, String> {
    let (name, arg) = match item.split_once('(') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(')').unwrap_or(rest))),
        None => (item, None),
    };
    let Some(ty) = DataType::from_name(name) else {
        return Err(if matches!(name, "gpc" | "gpt" | "gpc_rate") {
            format!("store option '{name}' (arrays) is not supported by moonproxy yet.")
        } else {
            format!("unknown store option '{name}'.")
        });
    };
    if !ty.is_rate() {
        if arg.is_some() {
            return Err(format!("store option '{name}' does not accept arguments."));
        }
        return Ok(Stored { ty, period: 0 });
    }
    let Some(arg) = arg.filter(|a| !a.is_empty()) else {
        return Err(format!("missing argument to store option '{name}'."));
    };
    let d = crate::config::units::parse_time(arg)
        .map_err(|_| format!("invalid time period '{arg}' for store option '{name}'."))?;
    Ok(Stored { ty, period: d.as_millis().min(u32::MAX as u128) as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_a_sliding_window() {
        let mut f = FreqCtr::default();
        for _ in 0..10 {
            f.add(1_500, 1_000, 1);
        }
        assert_eq!(f.read(1_500, 1_000), 10, "ten events in the current period");
        // Half of the next period has run: half of the previous count remains.
        assert_eq!(f.read(2_500, 1_000), 5);
        f.add(2_500, 1_000, 2);
        assert_eq!(f.read(2_500, 1_000), 2 + 5);
        // Two periods later nothing is left.
        assert_eq!(f.read(4_100, 1_000), 0);
        f.add(4_100, 1_000, 1);
        assert_eq!((f.prev, f.curr, f.curr_tick), (0, 1, 4_000));
    }

    #[test]
    fn store_items() {
        assert_eq!(parse_store_item("gpc0").unwrap(), Stored { ty: DataType::Gpc0, period: 0 });
        assert_eq!(parse_store_item("http_req_rate(10s)").unwrap(), Stored { ty: DataType::HttpReqRate, period: 10_000 });
        assert_eq!(parse_store_item("http_req_rate").unwrap_err(), "missing argument to store option 'http_req_rate'.");
        assert_eq!(parse_store_item("bar").unwrap_err(), "unknown store option 'bar'.");
        assert!(ALL.iter().all(|d| DataType::from_name(d.name()) == Some(*d)));
    }
}
