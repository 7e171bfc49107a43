//! The filters of `mariadb-binlog` output: the scan for schema changes, and what may
//! be applied to the staging schema.

use super::statements::{Piece, Splitter, Statement, classify, mentions};
use crate::databases::DbError;

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
        }
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
    fn comment(&self, text: &str) -> Result<(), DbError> {
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
        let db = rest.split_once("`.`").map(|(db, _)| db).unwrap_or(rest);
        if db == self.staging {
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
