//! libFuzzer entry point; the checks live in `confab_fuzz::ws_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| confab_fuzz::ws_frame(data));
