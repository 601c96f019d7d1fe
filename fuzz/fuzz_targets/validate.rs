//! libFuzzer entry point; the checks live in `confab_fuzz::validate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzz::validate(data));
