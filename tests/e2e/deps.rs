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
    test_support_stays_out_of_product_code(&meta);
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

/// Test support (the corpus simulator, offline evaluation, in-memory consent stand-ins)
/// is not product code: it is never published, no product crate depends on it (tests,
/// examples and benches reach it as a dev-dependency), and the server links it only
/// through its `demo` feature, for `confab demo`.
fn test_support_stays_out_of_product_code(meta: &serde_json::Value) {
    const SUPPORT: &str = "confab-test-support";
    let packages = meta["packages"].as_array().expect("packages");
    let support = packages.iter().find(|p| p["name"] == SUPPORT).expect("the test-support crate");
    assert_eq!(support["publish"], serde_json::json!([]), "{SUPPORT} must be `publish = false`");
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        let links: Vec<&serde_json::Value> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["name"] == SUPPORT && (d["kind"].is_null() || d["kind"] == "build"))
            .collect();
        match name {
            SUPPORT | "confab-tests" | "confab-bench" => {}
            "confab-server" => {
                assert!(!links.is_empty(), "the demo needs {SUPPORT}: update this rule with the demo");
                for d in &links {
                    assert_eq!(d["optional"], true, "the server links {SUPPORT} only through a feature");
                }
                let features = p["features"].as_object().expect("features");
                for (feature, enables) in features {
                    let enables_support =
                        enables.as_array().into_iter().flatten().filter_map(|e| e.as_str()).any(|e| {
                            e == format!("dep:{SUPPORT}") || e.split(['/', '?']).next() == Some(SUPPORT)
                        });
                    assert!(
                        !enables_support || feature == "demo",
                        "only the server's `demo` feature may enable {SUPPORT}, not `{feature}`"
                    );
                }
                assert!(features.contains_key("demo"), "the server's `demo` feature");
            }
            _ => assert!(links.is_empty(), "{name} is product code and must not depend on {SUPPORT}"),
        }
    }
}
