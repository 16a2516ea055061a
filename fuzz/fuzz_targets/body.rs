#![no_main]
//! cargo-fuzz target for `body`; the properties are in `fuzz/checks.rs`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::body(data));
