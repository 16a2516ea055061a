#![no_main]
//! cargo-fuzz target for `exchange`; the properties are in `fuzz/checks.rs`.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::exchange(data));
