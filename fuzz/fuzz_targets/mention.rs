//! libFuzzer entry point; the checks live in `confab_fuzz::mention`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzz::mention(data));
