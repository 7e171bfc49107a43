//! What the engines' chunked checks share ([`super::postgres::live_check`],
//! [`super::mysql_binlog`]'s live check): a table's checksum is a sum of row hashes,
//! so it is the sum of its key-range chunks' sums; a chunk hashed live stands while
//! frozen unless it is stale, and the stale ones are hashed again, each by its key
//! range or, when they are many, the whole table at once.

use std::collections::{BTreeMap, BTreeSet};

use super::DbError;

/// Above this share of a table's chunks to hash again, one scan of the whole table
/// costs less than a range query per chunk.
const WHOLE_TABLE_SHARE: usize = 4;

/// One chunk's row count and hash sums (two halves where the engine hashes 128 bits,
/// `b` 0 where it hashes 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sums {
    pub(crate) rows: u64,
    pub(crate) a: i128,
    pub(crate) b: i128,
}

/// A table's chunks, by number.
pub(crate) type Chunks = BTreeMap<i64, Sums>;

/// What changed since a live check, per table (`schema.table` or the table's name):
/// the key-range chunks of the rows written (`None`: the whole table, its key unknown
/// or a row's key unread). A table absent was not written.
pub(crate) type Touched = BTreeMap<String, Option<BTreeSet<i64>>>;

/// Adds `more` to `touched`.
pub(crate) fn touch(touched: &mut Touched, more: Touched) {
    for (table, chunks) in more {
        let entry = touched
            .entry(table)
            .or_insert_with(|| Some(BTreeSet::new()));
        match (entry.as_mut(), chunks) {
            (Some(known), Some(more)) => known.extend(more),
            _ => *entry = None,
        }
    }
}

/// The sums of a whole table.
pub(crate) fn total(chunks: &Chunks) -> Sums {
    chunks.values().fold(Sums::default(), |t, s| Sums {
        rows: t.rows + s.rows,
        a: t.a + s.a,
        b: t.b + s.b,
    })
}

/// Parses a sum the server printed (an integer of any size up to 2^127).
pub(crate) fn parse_sum(text: &str, table: &str, endpoint: String) -> Result<i128, DbError> {
    text.parse::<i128>().map_err(|e| DbError::Query {
        endpoint,
        context: format!("checksum of {table}"),
        reason: format!("a sum that is not an integer ({text:?}): {e}"),
    })
}

/// How to hash a table's stale chunks again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rehash {
    /// None is stale.
    Nothing,
    /// Hash the whole table once and keep the stale chunks: they are many, or the
    /// table has no key (a single chunk).
    WholeTable,
    /// Hash each by its key range.
    Ranges,
}

/// How to hash `stale` chunks again of a table of `chunks` chunks; `keyed`: it has a
/// key (chunks are key ranges).
pub(crate) fn rehash(stale: &BTreeSet<i64>, chunks: usize, keyed: bool) -> Rehash {
    if stale.is_empty() {
        Rehash::Nothing
    } else if !keyed || stale.len() * WHOLE_TABLE_SHARE > chunks.max(1) {
        Rehash::WholeTable
    } else {
        Rehash::Ranges
    }
}

/// One side's chunks now: the live ones that are not stale, and those hashed again
/// (a stale chunk that is gone is in neither).
pub(crate) fn merged(live: &Chunks, stale: &BTreeSet<i64>, fresh: Chunks) -> Chunks {
    let mut chunks: Chunks = live
        .iter()
        .filter(|(k, _)| !stale.contains(k))
        .map(|(k, s)| (*k, *s))
        .collect();
    chunks.extend(fresh);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(rows: u64, a: i128) -> Sums {
        Sums { rows, a, b: 0 }
    }

    #[test]
    fn merged_chunks_keep_the_live_ones_that_stand_and_drop_the_vanished() {
        let live: Chunks = [(0, sums(10, 1)), (1, sums(10, 2)), (5, sums(1, 7))].into();
        let stale = [1, 5].into();
        let fresh: Chunks = [(1, sums(11, 4))].into();
        assert_eq!(
            merged(&live, &stale, fresh),
            [(0, sums(10, 1)), (1, sums(11, 4))].into()
        );
    }

    #[test]
    fn a_total_sums_every_chunk() {
        let chunks: Chunks = [
            (
                0,
                Sums {
                    rows: 2,
                    a: -5,
                    b: 7,
                },
            ),
            (
                1,
                Sums {
                    rows: 1,
                    a: 3,
                    b: 1,
                },
            ),
        ]
        .into();
        assert_eq!(
            total(&chunks),
            Sums {
                rows: 3,
                a: -2,
                b: 8
            }
        );
        assert_eq!(total(&Chunks::new()), Sums::default());
    }

    #[test]
    fn few_stale_chunks_are_hashed_by_range_many_by_the_whole_table() {
        assert_eq!(rehash(&BTreeSet::new(), 8, true), Rehash::Nothing);
        assert_eq!(rehash(&[3].into(), 8, true), Rehash::Ranges);
        assert_eq!(rehash(&[1, 2, 3].into(), 8, true), Rehash::WholeTable);
        assert_eq!(rehash(&[0].into(), 1, false), Rehash::WholeTable);
    }
}
