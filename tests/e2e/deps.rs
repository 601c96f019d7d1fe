//! design.md's dependency rules, read from `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};

crate::cases!(dependency_rules_hold);

/// The workspace's crates and, for each, the workspace crates it depends on
/// (normal and build dependencies; dev-dependencies are for tests only).
fn metadata() -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("metadata json")
}

fn workspace_graph(meta: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> =
        packages.iter().map(|p| p["name"].as_str().unwrap_or_default().to_string()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].is_null() || d["kind"] == "build")
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d))
                .map(str::to_string)
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

async fn dependency_rules_hold() {
    let meta = metadata();
    let graph = workspace_graph(&meta);
    let deps = |name: &str| graph.get(name).cloned().unwrap_or_default();
    assert!(graph.contains_key("confab-core") && graph.contains_key("confab-server"), "{graph:?}");
    assert!(deps("confab-core").is_empty(), "core depends on no crate of ours: {:?}", deps("confab-core"));
    for (name, uses) in &graph {
        if name != "confab-tests" && name != "confab-bench" {
            assert!(!uses.contains("confab-client"), "{name} is server-side and must not use the client");
        }
        if name != "confab-tests" {
            assert!(!uses.contains("confab-server"), "only the tests may link the server: {name}");
        }
    }
    for name in ["confab-search", "confab-recommend", "confab-consent"] {
        let uses = deps(name);
        assert!(!uses.contains("confab-app") && !uses.contains("confab-server"), "{name} uses {uses:?}");
    }
    if graph.contains_key("confab-training") {
        assert!(
            !deps("confab-training").contains("confab-store"),
            "training reads data only through consent"
        );
    }
    // Only the server and the client speak HTTP/WebSocket: check the external crates.
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default();
        let web: Vec<&str> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| ["axum", "hyper", "tower-http", "reqwest", "tokio-tungstenite"].contains(d))
            .collect();
        match name {
            "confab-server" | "confab-client" | "confab-tests" | "confab-bench" => {}
            _ => assert!(web.is_empty(), "{name} must not speak HTTP/WebSocket itself: {web:?}"),
        }
    }
}
