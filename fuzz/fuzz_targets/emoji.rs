//! libFuzzer entry point; the checks live in `confab_fuzz::emoji`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzz::emoji(data));
