//! Compile-fail tests: code outside this crate cannot forge a `Snapshot`.
//! Regenerate the expected `.stderr` files with `TRYBUILD=overwrite`.

#[test]
fn snapshots_cannot_be_forged() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
