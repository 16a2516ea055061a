//! Turns a parsed Config into running listeners, streams and backends, and runs the reactor.
