//! Derived data (the search index and the suggestions) is kept current on threads at
//! `search.background_nice`, below the threads that acknowledge and deliver messages,
//! so that a burst of indexing never takes the cores from the write path.

/// Each thread of this process: its name (at most 15 bytes, as the kernel keeps it)
/// and its nice value.
#[cfg(target_os = "linux")]
fn threads() -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else { continue };
        // After the name in parentheses: state is field 3 of stat, nice field 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i64 = after.split(' ').nth(16).unwrap().parse().unwrap();
        out.push((name.trim().to_owned(), nice));
    }
    out
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_data_runs_below_the_chat_threads() {
    let mut config = crate::support::config();
    config.search.background_nice = 13;
    let dir = tempfile::tempdir().unwrap();
    let app = crate::support::open(crate::support::sled_store(dir.path()), config, dir.path());
    crate::support::searchable_post(&app, "the analytical engine", "engine").await;
    let threads = threads();
    // Other tests in this binary run apps at the default; 13 is this one's.
    for name in ["confab-derived", "search-committe", "thrd-tantivy-in"] {
        assert!(
            threads.iter().any(|(n, nice)| n.starts_with(name) && *nice == 13),
            "no {name} thread at nice 13: {threads:?}"
        );
    }
    let workers: Vec<i64> =
        threads.iter().filter(|(n, _)| n.starts_with("tokio-rt")).map(|(_, nice)| *nice).collect();
    assert!(!workers.is_empty() && workers.iter().all(|nice| *nice == 0), "{threads:?}");
}
