// Training code cannot make its own Snapshot: the fields are private to the consent
// crate, so the only way to hold one is Gate::snapshot, which reads the ledger.
use confab_consent::{Purpose, Snapshot};

fn train_from_anything() -> Snapshot {
    Snapshot {
        purpose: Purpose::EmojiSuggestions,
        taken_at: 0,
        workspaces: Vec::new(),
        excluded: Vec::new(),
    }
}

fn main() {
    let _ = train_from_anything();
}
