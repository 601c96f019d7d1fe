//! The bench's WebSocket client side: opening an authenticated connection to Confab or
//! to the baseline server, building `send` frames, and recognising the frames that
//! come back without a full JSON parse (so the client's own cost stays small and is
//! the same for both servers).
//!
//! Every message the bench sends has the text `m<ID>`, where `ID` indexes a shared
//! table of send instants ([`SentTimes`]). An ack or a delivery carries the text back,
//! so the receiver finds `"text":"m<ID>` in the frame and knows the latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/api/v1/ws` on `base`, sends `auth_frame`, and waits for the `hello`.
pub async fn connect(base: &str, auth_frame: String) -> anyhow::Result<Socket> {
    let url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
    // Small client buffers: the bench holds thousands of connections.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .context("websocket connect")?;
    socket.send(Message::text(auth_frame)).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .context("no hello within 30 s")?;
        match frame {
            Some(Ok(Message::Text(t))) if t.contains("\"hello\"") => return Ok(socket),
            Some(Ok(Message::Text(t))) => bail!("expected hello, got {t}"),
            Some(Ok(Message::Close(c))) => bail!("closed before hello: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed before hello"),
        }
    }
}

/// The `auth` frame for a Confab session token.
pub fn auth_frame(token: &str) -> String {
    serde_json::json!({ "type": "auth", "token": token }).to_string()
}

/// The `auth` frame for the baseline server; `room` connections receive broadcasts.
pub fn baseline_auth_frame(in_room: bool) -> String {
    if in_room { r#"{"type":"auth","room":"fan"}"#.into() } else { r#"{"type":"auth"}"#.into() }
}

/// A `send` frame whose text is the marker `m<id>`.
pub fn send_frame(channel: &str, id: u64) -> String {
    format!(r#"{{"type":"send","req":"{id}","channel":"{channel}","text":"m{id}"}}"#)
}

/// What a server frame is, as far as the bench cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// An `ack` (or, from the baseline, the echo to the sender).
    Ack,
    /// An `event` (or, from the baseline, a broadcast).
    Event,
    Error,
    Other,
}

/// Classifies a frame by its `type` without parsing it.
pub fn classify(frame: &str) -> Kind {
    if frame.starts_with(r#"{"type":"event""#) {
        Kind::Event
    } else if frame.contains(r#""type":"ack""#) {
        Kind::Ack
    } else if frame.contains(r#""type":"error""#) {
        Kind::Error
    } else {
        Kind::Other
    }
}

/// The `ID` of the first `"text":"m<ID>` in a frame.
pub fn marker(frame: &str) -> Option<u64> {
    const NEEDLE: &str = r#""text":"m"#;
    let at = frame.find(NEEDLE)? + NEEDLE.len();
    let digits = frame[at..].bytes().take_while(u8::is_ascii_digit).count();
    frame[at..at + digits].parse().ok()
}

/// Send instants of every message id, in nanoseconds since a shared origin; 0 means
/// "not sent".
pub struct SentTimes {
    origin: Instant,
    slots: Vec<AtomicU64>,
}

impl SentTimes {
    pub fn new(capacity: usize) -> Self {
        SentTimes { origin: Instant::now(), slots: (0..capacity).map(|_| AtomicU64::new(0)).collect() }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Records that message `id` is being sent now.
    pub fn mark(&self, id: u64) {
        if let Some(slot) = self.slots.get(id as usize) {
            slot.store(self.origin.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
        }
    }

    /// Microseconds since message `id` was sent, if it was.
    pub fn since_us(&self, id: u64) -> Option<u64> {
        let sent = self.slots.get(id as usize)?.load(Ordering::Relaxed);
        if sent == 0 {
            return None;
        }
        let now = self.origin.elapsed().as_nanos() as u64 + 1;
        Some(now.saturating_sub(sent) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers_and_kinds() {
        let ack = r#"{"message":{"id":"x","text":"m42","seq":1},"req":"42","type":"ack"}"#;
        assert_eq!(classify(ack), Kind::Ack);
        assert_eq!(marker(ack), Some(42));
        let event = r#"{"type":"event","workspace":"w","event_seq":3,"event":{"kind":"message.created","message":{"text":"m7"}}}"#;
        assert_eq!(classify(event), Kind::Event);
        assert_eq!(marker(event), Some(7));
        let baseline = format!(r#"{{"type":"event"}}{}"#, send_frame("c", 9));
        assert_eq!(classify(&baseline), Kind::Event);
        assert_eq!(marker(&baseline), Some(9));
        assert_eq!(marker(r#"{"type":"event","event":{"kind":"presence"}}"#), None);
    }
}
