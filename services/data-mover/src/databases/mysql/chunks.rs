//! MySQL/MariaDB table checksums as sums of row hashes, per key-range chunk.
//!
//! A row's hash is the MD5 of its columns (each as its bytes, `CAST(… AS BINARY)`,
//! NULL told apart from any value), taken as two 64-bit halves; a table's checksum
//! is the sum of its rows' halves and its row count. Being a sum, it is the sum of
//! its chunks': rows grouped by their single-column integer primary key
//! (`FLOOR(key / 16384)`; a table without one is a single chunk). So a binary-log
//! copy hashed live needs, frozen, to hash again only the chunks its last row
//! events touched ([`crate::databases::mysql_binlog`]), and its check is exactly
//! the one a full [`super::checksum`] computes.
//!
//! Unlike `CHECKSUM TABLE` (a 32-bit sum of CRCs), it does not depend on the
//! storage engine's row format, and it can be restricted to a key range.

use tokio_util::sync::CancellationToken;

use super::client::{Client, ident};
use crate::databases::DbError;
pub(crate) use crate::databases::chunks::Chunks;
use crate::databases::chunks::{Sums, parse_sum, total};
use crate::databases::verify::TableCheck;

/// Key values per chunk.
pub(crate) const CHUNK_KEYS: i128 = 16_384;

/// A table as the checks hash it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// Its name in the schema.
    pub(crate) name: String,
    /// Its integer primary key column and that column's position (1-based, as the
    /// binary log numbers columns), if it has a single-column one.
    pub(crate) key: Option<(String, usize)>,
    /// Every column, in order.
    columns: Vec<String>,
}

/// The chunk of a key value.
pub(crate) fn chunk_of(key: i128) -> i64 {
    i64::try_from(key.div_euclid(CHUNK_KEYS)).unwrap_or(i64::MAX)
}

/// A table's columns and key.
pub(crate) async fn describe(
    client: &mut Client,
    database: &str,
    table: &str,
    cancel: &CancellationToken,
) -> Result<Table, DbError> {
    let columns: Vec<(String, u64)> = client
        .rows(
            "SELECT COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (database, table),
            cancel,
        )
        .await?;
    let keys: Vec<(String, String)> = client
        .rows(
            "SELECT k.COLUMN_NAME, c.DATA_TYPE FROM information_schema.KEY_COLUMN_USAGE k
               JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA
                AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME
              WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.CONSTRAINT_NAME = 'PRIMARY'",
            (database, table),
            cancel,
        )
        .await?;
    let integer = ["tinyint", "smallint", "mediumint", "int", "bigint"];
    let key = match keys.as_slice() {
        [(column, kind)] if integer.contains(&kind.to_ascii_lowercase().as_str()) => columns
            .iter()
            .find(|(name, _)| name == column)
            .and_then(|(name, at)| Some((name.clone(), usize::try_from(*at).ok()?))),
        _ => None,
    };
    Ok(Table {
        name: table.to_owned(),
        key,
        columns: columns.into_iter().map(|(name, _)| name).collect(),
    })
}

/// Hashes `table`'s chunks in `database`: all of them, or only `chunk`.
pub(crate) async fn hash(
    client: &mut Client,
    database: &str,
    table: &Table,
    chunk: Option<i64>,
    cancel: &CancellationToken,
) -> Result<Chunks, DbError> {
    let row = if table.columns.is_empty() {
        "''".to_owned()
    } else {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("IFNULL(CONCAT('v', CAST({} AS BINARY)), 'n')", ident(c)))
            .collect();
        format!("CONCAT_WS(0x1f, {})", columns.join(", "))
    };
    let number = match &table.key {
        Some((key, _)) => format!("FLOOR({} / {CHUNK_KEYS})", ident(key)),
        None => "0".to_owned(),
    };
    let only = match (chunk, &table.key) {
        (Some(c), Some((key, _))) => {
            let lo = i128::from(c) * CHUNK_KEYS;
            format!(
                "WHERE {k} >= {lo} AND {k} < {hi}",
                k = ident(key),
                hi = lo + CHUNK_KEYS
            )
        }
        _ => String::new(),
    };
    let sql = format!(
        "SELECT CAST(c AS SIGNED), COUNT(*),
                CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(h, 1, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR),
                CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(h, 17, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR)
           FROM (SELECT {number} AS c, MD5({row}) AS h FROM {}.{} {only}) q
          GROUP BY c",
        ident(database),
        ident(&table.name)
    );
    let rows: Vec<(i64, u64, String, String)> = client.rows(&sql, (), cancel).await?;
    let parse = |text: &str| parse_sum(text, &table.name, String::new());
    let mut chunks = Chunks::new();
    for (c, count, a, b) in rows {
        chunks.insert(
            c,
            Sums {
                rows: count,
                a: parse(&a)?,
                b: parse(&b)?,
            },
        );
    }
    Ok(chunks)
}

/// The table's check from its chunks.
pub(crate) fn table_check(table: &Table, chunks: &Chunks) -> TableCheck {
    let total = total(chunks);
    TableCheck {
        table: table.name.clone(),
        rows: total.rows,
        checksum: format!("m:{}:{}", total.a, total.b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_floored_key_ranges() {
        assert_eq!(chunk_of(0), 0);
        assert_eq!(chunk_of(16_383), 0);
        assert_eq!(chunk_of(16_384), 1);
        assert_eq!(chunk_of(-1), -1);
        assert_eq!(chunk_of(i128::from(u64::MAX)), (u64::MAX >> 14) as i64);
    }

    #[test]
    fn a_tables_check_sums_its_chunks() {
        let table = Table {
            name: "orders".into(),
            key: None,
            columns: vec!["id".into()],
        };
        let chunks: Chunks = [
            (
                0,
                Sums {
                    rows: 2,
                    a: 5,
                    b: 7,
                },
            ),
            (
                3,
                Sums {
                    rows: 1,
                    a: 1,
                    b: 1,
                },
            ),
        ]
        .into();
        let check = table_check(&table, &chunks);
        assert_eq!((check.rows, check.checksum.as_str()), (3, "m:6:8"));
        assert_eq!(table_check(&table, &Chunks::new()).checksum, "m:0:0");
    }
}
