//! Files: upload, download, permissions, limits, hostile input and deletion, against
//! a real server process and its data dir.

use std::time::Duration;

use confab_core::{ErrorCode, Event, FileId, WorkspaceId};
use confab_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

crate::cases!(
    upload_download_and_who_may_read,
    images_get_thumbnails_and_hostile_ones_are_refused,
    limits_and_bad_input_have_stable_codes,
    a_huge_upload_is_refused_without_buffering_it,
    deleting_messages_deletes_their_files,
    deleting_a_file_takes_it_out_of_its_message,
    files_are_found_by_name_and_by_kind,
    orphan_contents_are_swept,
    a_slow_upload_has_its_own_timeout,
    downloads_answer_ranges_and_revalidation,
    the_text_of_text_files_is_searchable_where_the_message_is,
    a_raw_body_upload_is_named_in_the_query,
    a_file_can_be_a_thread_reply,
    one_message_carries_several_files,
    a_large_upload_works_through_any_node,
);

const WAIT: Duration = Duration::from_secs(10);

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0x0f, 0x00, 0x02,
    0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
];

fn code(result: Result<impl std::fmt::Debug, confab_client::ClientError>) -> (u16, ErrorCode) {
    match result {
        Err(confab_client::ClientError::Api { status, error }) => (status, error.code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Files under `<data-dir>/files/<ws>/` (the stored contents of a workspace).
fn stored_contents(server: &TestServer, ws: WorkspaceId) -> Vec<std::path::PathBuf> {
    let dir = server.files_dir().join(ws.to_string());
    let mut found = Vec::new();
    for sub in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        found.extend(std::fs::read_dir(sub.path()).into_iter().flatten().flatten().map(|e| e.path()));
    }
    found
}

/// Whether no upload is staged (in `tmp/`, or `tmp/<node>/` in a shared directory).
fn staging_is_empty(server: &TestServer) -> bool {
    fn files_in(dir: &std::path::Path) -> usize {
        let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
        entries.map(|e| if e.path().is_dir() { files_in(&e.path()) } else { 1 }).sum()
    }
    files_in(&server.files_dir().join("tmp")) == 0
}

/// Whether no upload waits handed off for another node (`handoff/<ws>/`).
fn handoffs_are_empty(server: &TestServer) -> bool {
    let workspaces = std::fs::read_dir(server.files_dir().join("handoff")).into_iter().flatten().flatten();
    workspaces.map(|ws| std::fs::read_dir(ws.path()).into_iter().flatten().count()).sum::<usize>() == 0
}

async fn upload_download_and_who_may_read() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, member_s) = server.user("member").await;
    let (outsider, _) = server.user("outsider").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    confab_tests::workspace(&outsider, "Elsewhere").await;
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;
    let mut live = member.connect(&[]).await.unwrap();

    let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let posted = owner.upload(general, "../../etc/report.bin", &content, "the numbers").await.unwrap();
    assert_eq!(posted.file.name, "report.bin", "path components are stripped");
    assert_eq!(posted.file.size, content.len() as u64);
    assert_eq!(posted.file.content_type, "application/octet-stream");
    assert_eq!(posted.message.files, vec![posted.file.id]);
    assert_eq!(posted.message.text, "the numbers");
    // Delivered like any message, with the file's id.
    let (_, event) = live.wait_event(WAIT, "message.created").await.unwrap();
    let Event::MessageCreated { message } = event else { unreachable!() };
    assert_eq!(message.files, vec![posted.file.id]);
    assert_eq!(member.message(posted.message.id).await.unwrap().files, vec![posted.file.id]);

    // A member of the channel downloads it byte for byte, as an attachment that
    // cannot run in the app's origin.
    let (headers, bytes) = member.download(posted.file.id, false).await.unwrap();
    assert!(bytes == content, "downloaded bytes differ");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(headers["content-length"], content.len().to_string().as_str());
    // The entity tag is the content's hash: a client holding it gets 304.
    let etag = headers["etag"].to_str().unwrap().to_string();
    let url = format!("{}/api/v1/files/{}", server.url, posted.file.id);
    let again = reqwest::Client::new()
        .get(&url)
        .bearer_auth(member.token().unwrap())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!((again.status().as_u16(), again.bytes().await.unwrap().len()), (304, 0));
    let stranger = outsider.token().unwrap();
    let probe = reqwest::Client::new().get(&url).bearer_auth(stranger).header("if-none-match", &etag);
    assert_eq!(probe.send().await.unwrap().status(), 404, "the tag reveals nothing to a non-reader");

    // A file of a private channel: only its members; everyone else, another
    // workspace's member included, gets the answer a missing file gets.
    let hidden = owner.upload(secret, "plan.txt", b"the secret plan\n", "").await.unwrap();
    assert_eq!(hidden.file.content_type, "text/plain; charset=utf-8");
    assert_eq!(owner.download(hidden.file.id, false).await.unwrap().1, b"the secret plan\n");
    let mut missing = hidden.file.id.to_bytes();
    missing[15] ^= 1;
    let missing = FileId::from_bytes(missing);
    for (who, client) in [("member", &member), ("outsider", &outsider)] {
        for thumb in [false, true] {
            let answer = code(client.download(hidden.file.id, thumb).await);
            assert_eq!(answer, (404, ErrorCode::FileNotFound), "{who}, thumbnail {thumb}");
        }
        assert_eq!(code(client.download(missing, false).await), (404, ErrorCode::FileNotFound));
    }
    assert_eq!(code(outsider.download(posted.file.id, false).await), (404, ErrorCode::FileNotFound));
    assert_eq!(code(server.client().download(posted.file.id, false).await).1, ErrorCode::Unauthenticated);
    // Uploading needs the right to post there.
    assert_eq!(code(member.upload(secret, "x.txt", b"x", "").await), (404, ErrorCode::ChannelNotFound));
    assert_eq!(code(outsider.upload(general, "x.txt", b"x", "").await), (404, ErrorCode::ChannelNotFound));
    owner.add_member(secret, member_s.user.id).await.unwrap();
    assert_eq!(member.download(hidden.file.id, false).await.unwrap().1, b"the secret plan\n");
    assert!(staging_is_empty(&server));
}

/// A PNG chunk with its CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    let mut crc = 0xffff_ffffu32;
    for byte in crc_input {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

/// A PNG's width and height, from its header.
fn png_size(png: &[u8]) -> (u32, u32) {
    let at = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (at(16), at(20))
}

/// A grey `width` × `height` PNG (8-bit greyscale, stored without compression).
fn blank_png(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let row = width as usize + 1; // a filter byte, then the pixels
    let raw: Vec<u8> = (0..height as usize * row).map(|i| if i % row == 0 { 0 } else { 128 }).collect();
    // zlib with stored (uncompressed) blocks of at most 65,535 bytes.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = PNG[..8].to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", &[]));
    png
}

async fn images_get_thumbnails_and_hostile_ones_are_refused() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let image = owner.upload(general, "dot.png", PNG, "").await.unwrap();
    assert_eq!(image.file.content_type, "image/png");
    let (headers, bytes) = owner.download(image.file.id, false).await.unwrap();
    assert_eq!(bytes, PNG);
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("inline"), "{headers:?}");
    assert_eq!(headers["content-security-policy"], "sandbox");
    let (headers, thumb) = owner.download(image.file.id, true).await.unwrap();
    assert_eq!(headers["content-type"], "image/png");
    assert!(thumb.starts_with(b"\x89PNG"), "a PNG thumbnail");
    assert_eq!(png_size(&thumb), (1, 1), "an image smaller than a thumbnail is not scaled up");
    let large = owner.upload(general, "wide.png", &blank_png(800, 200), "").await.unwrap();
    let (_, thumb) = owner.download(large.file.id, true).await.unwrap();
    assert_eq!(png_size(&thumb), (360, 90), "a larger one is scaled down to files.thumbnail_px");

    // SVG is no inline image: it downloads as an attachment, sandboxed, no thumbnail.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    let posted = owner.upload(general, "x.svg", svg, "").await.unwrap();
    let (headers, _) = owner.download(posted.file.id, false).await.unwrap();
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"), "{headers:?}");
    assert_ne!(headers["content-type"], "image/svg+xml");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(code(owner.download(posted.file.id, true).await), (404, ErrorCode::FileNotFound));

    // A corrupt image and a decompression bomb (a PNG declaring 100,000 × 100,000
    // pixels) are refused with a clear error and leave nothing behind.
    let before = stored_contents(&server, ws).len();
    let mut corrupt = PNG[..40].to_vec();
    corrupt.extend_from_slice(&[0x55; 64]);
    let mut bomb = PNG[..8].to_vec();
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    bomb.extend(chunk(b"IHDR", &ihdr));
    bomb.extend(chunk(b"IDAT", &[0x78, 0xda, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]));
    bomb.extend(chunk(b"IEND", &[]));
    for (what, bytes) in [("corrupt", corrupt), ("bomb", bomb)] {
        let err = owner.upload(general, "evil.png", &bytes, "").await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidField), "{what}: {err}");
        assert!(err.to_string().contains("image"), "{what}: {err}");
    }
    assert_eq!(stored_contents(&server, ws).len(), before, "refused images are not stored");
    assert!(staging_is_empty(&server));
}

async fn limits_and_bad_input_have_stable_codes() {
    let server = TestServer::start_with(&[
        ("CONFAB_FILES_MAX_BYTES", "1000"),
        ("CONFAB_FILES_WORKSPACE_QUOTA_BYTES", "2500"),
    ]);
    let (owner, _) = server.user("owner").await;
    let (_, general) = confab_tests::workspace(&owner, "W").await;
    let err = owner.upload(general, "big.bin", &[7; 1001], "").await.unwrap_err();
    assert_eq!(code(Err::<(), _>(err)), (413, ErrorCode::PayloadTooLarge));
    assert_eq!(code(owner.upload(general, "empty.txt", b"", "").await), (400, ErrorCode::InvalidField));
    // A name with separators and 10,000 characters is stored sanitised; a NUL in the
    // part's header is a malformed body.
    let name = format!("a/b\\cd{}.txt", "x".repeat(10_000));
    let posted = owner.upload(general, &name, &[1; 1000], "").await.unwrap();
    assert!(posted.file.name.starts_with("cdxxx") && posted.file.name.chars().count() <= 255);
    let nul = owner.upload(general, "a\0b.txt", &[4; 10], "").await;
    assert_eq!(code(nul), (400, ErrorCode::InvalidRequest));
    // The same content again is stored once and counted once against the quota...
    owner.upload(general, "again.bin", &[1; 1000], "").await.unwrap();
    owner.upload(general, "second.bin", &[2; 1000], "").await.unwrap();
    // ...so only now, at 2,000 of 2,500 bytes, a third content does not fit.
    let over = owner.upload(general, "third.bin", &[3; 1000], "").await;
    assert_eq!(code(over), (403, ErrorCode::QuotaExceeded));
    // A body that is not multipart is the raw file, which must be named; and a
    // multipart body without a `file` part.
    let (status, body) =
        owner.raw(reqwest::Method::POST, &format!("/channels/{general}/files"), Some("{}")).await.unwrap();
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_field")));
    let (content_type, body) = confab_client::multipart_body("x", b"y", "text only");
    let body = String::from_utf8(body).unwrap().replace("name=\"file\"", "name=\"other\"");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/channels/{general}/files", server.url))
        .bearer_auth(owner.token().unwrap())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(staging_is_empty(&server));
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

async fn a_huge_upload_is_refused_without_buffering_it() {
    const MAX: usize = 64 << 20;
    let server = TestServer::start_with(&[("CONFAB_FILES_MAX_BYTES", &MAX.to_string())]);
    let (owner, _) = server.user("owner").await;
    let (_, general) = confab_tests::workspace(&owner, "W").await;
    // Warm up the upload path, then measure the peak around one huge upload.
    owner.upload(general, "warm.bin", &[9; 4096], "").await.unwrap();
    let pid = server.pid().expect("the server's pid");
    let before = peak_rss_kib(pid);
    // 100 MiB, chunked (no length up front), against a 64 MiB limit.
    let addr = server.url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let boundary = "hugeboundary";
    let token = owner.token().unwrap().to_string();
    let sender = tokio::spawn(async move {
        let head = format!(
            "POST /api/v1/channels/{general}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await?;
        let part = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.bin\"\r\n\r\n"
        );
        writer.write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes()).await?;
        let block = vec![0xab_u8; 1 << 20];
        for _ in 0..100 {
            writer.write_all(format!("{:x}\r\n", block.len()).as_bytes()).await?;
            writer.write_all(&block).await?;
            writer.write_all(b"\r\n").await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("payload_too_large") {
        match tokio::time::timeout(Duration::from_secs(60), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    sender.abort();
    let grew_mib = peak_rss_kib(pid).saturating_sub(before) / 1024;
    assert!(grew_mib < 32, "the server's peak memory grew by {grew_mib} MiB for a refused 100 MiB upload");
    // Nothing of it stays on disk, and the server goes on.
    let deadline = std::time::Instant::now() + WAIT;
    while !staging_is_empty(&server) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(staging_is_empty(&server), "the partial upload was deleted");
    owner.upload(general, "after.txt", b"still fine", "").await.unwrap();
}

async fn deleting_messages_deletes_their_files() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    let first = owner.upload(general, "a.txt", b"shared content\n", "one").await.unwrap();
    let second = member.upload(general, "b.txt", b"shared content\n", "two").await.unwrap();
    assert_eq!(stored_contents(&server, ws).len(), 1, "identical content is stored once");
    // Another member may not delete the message, nor so its file.
    assert_eq!(code(member.delete(first.message.id).await), (403, ErrorCode::Forbidden));
    owner.delete(first.message.id).await.unwrap();
    assert_eq!(code(owner.download(first.file.id, false).await), (404, ErrorCode::FileNotFound));
    assert!(owner.message(first.message.id).await.unwrap().files.is_empty());
    // The other message still names the content.
    assert_eq!(owner.download(second.file.id, false).await.unwrap().1, b"shared content\n");
    assert_eq!(stored_contents(&server, ws).len(), 1);
    member.delete(second.message.id).await.unwrap();
    assert_eq!(code(member.download(second.file.id, false).await), (404, ErrorCode::FileNotFound));
    assert!(stored_contents(&server, ws).is_empty(), "the last reference took the bytes off the disk");
    // The quota counts it no more: a new upload of the same content stores it again.
    let again = owner.upload(general, "c.txt", b"shared content\n", "").await.unwrap();
    assert_eq!(owner.download(again.file.id, false).await.unwrap().1, b"shared content\n");
    assert_eq!(stored_contents(&server, ws).len(), 1);
}

/// A request without a body, answering its status and error code (empty if none).
async fn file_route(client: &confab_client::Client, method: reqwest::Method, path: String) -> (u16, String) {
    let (status, body) = client.raw(method, &path, None).await.unwrap();
    (status.as_u16(), body["error"]["code"].as_str().unwrap_or_default().to_string())
}

async fn deleting_a_file_takes_it_out_of_its_message() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (other, _) = server.user("other").await;
    let (outsider, _) = server.user("outsider").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    confab_tests::join(&owner, ws, &other).await;
    confab_tests::workspace(&outsider, "Elsewhere").await;
    let mut live = owner.connect(&[]).await.unwrap();
    let commented = member.upload(general, "dot.png", PNG, "keep this text").await.unwrap();
    let alone = member.upload(general, "copy.png", PNG, "").await.unwrap();
    assert_eq!(stored_contents(&server, ws).len(), 1, "identical content is stored once");
    let file = |id: FileId| format!("/files/{id}");

    // The info route: the record for readers, nothing for anyone else.
    let info = format!("/files/{}/info", commented.file.id);
    let (_, found) = member.raw(reqwest::Method::GET, &info, None).await.unwrap();
    assert_eq!(serde_json::from_value::<confab_core::FileInfo>(found).unwrap(), commented.file);
    assert_eq!(file_route(&outsider, reqwest::Method::GET, info).await, (404, "file_not_found".into()));

    // Neither another member nor an outsider may delete it.
    let answer = file_route(&other, reqwest::Method::DELETE, file(commented.file.id)).await;
    assert_eq!(answer, (403, "forbidden".into()));
    let answer = file_route(&outsider, reqwest::Method::DELETE, file(commented.file.id)).await;
    assert_eq!(answer, (404, "file_not_found".into()));
    assert_eq!(member.download(commented.file.id, false).await.unwrap().1, PNG);

    // Its author may: the message stays, with its text and without the file, and every
    // reader hears of it as `message.updated`.
    live.wait_event(WAIT, "message.created").await.unwrap();
    live.wait_event(WAIT, "message.created").await.unwrap();
    assert_eq!(file_route(&member, reqwest::Method::DELETE, file(commented.file.id)).await.0, 204);
    let (_, event) = live.wait_event(WAIT, "message.updated").await.unwrap();
    let Event::MessageUpdated { message } = event else { unreachable!() };
    assert_eq!((message.id, message.text.as_str()), (commented.message.id, "keep this text"));
    assert!(message.files.is_empty(), "{message:?}");
    let stored = owner.message(commented.message.id).await.unwrap();
    assert!(!stored.deleted && stored.files.is_empty() && stored.text == "keep this text", "{stored:?}");
    for thumb in [false, true] {
        assert_eq!(code(member.download(commented.file.id, thumb).await), (404, ErrorCode::FileNotFound));
    }
    let again = file_route(&member, reqwest::Method::DELETE, file(commented.file.id)).await;
    assert_eq!(again, (404, "file_not_found".into()), "deleting again finds nothing");
    // The other file still names the content.
    assert_eq!(stored_contents(&server, ws).len(), 1);
    assert_eq!(member.download(alone.file.id, true).await.unwrap().0["content-type"], "image/png");

    // An admin may delete anyone's file; a message left with nothing is deleted, and
    // the last reference takes the bytes off the disk.
    assert_eq!(file_route(&owner, reqwest::Method::DELETE, file(alone.file.id)).await.0, 204);
    let (_, event) = live.wait_event(WAIT, "message.deleted").await.unwrap();
    let Event::MessageDeleted { message_id, .. } = event else { unreachable!() };
    assert_eq!(message_id, alone.message.id);
    assert!(owner.message(alone.message.id).await.unwrap().deleted);
    assert!(stored_contents(&server, ws).is_empty(), "no file names the content any more");
    // Search forgets the file: the message is found by its text, but not as having
    // one. (The index applies events in order: once a later post is found, all are in.)
    let marker = owner.post(general, "zebramarker").await.unwrap().id.to_string();
    wait_until_indexed(&owner, ws, "zebramarker", marker).await;
    assert_eq!(search(&owner, ws, "keep").await, vec![commented.message.id.to_string()]);
    assert!(search(&owner, ws, "has:file").await.is_empty(), "no message has a file any more");
}

/// The ids of the messages a search finds.
async fn search(client: &confab_client::Client, ws: WorkspaceId, q: &str) -> Vec<String> {
    search_once_built(client, ws, q).await.unwrap_or_else(|| panic!("{q}: the index is still being built"))
}

/// Like [`search`], but `None` while the index is still being built: a fresh server
/// builds it in the background, at a low priority, and on a loaded machine that can
/// take longer than a test's first steps.
async fn search_once_built(client: &confab_client::Client, ws: WorkspaceId, q: &str) -> Option<Vec<String>> {
    let path = format!("/workspaces/{ws}/search?q={q}");
    let (status, found) = client.raw(reqwest::Method::GET, &path, None).await.unwrap();
    if found["error"]["code"] == "index_rebuilding" {
        return None;
    }
    assert_eq!(status, 200, "{q}: {found}");
    let hits = found["hits"].as_array().cloned().unwrap_or_default();
    Some(hits.iter().map(|h| h["message"]["id"].as_str().unwrap().to_string()).collect())
}

async fn files_are_found_by_name_and_by_kind() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let report = owner.upload(general, "quarterly-figures.csv", b"a,b\n1,2\n", "").await.unwrap();
    let image = owner.upload(general, "dot.png", PNG, "a picture").await.unwrap();
    owner.post(general, "no files here").await.unwrap();
    let marker = owner.post(general, "zebramarker").await.unwrap().id.to_string();
    // The index applies events in order: once the last post is found, all are in.
    wait_until_indexed(&owner, ws, "zebramarker", marker).await;
    let (report_id, image_id) = (report.message.id.to_string(), image.message.id.to_string());
    let mut with_files = search(&owner, ws, "has:file").await;
    with_files.sort();
    let mut expected = vec![report_id.clone(), image_id.clone()];
    expected.sort();
    assert_eq!(with_files, expected);
    assert_eq!(search(&owner, ws, "has:image").await, vec![image_id]);
    assert_eq!(search(&owner, ws, "quarterly").await, vec![report_id.clone()], "found by its file's name");
    let (_, found) =
        owner.raw(reqwest::Method::GET, &format!("/workspaces/{ws}/search?q=quarterly"), None).await.unwrap();
    assert_eq!(found["hits"][0]["message"]["files"][0], report.file.id.to_string(), "the hit lists the file");
    // Deleted with its message, the file is no longer found.
    owner.delete(report.message.id).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while search(&owner, ws, "quarterly").await.contains(&report_id) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(search(&owner, ws, "has:file").await.iter().all(|id| *id != report_id));
}

async fn orphan_contents_are_swept() {
    let mut server = TestServer::start_with(&[("CONFAB_FILES_ORPHAN_TTL_SECS", "0")]);
    let (owner, _) = server.user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let kept = owner.upload(general, "kept.txt", b"named by a message", "").await.unwrap();
    server.stop();
    // Content a crash left behind: placed, but its message never became durable.
    let [stored] = stored_contents(&server, ws).try_into().expect("one content");
    let shard = stored.parent().unwrap().parent().unwrap().join("ab");
    std::fs::create_dir_all(&shard).unwrap();
    let orphan = shard.join("ab".repeat(32));
    std::fs::write(&orphan, b"never acknowledged").unwrap();
    // Uploads a node handed off to the workspace's holder through the shared
    // directory, never taken: one two hours old is swept, one just written is left
    // (its holder may still be taking it).
    let handoffs = server.files_dir().join("handoff").join(ws.to_string());
    std::fs::create_dir_all(&handoffs).unwrap();
    let abandoned = handoffs.join("01JABCDEFGHJKMNPQRSTVWXYZ0");
    std::fs::write(&abandoned, b"handed off, never taken").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&abandoned).unwrap().set_modified(two_hours_ago).unwrap();
    let in_flight = handoffs.join("01JABCDEFGHJKMNPQRSTVWXYZ1");
    std::fs::write(&in_flight, b"handed off a moment ago").unwrap();
    server.restart();
    let deadline = std::time::Instant::now() + WAIT;
    while (orphan.exists() || abandoned.exists()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!orphan.exists(), "the orphan was swept");
    assert!(!abandoned.exists(), "the abandoned handoff was swept");
    assert!(in_flight.exists(), "a recent handoff stays");
    assert!(stored.exists(), "named content stays");
    let owner = server.client().with_token(owner.token().unwrap());
    assert_eq!(owner.download(kept.file.id, false).await.unwrap().1, b"named by a message");
}

/// Sends a request whose body arrives in three pieces over about 2.4 s, and returns
/// the status line of the answer.
async fn trickle(server: &TestServer, path: &str, token: &str, content_type: &str, body: &[u8]) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let third = body.len() / 3;
    for (i, piece) in [&body[..third], &body[third..2 * third], &body[2 * third..]].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        // A server that timed out has closed the connection: stop writing then.
        if stream.write_all(piece).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

async fn a_slow_upload_has_its_own_timeout() {
    // Requests get 1 s; uploads keep files.upload_timeout_secs (an hour by default).
    let server = TestServer::start_with(&[("CONFAB_SERVER_REQUEST_TIMEOUT_SECS", "1")]);
    let (owner, _) = server.user("owner").await;
    let (_, general) = confab_tests::workspace(&owner, "W").await;
    let token = owner.token().unwrap();
    let (content_type, body) = confab_client::multipart_body("slow.txt", &[b'z'; 30_000], "");
    let path = format!("/api/v1/channels/{general}/files");
    let status = trickle(&server, &path, token, &content_type, &body).await;
    assert!(status.starts_with("HTTP/1.1 201"), "a slow upload completes: {status}");
    let path = format!("/api/v1/channels/{general}/messages");
    let status = trickle(&server, &path, token, "application/json", br#"{"text": "slow words"}"#).await;
    assert!(status.starts_with("HTTP/1.1 408"), "any other slow request times out: {status}");
}

/// A GET of a file route with extra request headers: status, headers and body.
async fn fetch(
    server: &TestServer,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(format!("{}/api/v1{path}", server.url)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

async fn downloads_answer_ranges_and_revalidation() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (outsider, _) = server.user("outsider").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::workspace(&outsider, "Elsewhere").await;
    let content: Vec<u8> = (0..800_000u32).map(|i| (i.wrapping_mul(7) % 251) as u8).collect();
    let posted = owner.upload(general, "data.bin", &content, "").await.unwrap();
    let path = format!("/files/{}", posted.file.id);
    let (token, stranger) = (owner.token().unwrap(), outsider.token().unwrap());

    // The whole file: ranges are offered, and the tag is the content's SHA-256.
    let (status, headers, body) = fetch(&server, token, &path, &[]).await;
    assert_eq!((status, body == content), (200, true));
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["cache-control"], "private, no-cache", "permissioned: revalidated at every use");
    let [stored] = stored_contents(&server, ws).try_into().expect("one content");
    let etag = format!("\"{}\"", stored.file_name().unwrap().to_str().unwrap());
    assert_eq!(headers["etag"], etag.as_str());

    // One range of each form: 206 with the part and where it lies, and the same
    // security headers as the whole file.
    let size = content.len();
    for (range, from, to) in [
        ("bytes=100-199", 100, 199),
        ("bytes=799990-", 799_990, size - 1),
        ("bytes=-10", size - 10, size - 1),
        ("bytes=0-", 0, size - 1),
        ("bytes=700000-900000", 700_000, size - 1),
    ] {
        let (status, headers, body) = fetch(&server, token, &path, &[("range", range)]).await;
        assert_eq!(status, 206, "{range}");
        assert_eq!(headers["content-range"], format!("bytes {from}-{to}/{size}").as_str(), "{range}");
        assert_eq!(headers["content-length"], (to - from + 1).to_string().as_str(), "{range}");
        assert!(body == content[from..=to], "{range}: the bytes of the range");
        assert_eq!(headers["content-security-policy"], "sandbox", "{range}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{range}");
        assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"), "{range}");
        assert_eq!(headers["etag"], etag.as_str(), "{range}");
    }
    // Past the end: 416 with the size. Several ranges, or a stale If-Range: the whole file.
    for range in ["bytes=800000-", "bytes=900000-900010"] {
        let (status, headers, _) = fetch(&server, token, &path, &[("range", range)]).await;
        assert_eq!((status, headers["content-range"].to_str().unwrap()), (416, "bytes */800000"), "{range}");
    }
    let (status, _, body) = fetch(&server, token, &path, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!((status, body.len()), (200, size));
    let stale = [("range", "bytes=0-9"), ("if-range", "\"0000\"")];
    assert_eq!(fetch(&server, token, &path, &stale).await.0, 200);
    let current = [("range", "bytes=0-9"), ("if-range", etag.as_str())];
    assert_eq!(fetch(&server, token, &path, &current).await.2, content[..10]);

    // Revalidation: the current tag answers 304 without the body; another tag, the file.
    let (status, headers, body) = fetch(&server, token, &path, &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(headers["etag"], etag.as_str());
    assert_eq!(headers["cache-control"], "private, no-cache");
    let listed = format!("\"other\", W/{etag}");
    assert_eq!(fetch(&server, token, &path, &[("if-none-match", &listed)]).await.0, 304);
    assert_eq!(fetch(&server, token, &path, &[("if-none-match", "\"other\"")]).await.0, 200);
    // Neither a range nor a tag tells a non-reader anything.
    for extra in [("range", "bytes=0-9"), ("if-none-match", etag.as_str())] {
        assert_eq!(fetch(&server, stranger, &path, &[extra]).await.0, 404, "{extra:?}");
    }

    // A thumbnail has a tag of its own, and revalidates the same way.
    let image = owner.upload(general, "dot.png", PNG, "").await.unwrap();
    let thumb = format!("/files/{}/thumb", image.file.id);
    let (status, headers, png) = fetch(&server, token, &thumb, &[]).await;
    assert_eq!((status, headers["cache-control"].to_str().unwrap()), (200, "private, no-cache"));
    let tag = headers["etag"].to_str().unwrap().to_string();
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&png).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(tag, format!("\"{digest}\""), "the tag is the thumbnail's hash");
    assert_eq!(headers["content-security-policy"], "sandbox");
    let (status, _, body) = fetch(&server, token, &thumb, &[("if-none-match", &tag)]).await;
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(fetch(&server, stranger, &thumb, &[("if-none-match", &tag)]).await.0, 404);
}

/// Polls a search until it finds `marker`'s message: the index applies events in
/// order, so everything posted before it is in. Polled below the search rate.
async fn wait_until_indexed(client: &confab_client::Client, ws: WorkspaceId, marker: &str, id: String) {
    for _ in 0..100 {
        if search_once_built(client, ws, marker).await.is_some_and(|found| found.contains(&id)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{marker} was not indexed");
}

async fn the_text_of_text_files_is_searchable_where_the_message_is() {
    let server = TestServer::start_with(&[
        ("CONFAB_FILES_INDEX_TEXT_MAX_BYTES", "20000"),
        ("CONFAB_LIMITS_SEARCH_BURST", "1000"),
    ]);
    let (owner, _) = server.user("owner").await;
    let (member, member_s) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;

    let notes = "# Minutes\n\nWe chose the *quokkafile* plan.\n";
    let hidden = owner.upload(secret, "minutes.md", notes.as_bytes(), "").await.unwrap();
    let csv = "city,animal\nPerth,wombatcsv\n";
    let shared = owner.upload(general, "animals.csv", csv.as_bytes(), "the list").await.unwrap();
    let code = "fn main() {\n    let narwhalcode = 1;\n}\n";
    let source = member.upload(general, "main.rs", code.as_bytes(), "").await.unwrap();
    // Not indexed: a binary file; a text whose head is UTF-8 but not the rest; a text
    // over files.index_text_max_bytes (found by its name only).
    let mut binary = b"\0\x01\x02 platypusbinary ".to_vec();
    binary.extend_from_slice(&[0; 100]);
    owner.upload(general, "blob.bin", &binary, "").await.unwrap();
    let mut broken = "echidnabroken ".repeat(1000).into_bytes();
    broken.extend_from_slice(&[0xff, 0xfe, b'x']);
    owner.upload(general, "broken.txt", &broken, "").await.unwrap();
    let large =
        owner.upload(general, "dingolog.txt", "dingolarge ".repeat(2000).as_bytes(), "").await.unwrap();
    assert_eq!(large.file.content_type, "text/plain; charset=utf-8");
    let marker = owner.post(general, "zebramarker").await.unwrap().id.to_string();
    wait_until_indexed(&owner, ws, "zebramarker", marker).await;

    let (hidden_id, shared_id) = (hidden.message.id.to_string(), shared.message.id.to_string());
    assert_eq!(search(&owner, ws, "quokkafile").await, vec![hidden_id.clone()], "markdown");
    assert!(search(&member, ws, "quokkafile").await.is_empty(), "a non-member of the channel finds nothing");
    assert_eq!(search(&member, ws, "wombatcsv").await, vec![shared_id.clone()], "CSV");
    assert_eq!(search(&owner, ws, "narwhalcode").await, vec![source.message.id.to_string()], "source code");
    assert_eq!(search(&member, ws, "\"chose the quokkafile\"").await, Vec::<String>::new());
    assert_eq!(search(&owner, ws, "\"chose the quokkafile\"").await, vec![hidden_id.clone()], "phrases");
    for word in ["platypusbinary", "echidnabroken", "dingolarge"] {
        assert!(search(&owner, ws, word).await.is_empty(), "{word} is not indexed");
    }
    assert_eq!(search(&owner, ws, "dingolog").await, vec![large.message.id.to_string()]);

    // Once the member joins the channel, they find it too.
    owner.add_member(secret, member_s.user.id).await.unwrap();
    assert_eq!(search(&member, ws, "quokkafile").await, vec![hidden_id]);

    // Deleting the file takes its text out of the index; its message stays, found by its text.
    let answer = file_route(&owner, reqwest::Method::DELETE, format!("/files/{}", shared.file.id)).await;
    assert_eq!(answer.0, 204);
    let marker = owner.post(general, "zebramarker again").await.unwrap().id.to_string();
    wait_until_indexed(&owner, ws, "again", marker).await;
    assert!(search(&owner, ws, "wombatcsv").await.is_empty(), "the deleted file's text is gone");
    assert_eq!(search(&owner, ws, "list").await, vec![shared_id]);
}

/// A file sent as the whole body (`curl --data-binary @file "…/files?name=…"`), with
/// its name and text in the query: posted and downloaded like a multipart one; no
/// name, or a name in the query of a multipart upload, is a clear error; past
/// `files.max_bytes` it is refused as it arrives.
async fn a_raw_body_upload_is_named_in_the_query() {
    let server = TestServer::start_with(&[("CONFAB_FILES_MAX_BYTES", "100000")]);
    let (owner, _) = server.user("owner").await;
    let (_, general) = confab_tests::workspace(&owner, "W").await;
    let http = reqwest::Client::new();
    let url = |query: &str| format!("{}/api/v1/channels/{general}/files{query}", server.url);
    let token = owner.token().unwrap().to_string();
    let content: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_be_bytes()).collect();
    let response = http
        .post(url("?name=..%2Fdata.bin&text=raw%20numbers"))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let posted: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (posted["file"]["name"].as_str(), posted["message"]["text"].as_str()),
        (Some("data.bin"), Some("raw numbers"))
    );
    let id = posted["file"]["id"].as_str().unwrap().parse().unwrap();
    let (_, bytes) = owner.download(id, false).await.unwrap();
    assert!(bytes == content, "downloaded bytes differ");

    let unnamed = http.post(url("")).bearer_auth(&token).body(b"x".to_vec()).send().await.unwrap();
    assert_eq!(unnamed.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = unnamed.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["message"].as_str().map(|m| m.starts_with("name:"))),
        (Some("invalid_field"), Some(true)),
        "{body}"
    );

    let too_big =
        http.post(url("?name=big.bin")).bearer_auth(&token).body(vec![7u8; 150_000]).send().await.unwrap();
    assert_eq!(too_big.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);

    let form =
        "--b\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n";
    let mixed = http
        .post(url("?name=b.txt"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), reqwest::StatusCode::BAD_REQUEST);
}

/// `?thread_root=` makes an upload a reply in that thread: the reply carries the file,
/// the root counts it, and its channel's readers get it. A root in another channel,
/// or one that does not exist, is refused and leaves no file behind.
async fn a_file_can_be_a_thread_reply() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let random = owner.create_channel(ws, "random", false).await.unwrap().id;
    let root = owner.post(general, "the plan, for comments").await.unwrap();
    let posted =
        owner.upload_to(general, Some(root.id), "comments.txt", b"looks good", "my notes").await.unwrap();
    assert_eq!(posted.message.thread_root, Some(root.id));
    assert_eq!(posted.message.files, vec![posted.file.id]);

    let thread = owner.thread(root.id).await.unwrap();
    assert_eq!(thread.root.reply_count, 1);
    assert_eq!(thread.replies.len(), 1);
    assert_eq!(thread.replies[0].files, vec![posted.file.id]);
    let (_, bytes) = owner.download(posted.file.id, false).await.unwrap();
    assert_eq!(bytes, b"looks good");

    // A reply to a reply lands in the root's thread, as for any post.
    let nested =
        owner.upload_to(general, Some(posted.message.id), "more.txt", b"one more", "").await.unwrap();
    assert_eq!(nested.message.thread_root, Some(root.id));

    let before = stored_contents(&server, ws).len();
    let elsewhere = owner.upload_to(random, Some(root.id), "stray.txt", b"stray bytes", "").await;
    assert_eq!(code(elsewhere), (400, ErrorCode::InvalidField), "a root in another channel");
    let path = format!("/channels/{general}/files?name=x.txt&thread_root=not-an-id");
    let (status, answer) = owner.raw(reqwest::Method::POST, &path, Some("bytes")).await.unwrap();
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(stored_contents(&server, ws).len(), before, "a refused upload leaves no content");
    assert!(staging_is_empty(&server), "nor a staging file");
    assert_eq!(owner.thread(root.id).await.unwrap().replies.len(), 2);
}

/// Several `file` parts make one message with every file, in order; identical content
/// twice is stored once; past `files.max_files_per_message` the upload is refused and
/// stores nothing; the quota counts the message's files together.
async fn one_message_carries_several_files() {
    let server = TestServer::start_with(&[
        ("CONFAB_FILES_MAX_FILES_PER_MESSAGE", "3"),
        ("CONFAB_FILES_WORKSPACE_QUOTA_BYTES", "600"),
    ]);
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    let mut live = member.connect(&[]).await.unwrap();

    let files: [(&str, &[u8]); 3] = [("a.txt", b"alpha"), ("b.png", PNG), ("again.txt", b"alpha")];
    let posted = owner.upload_files(general, None, &files, "three at once").await.unwrap();
    let names: Vec<&str> = posted.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.txt", "b.png", "again.txt"]);
    assert_eq!(posted.file, posted.files[0]);
    let ids: Vec<FileId> = posted.files.iter().map(|f| f.id).collect();
    assert_eq!(posted.message.files, ids);
    assert_eq!(posted.message.text, "three at once");
    assert_eq!(stored_contents(&server, ws).len(), 2, "identical content is stored once");
    for (file, (_, content)) in posted.files.iter().zip(files) {
        assert_eq!(member.download(file.id, false).await.unwrap().1, content);
    }
    owner.download(posted.files[1].id, true).await.expect("the image has its thumbnail");
    let (_, event) = live.wait_event(WAIT, "message.created").await.unwrap();
    let Event::MessageCreated { message } = event else { unreachable!() };
    assert_eq!((message.id, &message.files), (posted.message.id, &ids), "one message with every file");

    // One file too many: refused, nothing stored.
    let four: [(&str, &[u8]); 4] = [("1", b"one"), ("2", b"two"), ("3", b"three"), ("4", b"four")];
    let refused = owner.upload_files(general, None, &four, "").await;
    assert_eq!(code(refused), (400, ErrorCode::InvalidField));
    // Over the quota together (each alone would fit): refused, nothing stored.
    let big: [(&str, &[u8]); 2] = [("x", &[b'x'; 400]), ("y", &[b'y'; 400])];
    let refused = owner.upload_files(general, None, &big, "").await;
    assert_eq!(code(refused).1, ErrorCode::QuotaExceeded);
    assert_eq!(stored_contents(&server, ws).len(), 2, "a refused upload stores nothing");
    assert!(staging_is_empty(&server));
    let history = owner.history(general, None, None, 10).await.unwrap();
    assert_eq!(history.len(), 1, "refused uploads post nothing");
}

/// An upload larger than a cluster's bus carries (`cluster.forward_max_bytes`, 1 MiB),
/// sent through a node that does not sequence its workspace, is received there and
/// only its record goes to the holder: it is downloaded byte for byte through every
/// node, and the size limit and the quota answer through that node as on one node
/// (the quota checked by the holder against what every node stored), leaving
/// nothing staged or handed off. On one node, the same through the only node.
async fn a_large_upload_works_through_any_node() {
    const MIB: usize = 1 << 20;
    let server = TestServer::start_with(&[
        ("CONFAB_FILES_MAX_BYTES", &(4 * MIB).to_string()),
        ("CONFAB_FILES_WORKSPACE_QUOTA_BYTES", &(8 * MIB).to_string()),
    ]);
    let urls = server.node_urls();
    let (owner, _) = server.user("owner").await;
    // Created through the first node, which takes the workspace's lease.
    let owner = confab_client::Client::new(urls[0]).with_token(owner.token().unwrap());
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let (bob, _) = server.user("bob").await;
    confab_tests::join(&owner, ws, &bob).await;
    // The last node: with several, not the one that sequences the workspace.
    let far = confab_client::Client::new(urls[urls.len() - 1]).with_token(bob.token().unwrap());
    let content = |seed: u32, len: usize| -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
    };

    let big = content(1, 3 * MIB);
    let posted =
        far.upload(general, "big.bin", &big, "three MiB").await.expect("uploaded through the far node");
    assert_eq!((posted.file.size, posted.file.name.as_str()), (big.len() as u64, "big.bin"));
    assert_eq!(posted.message.files, vec![posted.file.id]);
    assert_eq!(posted.message.text, "three MiB");
    for (i, url) in urls.iter().enumerate() {
        let reader = confab_client::Client::new(url).with_token(owner.token().unwrap());
        let (_, got) =
            reader.download(posted.file.id, false).await.unwrap_or_else(|e| panic!("node {i}: {e}"));
        assert!(got == big, "byte for byte through node {i}");
    }

    // Past files.max_bytes: refused as it arrives, by the node that receives it.
    let too_big = far.upload(general, "too-big.bin", &content(2, 4 * MIB + 1), "").await;
    assert_eq!(code(too_big), (413, ErrorCode::PayloadTooLarge));
    // 3 MiB more fits the 8 MiB quota; 3 MiB more again would not (9 MiB): the
    // receiving node saw room left when it began, the holder refuses it at the end.
    far.upload(general, "second.bin", &content(3, 3 * MIB), "").await.expect("6 of 8 MiB");
    let over = far.upload(general, "third.bin", &content(4, 3 * MIB), "").await;
    assert_eq!(code(over), (403, ErrorCode::QuotaExceeded));
    // The same content again is stored and counted once, as on one node.
    let again = far.upload(general, "again.bin", &big, "").await.expect("known content fits");
    let (_, got) = owner.download(again.file.id, false).await.unwrap();
    assert!(got == big);
    assert!(staging_is_empty(&server), "nothing stays staged");
    assert!(handoffs_are_empty(&server), "nothing stays handed off");
}
