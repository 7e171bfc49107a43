//! Change capture for the frozen check: which chunks were written since the live
//! check, read from the WAL rather than by scanning every table while frozen.
//!
//! [`Capture::open`] creates a **temporary** logical replication slot (plugin
//! `test_decoding`, shipped with PostgreSQL) in its own session, before the live
//! check's snapshot is taken: every transaction committed before the slot's
//! consistent point is visible to that snapshot, every one committed after it is
//! decoded. Frozen, [`Capture::touched`] decodes them (in batches, so that memory
//! stays bounded) and keeps, per table, the key-range chunks of the rows inserted,
//! updated (old and new key) or deleted; a truncation, a row without its key, or a
//! line it cannot read touches the whole table. At the destination only changes
//! without a replication origin are kept (`only-local`): those the subscription
//! applied are the source's, captured there; what is left is written by hand.
//!
//! The slot lives as long as its session: a crash of ferry or a lost connection
//! drops it with the session, so nothing holds the server's WAL afterwards. Where
//! a slot cannot be had (`wal_level` not `logical` at the destination, no free
//! slot, no right to, a long transaction delaying its creation past
//! [`CREATE_TIMEOUT`]) the frozen check scans that side instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio_postgres::Client;
use uuid::Uuid;

use super::{close, connect, query_error};
use crate::databases::DbError;
use crate::databases::chunks::{Touched, touch};
use crate::databases::endpoint::Endpoint;

/// How long a slot's creation may wait for the transactions running then to end.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Changes decoded per batch.
const BATCH: i32 = 20_000;

/// Which changes a capture keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Every change (the source).
    All,
    /// Only those without a replication origin (the destination: not the
    /// subscription's).
    Local,
}

/// An open capture: the session holding its temporary slot.
pub struct Capture {
    endpoint: Endpoint,
    client: Client,
    task: tokio::task::JoinHandle<()>,
    slot: String,
    origin: Origin,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("slot", &self.slot)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Creates the slot in `database` at `url`.
    pub async fn open(url: &str, database: &str, origin: Origin) -> Result<Capture, DbError> {
        let (endpoint, config) = Endpoint::postgres(url)?;
        let (client, task) = connect(&endpoint, &config, Some(database)).await?;
        let slot = format!("ferry_check_{}", Uuid::now_v7().simple());
        let created = client
            .batch_execute(&format!(
                "SET statement_timeout = {}",
                CREATE_TIMEOUT.as_millis()
            ))
            .await;
        let created = match created {
            Ok(()) => {
                client
                    .query_one(
                        "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'test_decoding', true)",
                        &[&slot],
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let reset = client.batch_execute("SET statement_timeout = 0").await;
        match created.and(reset) {
            Ok(()) => Ok(Capture {
                endpoint,
                client,
                task,
                slot,
                origin,
            }),
            Err(e) => {
                close(client, task).await;
                Err(query_error(&endpoint, "creating a change capture slot", &e))
            }
        }
    }

    /// Every change since the slot was created, as the chunks it touched of the
    /// tables in `keys` (`schema.table` → its integer key column, if it has one).
    pub async fn touched(
        &self,
        keys: &BTreeMap<String, Option<String>>,
    ) -> Result<Touched, DbError> {
        let only_local = if self.origin == Origin::Local {
            "1"
        } else {
            "0"
        };
        let mut touched = Touched::new();
        loop {
            let rows = self
                .client
                .query(
                    "SELECT data FROM pg_logical_slot_get_changes($1, NULL, $2,
                        'include-xids', '0', 'skip-empty-xacts', '1', 'only-local', $3)",
                    &[&self.slot, &BATCH, &only_local],
                )
                .await
                .map_err(|e| query_error(&self.endpoint, "decoding the captured changes", &e))?;
            if rows.is_empty() {
                return Ok(touched);
            }
            for row in &rows {
                let line: &str = row.get(0);
                if let Some(change) = parse(line, keys) {
                    touch(&mut touched, change);
                }
            }
        }
    }

    /// Ends the session, dropping the slot.
    pub async fn close(self) {
        close(self.client, self.task).await;
    }
}

/// What one line of `test_decoding` output touched (`None`: not a table's change).
fn parse(line: &str, keys: &BTreeMap<String, Option<String>>) -> Option<Touched> {
    let rest = line.strip_prefix("table ")?;
    let mut cursor = Cursor(rest);
    let mut tables = Vec::new();
    loop {
        let Some(name) = cursor.qualified_name() else {
            // Unreadable: every table may have been written.
            return Some(keys.keys().map(|t| (t.clone(), None)).collect());
        };
        tables.push(name);
        if !cursor.eat(", ") {
            break;
        }
    }
    let whole = |tables: Vec<String>| Some(tables.into_iter().map(|t| (t, None)).collect());
    if !cursor.eat(": ") {
        return whole(tables);
    }
    let action = cursor.word();
    let [table] = tables.as_slice() else {
        return whole(tables);
    };
    let key = match (action, keys.get(table)) {
        ("INSERT:" | "UPDATE:" | "DELETE:", Some(Some(key))) => key,
        _ => return whole(tables),
    };
    match cursor.keys_of(key) {
        Some(values) if !values.is_empty() => {
            let chunks: BTreeSet<i64> = values
                .into_iter()
                .map(|v| v >> super::chunks::CHUNK_BITS)
                .collect();
            Some([(table.clone(), Some(chunks))].into())
        }
        _ => whole(tables),
    }
}

/// A position in a line of `test_decoding` output.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn eat(&mut self, text: &str) -> bool {
        match self.0.strip_prefix(text) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Up to the next space.
    fn word(&mut self) -> &'a str {
        let end = self.0.find(' ').unwrap_or(self.0.len());
        let (word, rest) = self.0.split_at(end);
        self.0 = rest.strip_prefix(' ').unwrap_or(rest);
        word
    }

    /// An identifier as `quote_identifier` prints it: bare, or in double quotes with
    /// inner ones doubled.
    fn identifier(&mut self) -> Option<String> {
        if let Some(rest) = self.0.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = rest.char_indices();
            while let Some((i, c)) = chars.next() {
                if c != '"' {
                    name.push(c);
                } else if rest[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    self.0 = &rest[i + 1..];
                    return Some(name);
                }
            }
            return None;
        }
        let end = self
            .0
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(self.0.len());
        if end == 0 {
            return None;
        }
        let (name, rest) = self.0.split_at(end);
        self.0 = rest;
        Some(name.to_owned())
    }

    /// `schema.table`, unquoted.
    fn qualified_name(&mut self) -> Option<String> {
        let schema = self.identifier()?;
        if !self.eat(".") {
            return None;
        }
        Some(format!("{schema}.{}", self.identifier()?))
    }

    /// The values of column `key` in the tuples that follow (old key and new tuple
    /// of an update); `None` if a tuple is missing or unreadable.
    fn keys_of(&mut self, key: &str) -> Option<Vec<i64>> {
        let mut values = Vec::new();
        loop {
            self.0 = self.0.trim_start_matches(' ');
            if self.0.is_empty() {
                return Some(values);
            }
            if self.eat("old-key:") || self.eat("new-tuple:") {
                continue;
            }
            if self.0.starts_with("(no-tuple-data)") {
                return None;
            }
            let column = self.identifier()?;
            // `[type]:`, the type possibly an array (`integer[]`).
            let end = self.0.strip_prefix('[')?.find("]:")?;
            self.0 = &self.0[end + 3..];
            let value = self.value()?;
            if column == key {
                values.push(value.parse().ok()?);
            }
        }
    }

    /// A printed value: quoted (`'…'`, `B'…'`, inner quotes doubled) or bare.
    fn value(&mut self) -> Option<&'a str> {
        let text = self.0;
        let quoted = text
            .strip_prefix('\'')
            .map(|_| 1)
            .or_else(|| text.strip_prefix("B'").map(|_| 2));
        let Some(open) = quoted else {
            let end = text.find(' ').unwrap_or(text.len());
            self.0 = &text[end..];
            return Some(&text[..end]);
        };
        let mut i = open;
        loop {
            let next = text[i..].find('\'')? + i;
            if text[next + 1..].starts_with('\'') {
                i = next + 2;
            } else {
                self.0 = &text[next + 1..];
                return Some(&text[..=next]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> BTreeMap<String, Option<String>> {
        [
            ("public.items".to_owned(), Some("id".to_owned())),
            (
                "Shop Schema.Order \"Lines\"".to_owned(),
                Some("Line No".to_owned()),
            ),
            ("public.notes".to_owned(), None),
        ]
        .into()
    }

    fn chunks(table: &str, values: &[i64]) -> Touched {
        [(table.to_owned(), Some(values.iter().copied().collect()))].into()
    }

    #[test]
    fn an_insert_touches_its_keys_chunk() {
        let line = "table public.items: INSERT: id[bigint]:40000 payload[text]:'it''s id[bigint]:1 ' n[integer]:0";
        assert_eq!(parse(line, &keys()), Some(chunks("public.items", &[2])));
    }

    #[test]
    fn an_update_that_moves_a_row_touches_both_keys_chunks() {
        let line = "table public.items: UPDATE: old-key: id[bigint]:5 new-tuple: id[bigint]:-16385 payload[text]:null n[integer]:1";
        assert_eq!(parse(line, &keys()), Some(chunks("public.items", &[0, -2])));
    }

    #[test]
    fn quoted_names_and_array_types_are_read() {
        let line =
            "table \"Shop Schema\".\"Order \"\"Lines\"\"\": DELETE: \"Line No\"[integer]:16384";
        assert_eq!(
            parse(line, &keys()),
            Some(chunks("Shop Schema.Order \"Lines\"", &[1]))
        );
        let line = "table public.items: INSERT: tags[text[]]:'{a,b}' flags[bit varying]:B'101' id[bigint]:3";
        assert_eq!(parse(line, &keys()), Some(chunks("public.items", &[0])));
    }

    #[test]
    fn what_names_no_key_touches_the_whole_table() {
        let whole = |t: &str| Some([(t.to_owned(), None)].into());
        for (line, table) in [
            (
                "table public.items: DELETE: (no-tuple-data)",
                "public.items",
            ),
            ("table public.items: TRUNCATE: (no-flags)", "public.items"),
            ("table public.items: INSERT: n[integer]:1", "public.items"),
            ("table public.items: INSERT: id[bigint]:'x'", "public.items"),
            ("table public.notes: INSERT: body[text]:'x'", "public.notes"),
            ("table public.new: INSERT: id[bigint]:1", "public.new"),
        ] {
            assert_eq!(parse(line, &keys()), whole(table), "{line}");
        }
        let line = "table public.items, public.notes: TRUNCATE: cascade";
        assert_eq!(
            parse(line, &keys()),
            Some(
                [
                    ("public.items".to_owned(), None),
                    ("public.notes".to_owned(), None)
                ]
                .into()
            )
        );
    }

    #[test]
    fn transaction_lines_touch_nothing_and_an_unreadable_one_everything() {
        assert_eq!(parse("BEGIN", &keys()), None);
        assert_eq!(parse("COMMIT", &keys()), None);
        let all = parse("table ???: INSERT:", &keys()).expect("a change");
        assert_eq!(all.len(), 3);
        assert!(all.values().all(Option::is_none));
    }
}
