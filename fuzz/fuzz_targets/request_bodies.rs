//! libFuzzer entry point; the checks live in `confab_fuzz::request_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzz::request_bodies(data));
