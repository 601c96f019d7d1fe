//! The backend conformance suite (`confab_store::conformance`) against sled.

use confab_store::SledStore;

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SledStore::open(dir.path(), &Default::default()).expect("open the store");
    (dir, store)
}

confab_store::conformance_tests!(open());
