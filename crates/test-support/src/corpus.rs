//! The real chat corpus (`corpus/`): its conversations, in the shape the simulator and
//! the demo replay.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use confab_core::{Error, ErrorCode, Millis};
use serde::Deserialize;

/// One corpus message.
#[derive(Clone, Debug)]
pub struct CorpusMessage {
    pub text: Arc<str>,
    pub at: Millis,
    pub sender: Arc<str>,
}

/// One corpus conversation, messages in order.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: String,
    pub messages: Vec<CorpusMessage>,
}

#[derive(Deserialize)]
struct RawConversation {
    messages: Vec<Vec<RawMessage>>,
}

#[derive(Deserialize)]
struct RawMessage {
    text: String,
    timestamp: String,
    sender: String,
}

/// Reads `chitchat-dataset.json.gz` (see `corpus/README.md` for its shape).
pub fn load_corpus(path: &Path) -> Result<Vec<Conversation>, Error> {
    let io = |e: std::io::Error| Error::new(ErrorCode::InvalidRequest, format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut json).map_err(io)?;
    parse_corpus(&json)
}

/// Parses the corpus JSON (already decompressed). Conversations come sorted by id.
pub fn parse_corpus(json: &[u8]) -> Result<Vec<Conversation>, Error> {
    let raw: BTreeMap<String, RawConversation> = serde_json::from_slice(json)
        .map_err(|e| Error::new(ErrorCode::InvalidRequest, format!("corpus: {e}")))?;
    let mut senders: HashMap<String, Arc<str>> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (id, conversation) in raw {
        let mut messages = Vec::new();
        for m in conversation.messages.into_iter().flatten() {
            let Some(at) = parse_timestamp(&m.timestamp) else {
                continue;
            };
            let sender = senders.entry(m.sender.clone()).or_insert_with(|| m.sender.as_str().into()).clone();
            messages.push(CorpusMessage { text: m.text.into(), at, sender });
        }
        if !messages.is_empty() {
            out.push(Conversation { id, messages });
        }
    }
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC) to milliseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_utc() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2018-05-02T19:38:15Z"), Some(1_525_289_895_000));
        assert_eq!(parse_timestamp("2018-13-02T19:38:15Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
