//! The operator's command line: consent status, grant, history and a tamper check of
//! the ledger, both through a running server and on a stopped one's data dir.

use confab_tests::TestServer;
use serde_json::{Value, json};

crate::cases!(consent_cli_grants_and_verify_catches_tampering);

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the command prints JSON")
}

async fn consent_cli_grants_and_verify_catches_tampering() {
    let mut server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let ws = ada.create_workspace("W").await.unwrap().workspace.id.to_string();

    // Through the running server's admin socket.
    let policies = stdout_json(&server.cli(&["consent", "policies"]));
    let policy =
        policies.as_array().unwrap().iter().find(|p| p["purpose"] == "channel_suggestions").unwrap().clone();
    let version = policy["version"].to_string();
    let sha = policy["sha256"].as_str().unwrap().to_string();
    let base = [
        "consent",
        "grant",
        "--workspace",
        &ws,
        "--purpose",
        "channel_suggestions",
        "--as",
        "ada@example.com",
    ];
    let terms =
        ["--categories", "messages,memberships", "--policy-version", &version, "--policy-sha256", &sha];
    let refused = server.cli(&[&base[..], &terms[..]].concat());
    assert!(!refused.status.success(), "a grant without --accept is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("consent_not_explicit"));
    let granted = stdout_json(&server.cli(&[&base[..], &terms[..], &["--accept"]].concat()));
    let purpose = granted["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "channel_suggestions")
        .unwrap();
    assert_eq!(purpose["granted"], true);
    let status = stdout_json(&server.cli(&["consent", "status", "--workspace", &ws]));
    assert_eq!(status["head_seq"], 1);
    let ok = stdout_json(&server.cli(&["consent", "verify", "--workspace", &ws]));
    assert!(ok["first_bad"].is_null(), "{ok}");

    // Tamper with the stored entry while the server is down: verify names it.
    server.stop();
    {
        let store = server.open_store();
        let wsid: confab_core::WorkspaceId = ws.parse().unwrap();
        let (key, value) = store.blobs(wsid, "consent_ledger").unwrap().remove(0);
        let mut entry: Value = serde_json::from_slice(&value).unwrap();
        entry["action"]["members"] = json!("opt_out");
        let mut batch = confab_store::Batch::new();
        batch.push(confab_store::Op::PutBlob {
            workspace: wsid,
            namespace: "consent_ledger",
            key,
            value: serde_json::to_vec(&entry).unwrap(),
        });
        store.apply(batch).unwrap();
        store.flush().unwrap();
    }
    let tampered = server.cli(&["consent", "verify", "--workspace", &ws]);
    assert!(!tampered.status.success(), "verify fails on a tampered ledger");
    let report: Value = serde_json::from_slice(&tampered.stdout).unwrap();
    assert_eq!(report["first_bad"][0], 1, "{report}");
}
