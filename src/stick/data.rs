//! What a stick-table entry stores: the data types of `store <list>` and their values,
//! with HAProxy's frequency counter ([`FreqCtr`]) behind every `*_rate(<period>)`.

/// A data type a table may store (HAProxy's `STKTABLE_DT_*` known to 2.6). `Gpt`,
/// `Gpc` and `GpcRate` are arrays (`gpt(<n>)`, `gpc(<n>)`, `gpc_rate(<n>,<period>)`);
/// a table storing them answers for the legacy `gpt0`, `gpc0/1` and `gpc0/1_rate`.
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
    Gpt,
    Gpc,
    GpcRate,
}

/// Every data type, in HAProxy's order (the order `show table` prints them in).
pub const ALL: [DataType; 25] = {
    use DataType::*;
    [
        ServerId, Gpt0, Gpc0, Gpc0Rate, ConnCnt, ConnRate, ConnCur, SessCnt, SessRate, HttpReqCnt, HttpReqRate,
        HttpErrCnt, HttpErrRate, BytesInCnt, BytesInRate, BytesOutCnt, BytesOutRate, Gpc1, Gpc1Rate, ServerKey,
        HttpFailCnt, HttpFailRate, Gpt, Gpc, GpcRate,
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
            Gpt => "gpt",
            Gpc => "gpc",
            GpcRate => "gpc_rate",
        }
    }

    /// Whether the type is an array (`gpt(<n>)`, `gpc(<n>)`, `gpc_rate(<n>,<period>)`).
    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }

    /// The array element a legacy type stands for in a table storing the array
    /// instead (`gpc1` is `gpc[1]`).
    pub fn legacy_element(self) -> Option<(DataType, usize)> {
        use DataType::*;
        Some(match self {
            Gpt0 => (Gpt, 0),
            Gpc0 => (Gpc, 0),
            Gpc1 => (Gpc, 1),
            Gpc0Rate => (GpcRate, 0),
            Gpc1Rate => (GpcRate, 1),
            _ => return None,
        })
    }

    /// The name of element `i` in `show table` lines (`gpc1`, `gpc1_rate`).
    pub fn element_name(self, i: usize) -> String {
        match self {
            DataType::GpcRate => format!("gpc{i}_rate"),
            t => format!("{}{i}", t.name()),
        }
    }

    pub fn from_name(name: &str) -> Option<DataType> {
        ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether the type is a rate over a period (`store x_rate(<period>)`).
    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }

    /// The value a new entry starts with (`count`: the elements of an array).
    fn initial(self, count: u32) -> Value {
        match self {
            DataType::Gpt | DataType::Gpc => Value::Array(vec![Value::Uint(0); count as usize]),
            DataType::GpcRate => Value::Array(vec![Value::Rate(FreqCtr::default()); count as usize]),
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
    /// `gpt(<n>)`, `gpc(<n>)`, `gpc_rate(<n>,<period>)`.
    Array(Vec<Value>),
}

/// One entry of a `store` list: the type, for rates the period in milliseconds, for
/// arrays their length (1 otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub ty: DataType,
    pub period: u32,
    pub count: u32,
}

impl Stored {
    pub fn scalar(ty: DataType) -> Stored {
        Stored { ty, period: 0, count: 1 }
    }
}

/// The values of one entry, in the table's `store` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data(pub Vec<Value>);

impl Data {
    pub fn new(store: &[Stored]) -> Data {
        Data(store.iter().map(|s| s.ty.initial(s.count)).collect())
    }

    /// Every datum with its name and period, arrays flattened into their elements
    /// (`gpc0`, `gpc1`, ...), in `store` order: what `show table` and Lua print.
    pub fn fields<'a>(&'a self, store: &'a [Stored]) -> impl Iterator<Item = (String, &'a Value, u32)> + 'a {
        store.iter().zip(&self.0).flat_map(|(s, v)| {
            let items: Vec<(String, &Value, u32)> = match v {
                Value::Array(a) => a.iter().enumerate().map(|(i, e)| (s.ty.element_name(i), e, s.period)).collect(),
                v => vec![(s.ty.name().to_string(), v, s.period)],
            };
            items
        })
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

/// The longest `gpc`/`gpt` array.
const MAX_ARRAY: u32 = 100;

/// Parses one `store` item: `name`, `name(<period>)` for rates, `name(<n>)` for arrays,
/// `gpc_rate(<n>,<period>)`. Errors are HAProxy's message bodies (after `stick-table: `).
pub fn parse_store_item(item: &str) -> Result<Stored, String> {
    let (name, arg) = match item.split_once('(') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(')').unwrap_or(rest))),
        None => (item, None),
    };
    let Some(ty) = DataType::from_name(name) else {
        return Err(format!("unknown store option '{name}'."));
    };
    let wants_arg = ty.is_rate() || ty.is_array();
    let arg = match arg.filter(|a| !a.is_empty()) {
        Some(_) if !wants_arg => return Err(format!("unexpected argument to store option '{name}'.")),
        None if wants_arg => return Err(format!("missing argument to store option '{name}'.")),
        None => return Ok(Stored::scalar(ty)),
        Some(a) => a,
    };
    let (count, period) = match (ty.is_array(), ty.is_rate()) {
        (true, true) => match arg.split_once(',') {
            Some((n, p)) => (Some(n), Some(p)),
            None => return Err(format!("missing argument to store option '{name}'.")),
        },
        (true, false) => (Some(arg), None),
        _ => (None, Some(arg)),
    };
    let count = match count {
        Some(n) => n
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_ARRAY).contains(n))
            .ok_or_else(|| format!("array size is out of allowed range (1-{MAX_ARRAY}) for store option '{name}'."))?,
        None => 1,
    };
    let period = match period {
        Some(p) => {
            let d = crate::config::units::parse_time(p.trim()).map_err(|_| format!("error when processing store option '{name}'."))?;
            d.as_millis().min(u32::MAX as u128) as u32
        }
        None => 0,
    };
    Ok(Stored { ty, period, count })
}

/// HAProxy's refusal of an array together with the legacy types it replaces.
pub fn check_store(store: &[Stored]) -> Result<(), String> {
    let has = |t: DataType| store.iter().any(|s| s.ty == t);
    use DataType::*;
    if has(Gpt) && has(Gpt0) {
        return Err("simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' overrides 'gpt0'.".into());
    }
    if has(Gpc) && (has(Gpc0) || has(Gpc1)) {
        return Err("simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'.".into());
    }
    if has(GpcRate) && (has(Gpc0Rate) || has(Gpc1Rate)) {
        return Err("simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table is not permitted as 'gpc_rate' overrides 'gpc[0/1]_rate'.".into());
    }
    Ok(())
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
        assert_eq!(parse_store_item("gpc0").unwrap(), Stored::scalar(DataType::Gpc0));
        assert_eq!(parse_store_item("http_req_rate(10s)").unwrap(), Stored { ty: DataType::HttpReqRate, period: 10_000, count: 1 });
        assert_eq!(parse_store_item("gpc_rate(2,10s)").unwrap(), Stored { ty: DataType::GpcRate, period: 10_000, count: 2 });
        assert_eq!(parse_store_item("gpt(3)").unwrap(), Stored { ty: DataType::Gpt, period: 0, count: 3 });
        assert_eq!(parse_store_item("gpc(101)").unwrap_err(), "array size is out of allowed range (1-100) for store option 'gpc'.");
        assert_eq!(parse_store_item("gpc_rate(2)").unwrap_err(), "missing argument to store option 'gpc_rate'.");
        assert_eq!(parse_store_item("gpc0(3)").unwrap_err(), "unexpected argument to store option 'gpc0'.");
        assert!(check_store(&[Stored::scalar(DataType::Gpc1), parse_store_item("gpc(2)").unwrap()]).is_err());
        assert_eq!(parse_store_item("http_req_rate").unwrap_err(), "missing argument to store option 'http_req_rate'.");
        assert_eq!(parse_store_item("bar").unwrap_err(), "unknown store option 'bar'.");
        assert!(ALL.iter().all(|d| DataType::from_name(d.name()) == Some(*d)));
    }
}
