//! `files`: sustained upload throughput (issue 15). `--uploaders` clients (8) each
//! upload 1 MiB files of distinct content (so none is deduplicated) into a channel of
//! their own, as fast as the answers come, `--upload-files` files in all; every upload
//! is fsynced, renamed into place and its directory synced before it is answered.
//!
//! The reference is the disk itself, measured in the same run on the same file
//! system (the server's data dir and the reference's files share one temporary
//! directory): what `dd bs=1M conv=fsync` does, file by file — create a file, write
//! 1 MiB, fsync it — for the same total bytes, once right before the uploads and once
//! right after (the mean of both is the reference, so a neighbour's load that comes
//! or goes mid-run weighs on both sides). Target: uploads at ≥ 50% of the reference.
//! For context, not judged: the same writes by `--uploaders` threads at once, since
//! concurrent fsyncs overlap on most disks and uploads get that too.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use confab_client::Client;
use confab_core::ChannelId;
use futures_util::future::try_join_all;
use tokio::time::Instant;

use super::Ctx;
use crate::report::Latency;
use crate::setup;

/// Bytes of each file, uploaded and written.
const FILE_BYTES: usize = 1 << 20;
const MIB: f64 = 1_048_576.0;

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let uploaders = ctx.o.uploaders.max(1);
    let files = ctx.o.upload_files.max(uploaders);
    let total_mib = (files * FILE_BYTES) as f64 / MIB;
    println!("\n== files: {files} uploads of 1 MiB by {uploaders} uploaders, against fsynced writes");
    let quota = ((files + uploaders) * FILE_BYTES * 2).to_string();
    let env: Vec<(String, String)> = [
        ("CONFAB_LIMITS_WRITES_PER_SECOND", "1000000"),
        ("CONFAB_LIMITS_WRITE_BURST", "1000000"),
        ("CONFAB_FILES_WORKSPACE_QUOTA_BYTES", quota.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let server = ctx.fresh_confab(&env).await?;
    let data_dir = server.data_dir().context("the files scenario starts its own server")?.to_path_buf();
    let scratch = data_dir
        .parent()
        .context("the data dir has a parent")?
        .join(format!("confab-bench-disk-{}", std::process::id()));

    let before = disk_reference(&scratch, files, 1).await?;
    let team = setup::team(&server.base, uploaders).await?;
    let channels = setup::own_channels(&team, &team.people, "files").await?;
    let clients: Vec<Client> = team.people.iter().map(|p| p.client.clone()).collect();
    // One upload each first: connections open, the upload path warm.
    try_join_all(clients.iter().zip(&channels).map(|(c, ch)| upload_one(c, *ch, u32::MAX, 0))).await?;
    let started = Instant::now();
    let per_uploader = files.div_ceil(uploaders);
    let latencies = try_join_all(clients.iter().zip(&channels).enumerate().map(|(u, (client, channel))| {
        let count = per_uploader.min(files - (u * per_uploader).min(files));
        upload_many(client, *channel, u as u32, count)
    }))
    .await?;
    let upload_time = started.elapsed();
    let after = disk_reference(&scratch, files, 1).await?;
    server.stop().await?;
    let parallel = disk_reference(&scratch, files, uploaders).await?;

    let mut latency = Latency::default();
    latencies.iter().for_each(|l| latency.merge(l));
    let uploaded_mib = latency.count() as f64 * FILE_BYTES as f64 / MIB;
    let upload_rate = uploaded_mib / upload_time.as_secs_f64();
    let disk_rate = |elapsed: Duration| total_mib / elapsed.as_secs_f64();
    let reference = (disk_rate(before) + disk_rate(after)) / 2.0;
    let ratio = upload_rate / reference;
    let r = ctx.report;
    r.info(
        "files",
        &format!("disk: {files} × 1 MiB files written and fsynced, one by one"),
        format!("{:.1} MiB/s before, {:.1} MiB/s after the uploads", disk_rate(before), disk_rate(after)),
    );
    r.info(
        "files",
        &format!("disk, the same by {uploaders} threads at once (context)"),
        format!("{:.1} MiB/s", disk_rate(parallel)),
    );
    r.info(
        "files",
        &format!("uploads: {} × 1 MiB, {uploaders} uploaders", latency.count()),
        format!("{upload_rate:.1} MiB/s in {:.1} s", upload_time.as_secs_f64()),
    );
    r.info("files", "upload latency (request → 201)", latency.summary());
    r.target("files", "upload throughput / disk's", format!("{:.0}%", ratio * 100.0), "≥ 50%", ratio >= 0.5);
    Ok(())
}

/// 1 MiB that no other file of the run has: a fixed pattern stamped with who uploads
/// it and its number.
fn content(uploader: u32, n: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..FILE_BYTES).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    bytes[..4].copy_from_slice(&uploader.to_le_bytes());
    bytes[4..12].copy_from_slice(&(n as u64).to_le_bytes());
    bytes
}

async fn upload_one(client: &Client, channel: ChannelId, uploader: u32, n: usize) -> anyhow::Result<()> {
    let name = format!("u{uploader}-{n}.bin");
    client
        .upload(channel, &name, &content(uploader, n), "")
        .await
        .with_context(|| format!("upload {name}"))?;
    Ok(())
}

/// `count` uploads one after the other; their latencies.
async fn upload_many(
    client: &Client,
    channel: ChannelId,
    uploader: u32,
    count: usize,
) -> anyhow::Result<Latency> {
    let mut latency = Latency::default();
    for n in 0..count {
        let t = Instant::now();
        upload_one(client, channel, uploader, n).await?;
        latency.record_us(t.elapsed().as_micros() as u64);
    }
    Ok(latency)
}

/// The time `writers` threads take to write `files` files of 1 MiB in `dir`, each
/// thread one file after the other, each fsynced before the next (then deleted).
async fn disk_reference(dir: &Path, files: usize, writers: usize) -> anyhow::Result<Duration> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let chunk = content(u32::MAX - 1, 0);
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..writers)
                .map(|w| {
                    let (dir, chunk) = (&dir, &chunk);
                    scope.spawn(move || -> std::io::Result<()> {
                        for n in (w..files).step_by(writers) {
                            let mut file = std::fs::File::create(dir.join(format!("{n}.bin")))?;
                            file.write_all(chunk)?;
                            file.sync_all()?;
                        }
                        Ok(())
                    })
                })
                .collect();
            threads.into_iter().try_for_each(|t| {
                t.join().unwrap_or_else(|_| Err(std::io::Error::other("a writer panicked")))
            })
        })?;
        let elapsed = started.elapsed();
        std::fs::remove_dir_all(&dir)?;
        Ok::<_, std::io::Error>(elapsed)
    })
    .await?
    .context("writing the disk reference")
}
