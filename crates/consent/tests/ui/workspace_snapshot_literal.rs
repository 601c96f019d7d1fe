// A workspace's part of a snapshot cannot be built by hand either.
use confab_consent::WorkspaceSnapshot;

fn main() {
    let _forged = WorkspaceSnapshot {
        workspace: confab_test_support::consent::workspace_id(1),
        messages: Vec::new(),
    };
}
