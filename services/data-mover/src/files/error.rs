//! The errors of file copies and checks.

/// Why a copy or a check of a directory tree failed.
///
/// A partial copy is never reported as a success: every variant but [`FileError::Mismatch`]
/// means the destination may be incomplete (and must not be switched to), while the
/// source is untouched.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The destination filesystem (or quota) is full; the copy is incomplete.
    #[error(
        "destination {destination} is full (no space left on device or quota exceeded): {detail}"
    )]
    DiskFull {
        /// The destination tree being written.
        destination: String,
        /// rsync's own words, for support.
        detail: String,
    },
    /// rsync was stopped before the end (cancelled, or killed by a signal); the
    /// destination is incomplete, the source untouched, and a new sync resumes it.
    #[error("copy interrupted ({reason}); the destination is incomplete and a new sync resumes it")]
    Interrupted {
        /// What stopped it.
        reason: String,
    },
    /// The source directory does not exist (or is not a directory).
    #[error("source directory {path} does not exist: {detail}")]
    SourceMissing {
        /// The source given.
        path: String,
        /// What was found instead.
        detail: String,
    },
    /// rsync failed for another reason.
    #[error("rsync failed ({}): {stderr_tail}", describe_code(*code))]
    Rsync {
        /// rsync's exit code, `None` if it gave none.
        code: Option<i32>,
        /// The last lines rsync wrote on its standard error.
        stderr_tail: String,
    },
    /// The destination differs from the source.
    #[error("destination differs from source ({} differences): {}", differences.len(), preview(differences))]
    Mismatch {
        /// One line per differing entry, e.g. `content differs: www/index.php`.
        differences: Vec<String>,
    },
    /// The operation needs a local path and was given a remote `host:/path`.
    #[error("{0} is a remote path; this operation needs a local directory")]
    NotLocal(String),
    /// A local I/O error (starting rsync, reading a tree).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    /// Whether trying again (unchanged) may succeed, for `TransferFailed::retryable`.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Interrupted { .. } | Self::Mismatch { .. } => true,
            // 10 socket I/O, 12 protocol stream, 23/24 partial (files changing while
            // live), 30/35 timeouts: all transient in practice.
            Self::Rsync { code, .. } => {
                matches!(code, Some(10 | 12 | 23 | 24 | 30 | 35) | None)
            }
            Self::DiskFull { .. }
            | Self::SourceMissing { .. }
            | Self::NotLocal(_)
            | Self::Io { .. } => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// At most 5 differences in a message; the error keeps them all.
fn preview(differences: &[String]) -> String {
    let mut shown = differences
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if differences.len() > 5 {
        shown.push_str(&format!("; and {} more", differences.len() - 5));
    }
    shown
}

/// rsync's exit codes, as its manual names them.
fn describe_code(code: Option<i32>) -> String {
    let Some(code) = code else {
        return "no exit code".to_owned();
    };
    let meaning = match code {
        1 => "syntax or usage error",
        2 => "protocol incompatibility",
        3 => "errors selecting input/output files, dirs",
        5 => "error starting client-server protocol",
        10 => "error in socket I/O",
        11 => "error in file I/O",
        12 => "error in rsync protocol data stream",
        14 => "error in IPC code",
        20 => "received SIGUSR1 or SIGINT",
        22 => "error allocating core memory buffers",
        23 => "partial transfer due to error",
        24 => "partial transfer due to vanished source files",
        25 => "the --max-delete limit stopped deletions",
        30 => "timeout in data send/receive",
        35 => "timeout waiting for daemon connection",
        255 => "remote shell failed",
        _ => "unknown",
    };
    format!("exit code {code}: {meaning}")
}
