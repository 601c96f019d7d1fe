//! Search benchmark: bulk indexing rate, query latency with permission filters, and
//! post→searchable time, on a workspace built from the chit-chat corpus.
//!
//! ```text
//! cargo run --release -p confab-search --example search_bench -- --messages 1000000
//! ```
//!
//! Options: `--messages N` (default 200000), `--channels N` (200), `--readable N`
//! (50), `--users N` (500), `--queries N` (2000), `--seed N` (42).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use confab_search::{
    Affinity, IndexCursor, IndexDoc, NameMap, OpenOutcome, RankingWeights, SearchConfig, SearchIndex,
    SearchRequest, SortOrder,
};
use confab_test_support::search::{self as corpus, NOW, WorkspaceSpec, channel_id, user_id, workspace_id};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

struct Options {
    messages: usize,
    channels: u64,
    readable: usize,
    users: u64,
    queries: usize,
    seed: u64,
}

fn options() -> Options {
    let mut o =
        Options { messages: 200_000, channels: 200, readable: 50, users: 500, queries: 2_000, seed: 42 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = |what: &str| -> u64 {
            pair.get(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match pair[0].as_str() {
            "--messages" => o.messages = value("--messages") as usize,
            "--channels" => o.channels = value("--channels"),
            "--readable" => o.readable = value("--readable") as usize,
            "--users" => o.users = value("--users"),
            "--queries" => o.queries = value("--queries") as usize,
            "--seed" => o.seed = value("--seed"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options();
    let started = Instant::now();
    let conversations = corpus::load(&corpus::corpus_path())?;
    let spec = WorkspaceSpec {
        workspace: 1,
        messages: o.messages,
        channels: o.channels,
        users: o.users,
        seed: o.seed,
    };
    let mut docs: Vec<IndexDoc> = Vec::with_capacity(o.messages);
    corpus::generate(&conversations, &spec, |d| docs.push(d));
    eprintln!("generated {} messages in {:.1?}", docs.len(), started.elapsed());

    let mut rng = StdRng::seed_from_u64(o.seed ^ 0x5eed);
    let queries = query_mix(&docs, &o, &mut rng);
    let message_count = docs.len();

    let dir = tempfile::tempdir()?;
    let bulk_config = SearchConfig {
        writer_memory_bytes: 512 << 20,
        indexing_threads: 2,
        commit_interval: None,
        thread_start: None,
    };

    // Bulk indexing, from an iterator, including the final commit.
    let (index, outcome) = SearchIndex::open(dir.path(), bulk_config.clone())?;
    assert_eq!(outcome, OpenOutcome::Fresh);
    let cpu_before = process_cpu_seconds();
    let t = Instant::now();
    // The documents are moved in, as a rebuild streams them from the store.
    let added = index.bulk_add(docs)?;
    index.commit(IndexCursor::from([(workspace_id(1), added as u64)]))?;
    let bulk_secs = t.elapsed().as_secs_f64();
    let bulk_cpu = process_cpu_seconds() - cpu_before;
    drop(index);

    // Reopen as a server would at start-up, with the background committer on.
    let t = Instant::now();
    let live_config =
        SearchConfig { commit_interval: SearchConfig::default().commit_interval, ..bulk_config };
    let interval = live_config.commit_interval.unwrap_or_default();
    let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    let (index, outcome) = SearchIndex::open(dir.path(), live_config)?;
    let reopen = t.elapsed();
    assert!(matches!(outcome, OpenOutcome::Existing { .. }), "{outcome:?}");
    let disk_bytes: u64 = std::fs::read_dir(dir.path().join("tantivy"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    // The searcher reads `readable` of the channels and has affinities to a few.
    let all_channels: Vec<u64> = (0..o.channels).collect();
    let readable: Vec<_> =
        all_channels.choose_multiple(&mut rng, o.readable).map(|&c| channel_id(1, c)).collect();
    let mut names = NameMap::default();
    for u in 0..o.users {
        names.users.insert(format!("user{u}"), user_id(u));
    }
    for c in 0..o.channels {
        names.channels.insert(format!("chan{c}"), channel_id(1, c));
    }
    let affinity = Affinity {
        channels: readable.iter().take(5).map(|&c| (c, rng.random_range(0.2..1.0))).collect(),
        authors: (0..20)
            .map(|_| (user_id(rng.random_range(0..o.users)), rng.random_range(0.2..1.0)))
            .collect(),
        private: Default::default(),
    };
    let weights = RankingWeights::default();

    let mut latencies: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    let mut hits_total = 0usize;
    let mut cpu_times: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    for (round, (kind, query)) in queries.iter().enumerate() {
        let request = SearchRequest {
            workspace: workspace_id(1),
            readable_channels: &readable,
            query,
            resolver: &names,
            sort: if round % 10 == 9 { SortOrder::Recent } else { SortOrder::Relevance },
            limit: 20,
            offset: 0,
            affinity: &affinity,
            weights: &weights,
            now: NOW,
        };
        let cpu_before = thread_cpu_nanos();
        let t = Instant::now();
        let results = index.search(&request).map_err(|e| format!("{query}: {e}"))?;
        let took = t.elapsed();
        let cpu = Duration::from_nanos(thread_cpu_nanos().saturating_sub(cpu_before));
        hits_total += results.hits.len();
        if round >= 100 {
            latencies.entry(kind).or_default().push(took);
            latencies.entry("all").or_default().push(took);
            cpu_times.entry(kind).or_default().push(cpu);
            cpu_times.entry("all").or_default().push(cpu);
        }
    }

    // Post → searchable, through the background committer.
    let mut visible = Vec::new();
    for k in 0..20u64 {
        let word = format!("freshword{k}x");
        let doc = IndexDoc {
            id: confab_core::MessageId::from_ulid(ulid::Ulid::from_parts(NOW as u64, u128::from(k) + 1)),
            workspace: workspace_id(1),
            channel: readable[0],
            author: user_id(0),
            thread_root: None,
            created_at: NOW,
            text: format!("just posted {word}"),
            reaction_count: 0,
            reply_count: 0,
            has_link: false,
            has_mention: false,
            has_file: false,
            has_image: false,
            file_names: Vec::new(),
            file_texts: Vec::new(),
        };
        let t = Instant::now();
        index.index_messages(&[doc])?;
        loop {
            let request = SearchRequest {
                workspace: workspace_id(1),
                readable_channels: &readable,
                query: &word,
                resolver: &names,
                sort: SortOrder::Relevance,
                limit: 1,
                offset: 0,
                affinity: &affinity,
                weights: &weights,
                now: NOW,
            };
            if !index.search(&request)?.hits.is_empty() {
                break;
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err(format!("{word} not searchable after 5 s").into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        visible.push(t.elapsed());
        // Posts fall anywhere in the committer's cycle.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..interval_ms)));
    }

    println!(
        "confab-search bench: {} messages, {} channels ({} readable by the searcher), {} users",
        message_count, o.channels, o.readable, o.users
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| bulk indexing (2 threads, incl. commit) | {:.0} msgs/s ({:.1} s wall, {:.1} s CPU = {:.0} msgs per CPU-second) |",
        message_count as f64 / bulk_secs,
        bulk_secs,
        bulk_cpu,
        message_count as f64 / bulk_cpu.max(1e-9)
    );
    println!("| index size on disk | {:.0} MiB |", disk_bytes as f64 / (1 << 20) as f64);
    println!("| reopen existing index | {:.0?} |", reopen);
    println!(
        "| post → searchable (20 posts, committer every {} ms) | p50 {:.0?}, max {:.0?} |",
        interval.as_millis(),
        pct(&mut visible, 50.0),
        pct(&mut visible, 100.0)
    );
    println!();
    println!("| queries (limit 20, 50 of 200 channels readable) | n | p50 | p95 | p99 | mean CPU |");
    println!("|---|---|---|---|---|---|");
    for kind in ["one word", "multi-word", "phrase", "operator", "all"] {
        let mut l = latencies.remove(kind).unwrap_or_default();
        let c = cpu_times.remove(kind).unwrap_or_default();
        println!(
            "| {kind} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            l.len(),
            ms(pct(&mut l, 50.0)),
            ms(pct(&mut l, 95.0)),
            ms(pct(&mut l, 99.0)),
            // The scheduler's CPU clock ticks coarsely (4 ms here): only the mean is exact.
            ms(c.iter().sum::<Duration>()) / c.len().max(1) as f64
        );
    }
    println!();
    println!(
        "(average {:.1} hits per query; 10% of queries sorted by recency)",
        hits_total as f64 / queries.len() as f64
    );
    Ok(())
}

/// On-CPU time of the calling thread, from `/proc/thread-self/schedstat` (ns); 0
/// where that file does not exist. Unlike wall time, it does not count waiting for a
/// core on a busy machine.
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat`; 0 where
/// that file does not exist.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank]
}

/// A mix of queries drawn from the indexed texts: one word (40%), two or three words
/// (25%), a two-word phrase (15%), a word with an operator (20%).
fn query_mix(docs: &[IndexDoc], o: &Options, rng: &mut StdRng) -> Vec<(&'static str, String)> {
    let words_of = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
            .filter(|w| w.len() >= 3 && w.chars().all(char::is_alphabetic))
            .collect()
    };
    let mut out = Vec::with_capacity(o.queries);
    while out.len() < o.queries {
        let doc = &docs[rng.random_range(0..docs.len())];
        let words = words_of(&doc.text);
        if words.len() < 3 {
            continue;
        }
        let roll: f64 = rng.random();
        let k = rng.random_range(0..words.len() - 1);
        let query = if roll < 0.40 {
            ("one word", words[k].clone())
        } else if roll < 0.65 {
            let n = rng.random_range(2..=3).min(words.len());
            ("multi-word", words.choose_multiple(rng, n).cloned().collect::<Vec<_>>().join(" "))
        } else if roll < 0.80 {
            ("phrase", format!("\"{} {}\"", words[k], words[k + 1]))
        } else {
            let operator = match rng.random_range(0..5) {
                0 => format!("from:@user{}", rng.random_range(0..o.users)),
                1 => format!("in:#chan{}", rng.random_range(0..o.channels)),
                2 => "has:link".to_string(),
                3 => "after:2024-03-01".to_string(),
                _ => "-the is:thread".to_string(),
            };
            ("operator", format!("{} {operator}", words[k]))
        };
        out.push(query);
    }
    out
}
