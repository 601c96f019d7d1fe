//! What `confab migrate` relies on: a sled store's export applied here holds, kind
//! by kind, as many records as the export counted ([`PgStore::record_counts`]).

use confab_store::conformance::{ScratchDir, export_into, fill_with_every_kind_of_record};
use confab_store::{RecordKind, SledStore};

use super::open;

#[test]
fn an_export_lands_with_the_counts_it_exported() {
    let Some((_url, store)) = open() else { return };
    let empty = store.record_counts().unwrap();
    assert_eq!(empty.len(), RecordKind::ALL.len());
    assert!(empty.values().all(|&count| count == 0), "{empty:?}");

    let dir = ScratchDir::new("pg-migrate-source");
    let source = SledStore::open(&dir.0, &Default::default()).unwrap();
    fill_with_every_kind_of_record(&source);
    let stats = export_into(&source, &store, 4_096);
    assert_eq!(store.record_counts().unwrap(), stats.records);
    assert!(stats.records.values().all(|&count| count > 0), "{stats:?}");
}
