//! The columns of HAProxy 2.6's `show stat` (and of the stats page's CSV), in order.
//! Each constant is a column's position; [`NAMES`] gives the header names.

/// Number of columns.
pub const COUNT: usize = 128;

/// The header names, in column order (the `-` column separates HAProxy's proxy
/// fields from its extra modules' fields).
pub const NAMES: [&str; COUNT] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

pub const PXNAME: usize = 0;
pub const SVNAME: usize = 1;
pub const QCUR: usize = 2;
pub const QMAX: usize = 3;
pub const SCUR: usize = 4;
pub const SMAX: usize = 5;
pub const SLIM: usize = 6;
pub const STOT: usize = 7;
pub const BIN: usize = 8;
pub const BOUT: usize = 9;
pub const DREQ: usize = 10;
pub const DRESP: usize = 11;
pub const EREQ: usize = 12;
pub const ECON: usize = 13;
pub const ERESP: usize = 14;
pub const WRETR: usize = 15;
pub const WREDIS: usize = 16;
pub const STATUS: usize = 17;
pub const WEIGHT: usize = 18;
pub const ACT: usize = 19;
pub const BCK: usize = 20;
pub const CHKFAIL: usize = 21;
pub const CHKDOWN: usize = 22;
pub const LASTCHG: usize = 23;
pub const DOWNTIME: usize = 24;
pub const QLIMIT: usize = 25;
pub const PID: usize = 26;
pub const IID: usize = 27;
pub const SID: usize = 28;
pub const THROTTLE: usize = 29;
pub const LBTOT: usize = 30;
pub const TRACKED: usize = 31;
pub const TYPE: usize = 32;
pub const RATE: usize = 33;
pub const RATE_LIM: usize = 34;
pub const RATE_MAX: usize = 35;
pub const CHECK_STATUS: usize = 36;
pub const CHECK_CODE: usize = 37;
pub const CHECK_DURATION: usize = 38;
pub const HRSP_1XX: usize = 39;
pub const HRSP_2XX: usize = 40;
pub const HRSP_3XX: usize = 41;
pub const HRSP_4XX: usize = 42;
pub const HRSP_5XX: usize = 43;
pub const HRSP_OTHER: usize = 44;
pub const HANAFAIL: usize = 45;
pub const REQ_RATE: usize = 46;
pub const REQ_RATE_MAX: usize = 47;
pub const REQ_TOT: usize = 48;
pub const CLI_ABRT: usize = 49;
pub const SRV_ABRT: usize = 50;
pub const COMP_IN: usize = 51;
pub const COMP_OUT: usize = 52;
pub const COMP_BYP: usize = 53;
pub const COMP_RSP: usize = 54;
pub const LASTSESS: usize = 55;
pub const LAST_CHK: usize = 56;
pub const LAST_AGT: usize = 57;
pub const QTIME: usize = 58;
pub const CTIME: usize = 59;
pub const RTIME: usize = 60;
pub const TTIME: usize = 61;
pub const AGENT_STATUS: usize = 62;
pub const AGENT_CODE: usize = 63;
pub const AGENT_DURATION: usize = 64;
pub const CHECK_DESC: usize = 65;
pub const AGENT_DESC: usize = 66;
pub const CHECK_RISE: usize = 67;
pub const CHECK_FALL: usize = 68;
pub const CHECK_HEALTH: usize = 69;
pub const AGENT_RISE: usize = 70;
pub const AGENT_FALL: usize = 71;
pub const AGENT_HEALTH: usize = 72;
pub const ADDR: usize = 73;
pub const COOKIE: usize = 74;
pub const MODE: usize = 75;
pub const ALGO: usize = 76;
pub const CONN_RATE: usize = 77;
pub const CONN_RATE_MAX: usize = 78;
pub const CONN_TOT: usize = 79;
pub const INTERCEPTED: usize = 80;
pub const DCON: usize = 81;
pub const DSES: usize = 82;
pub const WREW: usize = 83;
pub const CONNECT: usize = 84;
pub const REUSE: usize = 85;
pub const CACHE_LOOKUPS: usize = 86;
pub const CACHE_HITS: usize = 87;
pub const SRV_ICUR: usize = 88;
pub const SRC_ILIM: usize = 89;
pub const QTIME_MAX: usize = 90;
pub const CTIME_MAX: usize = 91;
pub const RTIME_MAX: usize = 92;
pub const TTIME_MAX: usize = 93;
pub const EINT: usize = 94;
pub const IDLE_CONN_CUR: usize = 95;
pub const SAFE_CONN_CUR: usize = 96;
pub const USED_CONN_CUR: usize = 97;
pub const NEED_CONN_EST: usize = 98;
pub const UWEIGHT: usize = 99;
pub const AGG_SERVER_STATUS: usize = 100;
pub const AGG_SERVER_CHECK_STATUS: usize = 101;
pub const AGG_CHECK_STATUS: usize = 102;
pub const DASH: usize = 103;
pub const SSL_SESS: usize = 104;
pub const SSL_REUSED_SESS: usize = 105;
pub const SSL_FAILED_HANDSHAKE: usize = 106;
pub const H2_HEADERS_RCVD: usize = 107;
pub const H2_DATA_RCVD: usize = 108;
pub const H2_SETTINGS_RCVD: usize = 109;
pub const H2_RST_STREAM_RCVD: usize = 110;
pub const H2_GOAWAY_RCVD: usize = 111;
pub const H2_DETECTED_CONN_PROTOCOL_ERRORS: usize = 112;
pub const H2_DETECTED_STRM_PROTOCOL_ERRORS: usize = 113;
pub const H2_RST_STREAM_RESP: usize = 114;
pub const H2_GOAWAY_RESP: usize = 115;
pub const H2_OPEN_CONNECTIONS: usize = 116;
pub const H2_BACKEND_OPEN_STREAMS: usize = 117;
pub const H2_TOTAL_CONNECTIONS: usize = 118;
pub const H2_BACKEND_TOTAL_STREAMS: usize = 119;
pub const H1_OPEN_CONNECTIONS: usize = 120;
pub const H1_OPEN_STREAMS: usize = 121;
pub const H1_TOTAL_CONNECTIONS: usize = 122;
pub const H1_TOTAL_STREAMS: usize = 123;
pub const H1_BYTES_IN: usize = 124;
pub const H1_BYTES_OUT: usize = 125;
pub const H1_SPLICED_BYTES_IN: usize = 126;
pub const H1_SPLICED_BYTES_OUT: usize = 127;
