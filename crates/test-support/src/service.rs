//! What the throwaway servers the tests start (`postgres`, `nats`) share: one server
//! per test binary, started on first use, and a variable that skips the tests needing
//! one on a machine without it.

use std::sync::OnceLock;

/// The server `cell` holds, started with `start` on first use, or `None` when the run
/// skips it (`skip_variable` is `1`). Panics, saying why, when it cannot be started.
pub(crate) fn shared<T>(
    cell: &'static OnceLock<Result<T, String>>,
    start: impl FnOnce() -> Result<T, String>,
    skip_variable: &str,
    what: &str,
) -> Option<&'static T> {
    if skipped(skip_variable, what) {
        return None;
    }
    match cell.get_or_init(start) {
        Ok(server) => Some(server),
        Err(why) => panic!("{why}"),
    }
}

/// Whether this run skips the tests that need `what` (and says so once per test).
pub(crate) fn skipped(skip_variable: &str, what: &str) -> bool {
    let skip = std::env::var(skip_variable).is_ok_and(|v| v == "1");
    if skip {
        eprintln!("{skip_variable}=1: {what} test skipped");
    }
    skip
}
