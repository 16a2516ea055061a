//! `show table`, `clear table`, `set table`.
