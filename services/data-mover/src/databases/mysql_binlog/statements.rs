//! Reading `mariadb-binlog` output: statements split and classified.

/// What one statement of `mariadb-binlog`'s output is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Statement {
    /// `BINLOG '…'`: row events (or the format description).
    Rows,
    /// `START TRANSACTION` / `BEGIN`.
    Begin,
    /// `COMMIT` / `ROLLBACK`.
    End,
    /// A session setting the tool emits (`SET …`, `/*!… SET …*/`, `/*!\C …*/`).
    Setting,
    /// A GTID setting, dropped: the destination numbers its own transactions.
    Gtid,
    /// `use <db>`.
    Use(String),
    /// Nothing (an empty statement).
    Empty,
    /// Anything else: DDL, a statement-logged write, XA, a savepoint.
    Other,
}

/// Classifies a statement, its delimiter removed.
pub(super) fn classify(body: &str) -> Statement {
    let upper = body.to_ascii_uppercase();
    let word = |w: &str| {
        upper == w
            || upper
                .strip_prefix(w)
                .is_some_and(|rest| rest.starts_with([' ', '\n', '\t', '/']))
    };
    if body.is_empty() {
        Statement::Empty
    } else if upper.starts_with("BINLOG '") {
        Statement::Rows
    } else if word("START TRANSACTION") || word("BEGIN") {
        Statement::Begin
    } else if (word("COMMIT") || word("ROLLBACK")) && !upper.starts_with("ROLLBACK TO") {
        Statement::End
    } else if let Some(db) = upper.strip_prefix("USE ") {
        let db = body[body.len() - db.len()..].trim().trim_matches('`');
        Statement::Use(db.to_owned())
    } else if let Some(setting) = setting(&upper) {
        if setting.contains("GTID_SEQ_NO")
            || setting.contains("GTID_DOMAIN_ID")
            || setting.contains("@@SESSION.SERVER_ID")
        {
            Statement::Gtid
        } else {
            Statement::Setting
        }
    } else {
        Statement::Other
    }
}

/// The text of a session setting (`SET …` other than `SET STATEMENT … FOR`, possibly in
/// a versioned comment, or a `\C` charset command), upper-cased; `None` otherwise.
fn setting(upper: &str) -> Option<&str> {
    let inner = match upper.strip_prefix("/*") {
        Some(rest) => rest
            .trim_start_matches('M')
            .trim_start_matches('!')
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start(),
        None => upper,
    };
    let is_set = inner.starts_with("SET ") && !inner.starts_with("SET STATEMENT");
    (is_set || inner.starts_with("\\C ")).then_some(inner)
}

/// One piece of `mariadb-binlog` output.
pub(super) enum Piece {
    /// Nothing complete yet (or a blank line).
    Nothing,
    /// A comment line (event headers).
    Comment(String),
    /// A `DELIMITER` command.
    Delimiter,
    /// A complete statement, as read, and its text without the delimiter.
    Statement(Vec<u8>, String),
}

/// Splits `mariadb-binlog` output into comments, delimiter commands and statements
/// (which end with the current delimiter, `/*!*/;` inside the event stream).
pub(super) struct Splitter {
    delimiter: Vec<u8>,
    statement: Vec<u8>,
}

impl Splitter {
    pub(super) fn new() -> Self {
        Self {
            delimiter: b";".to_vec(),
            statement: Vec::new(),
        }
    }

    /// Takes one line (with its newline; empty at the end of input).
    pub(super) fn push(&mut self, line: &[u8]) -> Piece {
        let trimmed = line.trim_ascii();
        if self.statement.is_empty() {
            if trimmed.is_empty() {
                return Piece::Nothing;
            }
            if trimmed.starts_with(b"#") {
                return Piece::Comment(String::from_utf8_lossy(trimmed).into_owned());
            }
            if let Some(delimiter) = trimmed.strip_prefix(b"DELIMITER ") {
                self.delimiter = delimiter.trim_ascii().to_vec();
                return Piece::Delimiter;
            }
        }
        self.statement.extend_from_slice(line);
        // A statement left incomplete at the end is returned as is (and refused).
        if !trimmed.ends_with(&self.delimiter) && !line.is_empty() {
            return Piece::Nothing;
        }
        let statement = std::mem::take(&mut self.statement);
        let text = String::from_utf8_lossy(&statement);
        let text = text.trim();
        let body = text
            .strip_suffix(std::str::from_utf8(&self.delimiter).unwrap_or(";"))
            .unwrap_or(text)
            .trim()
            .to_owned();
        Piece::Statement(statement, body)
    }
}

/// Whether `text` names the schema `database` as an identifier (`` `db` ``, `db.t`),
/// not as part of another name.
pub(super) fn mentions(text: &str, database: &str) -> bool {
    let ident =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    text.match_indices(database).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + database.len()..].chars().next();
        !ident(before) && !ident(after)
    })
}
