//! The filters of `mariadb-binlog` output: the scan for schema changes, and what may
//! be applied to the staging schema.

use std::collections::{BTreeSet, HashMap};

use super::statements::{Piece, Splitter, Statement, classify, mentions};
use crate::databases::DbError;
use crate::databases::mysql::chunks::chunk_of;

/// What row events touched, per table.
pub(super) use crate::databases::chunks::Touched;

/// Finds, in `mariadb-binlog --short-form` output of the whole server (statements
/// only, no row events), a statement that changes `database` other than by row
/// events: DDL or a statement-logged write run in it (its `use`) or naming it. The
/// `--database` filter of the applying pass would miss those run from another default
/// database, and apply the others unrewritten.
pub(super) struct DdlScan {
    database: String,
    split: Splitter,
    current: Option<String>,
}

impl DdlScan {
    pub(super) fn new(database: &str) -> Self {
        Self {
            database: database.to_owned(),
            split: Splitter::new(),
            current: None,
        }
    }

    pub(super) fn line(&mut self, line: &[u8]) -> Result<(), DbError> {
        let Piece::Statement(_, body) = self.split.push(line) else {
            return Ok(());
        };
        match classify(&body) {
            Statement::Use(db) => self.current = Some(db),
            Statement::Other
                if self.current.as_deref() == Some(self.database.as_str())
                    || mentions(&body, &self.database) =>
            {
                let excerpt: String = body.chars().take(200).collect();
                return Err(DbError::CatchUpImpossible {
                    name: self.database.clone(),
                    reason: format!(
                        "the schema changed other than by row events (DDL or a statement-logged write): {excerpt}"
                    ),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Turns `mariadb-binlog` output into what may be applied to the staging schema: row
/// events of the staging schema only (checked on each table map), the tool's session
/// settings, transaction boundaries (empty transactions left out); anything else is
/// refused.
pub(super) struct BinlogFilter {
    database: String,
    staging: String,
    split: Splitter,
    /// The `START TRANSACTION` of a transaction with no row events yet.
    held_begin: Option<Vec<u8>>,
    in_transaction: bool,
    pub(super) row_bytes: u64,
    /// The stop position, when the range is within one binlog file: an event ending
    /// beyond it means the tool read too far (the next catch-up would apply it again).
    pub(super) stop: Option<u64>,
    /// Each table's key column position (1-based), to read the chunks that row
    /// images (`--verbose`) touch.
    keys: HashMap<String, usize>,
    /// The table of the row image being read.
    image_table: Option<String>,
    /// Tables named by a table map: each must show in `touched`.
    mapped: BTreeSet<String>,
    touched: Touched,
}

impl BinlogFilter {
    pub(super) fn new(database: &str, staging: &str) -> Self {
        Self {
            database: database.to_owned(),
            staging: staging.to_owned(),
            split: Splitter::new(),
            held_begin: None,
            in_transaction: false,
            row_bytes: 0,
            stop: None,
            keys: HashMap::new(),
            image_table: None,
            mapped: BTreeSet::new(),
            touched: Touched::new(),
        }
    }

    /// Reads the row images (`mariadb-binlog --verbose`) for the chunks they touch,
    /// with each table's key position.
    pub(super) fn tracking(mut self, keys: HashMap<String, usize>) -> Self {
        self.keys = keys;
        self
    }

    /// What the row events touched. A table mapped without a row image read is
    /// touched whole: nothing may go unseen.
    pub(super) fn touched(mut self) -> Touched {
        for table in std::mem::take(&mut self.mapped) {
            self.touched.entry(table).or_insert(None);
        }
        self.touched
    }

    /// A row image line (`### …`, comments of `--verbose`): the table of the image,
    /// or one of its column values, the key's giving a chunk. Their values are data:
    /// never read as event headers.
    fn row_image(&mut self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix("###") else {
            return false;
        };
        let rest = rest.trim();
        let named = ["INSERT INTO ", "UPDATE ", "DELETE FROM "]
            .iter()
            .find_map(|verb| rest.strip_prefix(verb));
        if let Some(name) = named {
            let table = name
                .rsplit_once("`.`")
                .map_or(name, |(_, table)| table)
                .trim_matches('`')
                .to_owned();
            if !self.keys.contains_key(&table) {
                self.touched.insert(table.clone(), None);
            }
            self.touched
                .entry(table.clone())
                .or_insert_with(|| Some(BTreeSet::new()));
            self.image_table = Some(table);
            return true;
        }
        let Some(table) = self.image_table.clone() else {
            return true;
        };
        let Some((column, value)) = rest.strip_prefix('@').and_then(|v| v.split_once('=')) else {
            return true;
        };
        if column.parse::<usize>().ok() != self.keys.get(&table).copied() {
            return true;
        }
        // Unsigned values beyond the signed range are printed `-1 (18446744073709551615)`.
        let value = value
            .split_once(" (")
            .map_or(value, |(_, unsigned)| unsigned.trim_end_matches(')'));
        let chunk = value.trim().parse::<i128>().ok().map(chunk_of);
        match (self.touched.get_mut(&table), chunk) {
            (Some(Some(chunks)), Some(chunk)) => {
                chunks.insert(chunk);
            }
            (Some(Some(_)), None) => {
                self.touched.insert(table, None);
            }
            _ => {}
        }
        true
    }

    fn refuse(&self, reason: String) -> DbError {
        DbError::CatchUpImpossible {
            name: self.database.clone(),
            reason,
        }
    }

    /// Takes one line (with its newline; empty at the end of input), appends what is
    /// to be applied to `out`.
    pub(super) fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), DbError> {
        match self.split.push(line) {
            Piece::Nothing => Ok(()),
            Piece::Comment(text) if self.row_image(&text) => Ok(()),
            Piece::Comment(text) => self.comment(&text),
            Piece::Delimiter => {
                out.extend_from_slice(line);
                Ok(())
            }
            Piece::Statement(statement, body) => self.statement(statement, &body, out),
        }
    }

    /// Event headers are comments: an event must end by the stop position, a table
    /// map must name the staging schema.
    fn comment(&mut self, text: &str) -> Result<(), DbError> {
        let end = text
            .split_once("end_log_pos ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(end), Some(stop)) = (end, self.stop)
            && end > stop
        {
            return Err(self.refuse(format!(
                "mariadb-binlog read past the stop position {stop} (an event ends at {end})"
            )));
        }
        let Some((_, rest)) = text.split_once("Table_map: `") else {
            return Ok(());
        };
        let (db, table) = rest.split_once("`.`").unwrap_or((rest, ""));
        if db == self.staging {
            let table = table.split_once('`').map_or(table, |(table, _)| table);
            self.mapped.insert(table.to_owned());
            return Ok(());
        }
        Err(self.refuse(format!(
            "a row event for schema {db:?} would have been applied; only {:?} may be written",
            self.staging
        )))
    }

    fn statement(
        &mut self,
        statement: Vec<u8>,
        body: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), DbError> {
        match classify(body) {
            Statement::Rows => {
                if self.in_transaction {
                    if let Some(begin) = self.held_begin.take() {
                        out.extend_from_slice(&begin);
                    }
                    self.row_bytes += statement.len() as u64;
                }
                out.extend_from_slice(&statement);
            }
            Statement::Begin => {
                self.in_transaction = true;
                self.held_begin = Some(statement);
            }
            Statement::End => {
                // A transaction whose row events were all other schemas': skipped.
                if self.held_begin.take().is_none() {
                    out.extend_from_slice(&statement);
                }
                self.in_transaction = false;
            }
            Statement::Setting => out.extend_from_slice(&statement),
            Statement::Use(db) if db == self.staging => out.extend_from_slice(&statement),
            Statement::Gtid | Statement::Use(_) | Statement::Empty => {}
            Statement::Other => {
                let excerpt: String = body.chars().take(200).collect();
                return Err(self.refuse(format!(
                    "a change that is not a row event (DDL or statement-logged): {excerpt}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &mut BinlogFilter, input: &str) -> Result<String, DbError> {
        let mut out = Vec::new();
        for line in input.split_inclusive('\n') {
            filter.line(line.as_bytes(), &mut out)?;
        }
        filter.line(b"", &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn keeps_row_events_and_drops_gtids_and_empty_transactions() -> Result<(), DbError> {
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        let out = run(
            &mut filter,
            "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;\nDELIMITER /*!*/;\n# at 4\n\
             /*M!100001 SET @@session.gtid_seq_no=10*//*!*/;\nSTART TRANSACTION\n/*!*/;\n\
             COMMIT/*!*/;\n\
             /*M!100001 SET @@session.server_id=1*//*!*/;\nSTART TRANSACTION\n/*!*/;\n\
             #261121 Table_map: `src__ferry_incoming`.`t` mapped to number 18\n\
             BINLOG '\nAAAA\nBBBB\n'/*!*/;\nCOMMIT/*!*/;\nDELIMITER ;\n\
             ROLLBACK /* added by mysqlbinlog */;\n",
        )?;
        assert!(
            !out.contains("gtid_seq_no") && !out.contains("server_id"),
            "{out}"
        );
        assert_eq!(out.matches("START TRANSACTION").count(), 1, "{out}");
        assert_eq!(out.matches("COMMIT").count(), 1, "{out}");
        assert!(out.contains("BINLOG '\nAAAA\nBBBB\n'/*!*/;"), "{out}");
        assert!(
            out.contains("PSEUDO_SLAVE_MODE") && out.contains("ROLLBACK /*"),
            "{out}"
        );
        assert!(filter.row_bytes > 0);
        Ok(())
    }

    #[test]
    fn scans_for_statements_changing_the_schema() {
        let scan = |input: &str| {
            let mut scan = DdlScan::new("shop");
            input
                .split_inclusive('\n')
                .chain([""])
                .try_for_each(|line| scan.line(line.as_bytes()))
        };
        let header =
            "DELIMITER /*!*/;\nSET TIMESTAMP=1/*!*/;\nSTART TRANSACTION\n/*!*/;\nCOMMIT/*!*/;\n";
        assert!(scan(header).is_ok());
        assert!(scan(&format!("{header}alter table `shop`.t add c int\n/*!*/;\n")).is_err());
        assert!(scan(&format!("{header}alter table shop.t add c int\n/*!*/;\n")).is_err());
        assert!(
            scan(&format!(
                "{header}use `shop`/*!*/;\ncreate index i on t (c)\n/*!*/;\n"
            ))
            .is_err()
        );
        assert!(
            scan(&format!(
                "{header}use `other`/*!*/;\ncreate index i on t (c)\n/*!*/;\n"
            ))
            .is_ok()
        );
        assert!(
            scan(&format!(
                "{header}alter table shopping.t add c int\n/*!*/;\n"
            ))
            .is_ok()
        );
        assert!(scan(&format!("{header}alter table myshop.t add c int\n/*!*/;\n")).is_ok());
    }

    #[test]
    fn row_images_give_the_chunks_touched_and_a_mapped_table_without_one_is_whole()
    -> Result<(), DbError> {
        let keys = [("orders".to_owned(), 1)].into();
        let mut filter = BinlogFilter::new("src", "st").tracking(keys);
        run(
            &mut filter,
            "START TRANSACTION\n/*!*/;\n\
             #261121 end_log_pos 100 Table_map: `st`.`orders` mapped to number 18\n\
             #261121 end_log_pos 120 Table_map: `st`.`notes` mapped to number 19\n\
             BINLOG '\nAAAA\n'/*!*/;\n\
             ### INSERT INTO `st`.`orders`\n### SET\n###   @1=16385\n\
             ###   @2='Table_map: `other`.`x` end_log_pos 999999'\n\
             ### UPDATE `st`.`orders`\n### WHERE\n###   @1=-1 (18446744073709551615)\n\
             ### SET\n###   @1=3\nCOMMIT/*!*/;\n",
        )?;
        let touched = filter.touched();
        let chunks: BTreeSet<i64> = [0, 1, (u64::MAX >> 14) as i64].into();
        assert_eq!(touched.get("orders"), Some(&Some(chunks)));
        assert_eq!(touched.get("notes"), Some(&None));
        Ok(())
    }

    #[test]
    fn refuses_events_past_the_stop_position() {
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        filter.stop = Some(1000);
        let ok = "#261121 17:25:12 server id 1  end_log_pos 1000 CRC32 0x1  Xid = 33\n";
        assert!(run(&mut filter, ok).is_ok());
        let late = "#261121 17:25:12 server id 1  end_log_pos 1042 CRC32 0x1  Xid = 34\n";
        assert!(run(&mut filter, late).is_err());
    }

    #[test]
    fn refuses_ddl_and_foreign_row_events() {
        let ddl = "DELIMITER /*!*/;\nuse `src__ferry_incoming`/*!*/;\nSET TIMESTAMP=1/*!*/;\n\
                   alter table src.t add column w int\n/*!*/;\n";
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        assert!(matches!(
            run(&mut filter, ddl),
            Err(DbError::CatchUpImpossible { .. })
        ));
        let foreign = "#2611 Table_map: `src`.`t` mapped to number 18\n";
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        assert!(run(&mut filter, foreign).is_err());
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        let statement =
            "DELIMITER /*!*/;\nSET STATEMENT max_statement_time=1 FOR DROP TABLE t/*!*/;\n";
        assert!(run(&mut filter, statement).is_err());
    }
}
