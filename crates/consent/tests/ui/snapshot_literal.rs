// Code outside confab-consent cannot build a Snapshot by hand: its fields are private,
// so the only way to hold one is Gate::snapshot, which reads the ledger.
use confab_consent::{Purpose, Snapshot};

fn main() {
    let _forged = Snapshot {
        purpose: Purpose::SearchRanking,
        taken_at: 0,
        workspaces: Vec::new(),
        excluded: Vec::new(),
    };
}
