//! design.md's dependency rules, read from `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};

crate::cases!(dependency_rules_hold, the_architecture_document_matches_the_crates);

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
    // Named, so that renaming a crate fails here instead of passing vacuously.
    for name in ["confab-training", "confab-consent", "confab-store", "confab-app", "confab-client"] {
        assert!(graph.contains_key(name), "{name} is a crate of the workspace: update these rules with it");
    }
    assert!(!deps("confab-training").contains("confab-store"), "training reads data only through consent");
    assert!(deps("confab-training").contains("confab-consent"), "training reads data through consent");
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

/// ARCHITECTURE.md's crate table names every workspace crate (and nothing that is
/// not one, but for the web client's folder), and every arrow of its graph
/// (`a ← b`: b depends on a) is a real dependency.
async fn the_architecture_document_matches_the_crates() {
    let meta = metadata();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("root");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut crate_dirs = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let manifest = std::path::Path::new(p["manifest_path"].as_str().expect("manifest path"));
        let dir = manifest.parent().expect("crate dir").strip_prefix(&root).expect("inside the workspace");
        crate_dirs
            .insert(format!("{}/", dir.display()).replace("//", "/"), p["name"].as_str().unwrap_or_default());
    }
    let table: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|cell| cell.ends_with('/') || cell.starts_with("crates/"))
        .map(|cell| if cell.ends_with('/') { cell.to_string() } else { format!("{cell}/") })
        .collect();
    for (dir, name) in &crate_dirs {
        assert!(table.contains(dir), "{name} ({dir}) has no row in ARCHITECTURE.md's crate table");
    }
    for row in &table {
        assert!(
            crate_dirs.contains_key(row) || row == "client-web/",
            "ARCHITECTURE.md's crate table names {row}, which is not a workspace crate"
        );
    }
    // The graph: the first fenced block, lines of `a ← b ← c` with comma-separated names.
    let graph = workspace_graph(&meta);
    let block = doc.split("```").nth(1).expect("the crate graph");
    let package = |short: &str| match short {
        "server" => "confab-server".to_string(),
        other => format!("confab-{other}"),
    };
    let mut arrows = 0;
    for line in block.lines() {
        let drawing = line.split("  (").next().unwrap_or(line);
        let groups: Vec<Vec<String>> = drawing
            .split('←')
            .map(|g| g.split(',').map(str::trim).filter(|n| !n.is_empty()).map(package).collect())
            .collect();
        for pair in groups.windows(2) {
            for used in &pair[0] {
                for user in &pair[1] {
                    let deps =
                        graph.get(user).unwrap_or_else(|| panic!("{user} in the graph is not a crate"));
                    assert!(
                        deps.contains(used),
                        "ARCHITECTURE.md draws {user} depending on {used}; it does not"
                    );
                    arrows += 1;
                }
            }
        }
    }
    assert!(arrows >= 10, "the graph was read: {arrows} arrows");
}
