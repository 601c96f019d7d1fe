//! How values cross into PostgreSQL and back: records as `jsonb` holding the JSON of
//! core's serde types, ids as their ULID text, `seq`s and limits as `bigint`.

use std::error::Error;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};
use confab_store::{Result, StoreError};
use postgres::Row;
use postgres::types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version byte that starts jsonb's binary form (its text follows).
const JSONB_VERSION: u8 = 1;

/// A record encoded as JSON, sent as a `jsonb` parameter without going through
/// `serde_json::Value`.
#[derive(Debug)]
pub struct Jsonb(Vec<u8>);

impl Jsonb {
    pub fn encode<T: Serialize>(value: &T) -> Result<Jsonb> {
        serde_json::to_vec(value).map(Jsonb).map_err(StoreError::Encode)
    }
}

impl ToSql for Jsonb {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.put_u8(JSONB_VERSION);
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    accepts!(JSONB);
    to_sql_checked!();
}

/// A `jsonb` column's JSON text, borrowed from the row, decoded by [`decode`] so that
/// a bad record is reported as [`StoreError::Corrupt`] with where it was found.
pub struct JsonbText<'a>(&'a [u8]);

impl<'a> FromSql<'a> for JsonbText<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        match raw.split_first() {
            Some((&JSONB_VERSION, text)) => Ok(JsonbText(text)),
            _ => Err("unknown jsonb version".into()),
        }
    }

    accepts!(JSONB);
}

/// Column `column` of `row`, which is not null.
pub fn get<'a, T: FromSql<'a>>(row: &'a Row, column: usize) -> Result<T> {
    row.try_get(column).map_err(backend)
}

/// Decodes the record in column `column` of `row`; `what` says where it came from.
pub fn decode<T: DeserializeOwned>(row: &Row, column: usize, what: &dyn Fn() -> String) -> Result<T> {
    let JsonbText(text) = get(row, column)?;
    serde_json::from_slice(text).map_err(|source| StoreError::Corrupt { key: what(), source })
}

/// An id read back from its text column.
pub fn id<T: FromStr>(row: &Row, column: usize) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: &str = get(row, column)?;
    text.parse().map_err(|e: T::Err| backend_message(format!("a stored id {text:?} does not parse: {e}")))
}

/// A `bigint` column holding a `seq`, `event_seq` or read marker (never negative).
pub fn seq(row: &Row, column: usize) -> Result<u64> {
    let value: i64 = get(row, column)?;
    u64::try_from(value)
        .map_err(|_| backend_message(format!("a stored sequence number is negative: {value}")))
}

/// A sequence number to be stored: PostgreSQL's `bigint` holds up to `i64::MAX`.
pub fn seq_param(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| backend_message(format!("sequence number {seq} is past bigint's range")))
}

/// A lower bound on sequence numbers for a range read (`seq > after`), or `None` when
/// nothing can be after it.
pub fn after_param(after: u64) -> Option<i64> {
    i64::try_from(after).ok().filter(|&after| after < i64::MAX)
}

/// A row limit: anything past `bigint` is no limit.
pub fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A failure PostgreSQL reported (or the connection to it).
pub fn backend(error: postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(error))
}

pub fn backend_message(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

/// The refusal for a unique key taken, named by the constraint PostgreSQL reports, or
/// `None` if the error is not a unique violation.
pub fn taken(error: &postgres::Error) -> Option<StoreError> {
    let db = error.as_db_error()?;
    if *db.code() != postgres::error::SqlState::UNIQUE_VIOLATION {
        return None;
    }
    let what = match db.constraint() {
        Some("users_email_key") => "email",
        Some("users_username_key") => "username",
        Some("channels_name_key") => "channel name",
        Some("messages_id_key") => "message id",
        Some("messages_client_id_key") => "client message id",
        Some("events_pkey") => "event seq",
        Some("blobs_pkey") => "consent ledger entry",
        _ => "unique key",
    };
    Some(StoreError::Taken(what))
}
