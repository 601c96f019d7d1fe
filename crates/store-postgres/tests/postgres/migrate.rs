//! What `confab migrate` relies on: a sled store's export applied here holds, kind
//! by kind, as many records as the export counted ([`PgStore::record_counts`]).

use confab_store::conformance::{ScratchDir, export_into, fill_with_every_kind_of_record};
use confab_store::{RecordKind, SledStore};
use confab_store_postgres::{PgConfig, PgStore};

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

/// A store opened under its own `application_name` sees the sessions of nodes on
/// the database, those that take no node lock too (nodes with a bus), and not its
/// own.
#[test]
fn the_sessions_of_nodes_are_seen_and_not_ones_own() {
    let Some((url, node)) = open() else { return };
    let copier =
        PgStore::open(&PgConfig { application_name: "confab migrate", ..PgConfig::new(url) }).unwrap();
    assert!(copier.node_sessions().unwrap() >= 1, "a node's connections");
    drop(node);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while copier.node_sessions().unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "a node's sessions outlived it");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
