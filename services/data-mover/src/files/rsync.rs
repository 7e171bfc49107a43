//! [`sync()`]: one directory tree copied with rsync.

use std::fmt;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::FileError;
use super::list::FileList;
use super::process::{self, Context};
use super::progress::{ProgressFn, Reporter, parse_progress2};
use super::stats::parse_stats;

/// Where an interrupted copy keeps its partially received file, relative to the
/// destination directory. rsync excludes it from `--delete` and removes it once the
/// file is complete.
pub const PARTIAL_DIR: &str = ".ferry-partial";

/// How [`sync()`] runs rsync. `SyncOptions::default()` copies at full speed, with no
/// progress callback and a token nobody cancels.
#[derive(Clone)]
pub struct SyncOptions {
    /// The rsync program (default `rsync`, found on `PATH`).
    pub rsync_program: String,
    /// Remote shell for `host:/path` ends (rsync's `-e`), e.g.
    /// `ssh -o BatchMode=yes`; `None` uses rsync's default (`ssh`).
    pub remote_shell: Option<String>,
    /// Bandwidth limit in KiB/s (`--bwlimit`), to spare a live server; `None`: none.
    pub bwlimit_kib: Option<u64>,
    /// Stop if no data moves for this long (`--timeout`), e.g. a hung SSH link.
    pub io_timeout: Option<Duration>,
    /// Treat rsync's exit code 24 (source files vanished during the copy) as success.
    /// Right for a pre-copy of a live account (the final sync, frozen, catches up);
    /// wrong for a final sync, hence `false` by default.
    pub tolerate_vanished: bool,
    /// Compare files by checksum rather than size and mtime (`--checksum`): slower
    /// (reads both trees whole), but also repairs a change that kept size and mtime,
    /// e.g. after [`verify()`](super::verify()) found a mismatch.
    pub checksum: bool,
    /// Use rsync's delta algorithm between local directories too
    /// (`--no-whole-file`): by default rsync copies changed files whole locally,
    /// which is faster on one disk; with it, a resumed copy reuses the partial file.
    pub force_delta: bool,
    /// Called with `(bytes_done, bytes_total)` as the copy advances.
    pub on_progress: Option<ProgressFn>,
    /// Least time between two progress calls (default 500 ms).
    pub progress_interval: Duration,
    /// The tree's size in bytes if known (e.g. [`TreeSize::bytes`](super::TreeSize)),
    /// used as the progress total instead of rsync's estimate.
    pub bytes_total_hint: Option<u64>,
    /// Cancelling it stops rsync: [`sync()`] then fails with
    /// [`FileError::Interrupted`] once rsync has exited.
    pub cancel: CancellationToken,
    /// List the regular files sent ([`SyncReport::changed`]), so that a final sync's
    /// changes can be verified by content without reading the whole tree again.
    pub list_changed: bool,
    /// Sync only these entries (paths relative to the tree, e.g. from a
    /// [`TreeWatch`](super::TreeWatch)): each listed file, symlink or directory
    /// (as an entry, not its contents; a `.` entry syncs the root's own entries) is
    /// made as at the source, a listed path gone from the source is deleted at the
    /// destination. `None`: the whole tree.
    pub files_from: Option<Vec<String>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            rsync_program: "rsync".to_owned(),
            remote_shell: None,
            bwlimit_kib: None,
            io_timeout: None,
            tolerate_vanished: false,
            checksum: false,
            force_delta: false,
            on_progress: None,
            progress_interval: Duration::from_millis(500),
            bytes_total_hint: None,
            cancel: CancellationToken::new(),
            list_changed: false,
            files_from: None,
        }
    }
}

impl fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncOptions")
            .field("rsync_program", &self.rsync_program)
            .field("remote_shell", &self.remote_shell)
            .field("bwlimit_kib", &self.bwlimit_kib)
            .field("io_timeout", &self.io_timeout)
            .field("tolerate_vanished", &self.tolerate_vanished)
            .field("checksum", &self.checksum)
            .field("force_delta", &self.force_delta)
            .field("on_progress", &self.on_progress.is_some())
            .field("progress_interval", &self.progress_interval)
            .field("bytes_total_hint", &self.bytes_total_hint)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("list_changed", &self.list_changed)
            .field("files_from", &self.files_from.as_ref().map(Vec::len))
            .finish()
    }
}

/// What one successful [`sync()`] did, from rsync's `--stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Bytes sent over the connection (rsync's "Total bytes sent"): file data,
    /// delta matching and protocol; what a repeated sync saves on.
    pub bytes_sent: u64,
    /// File data actually sent (rsync's "Literal data"), not matched by the delta
    /// algorithm. Between local directories rsync copies changed files whole.
    pub literal_bytes: u64,
    /// Bytes received from the other end (checksums, acknowledgements).
    pub bytes_received: u64,
    /// Regular files sent (new or changed).
    pub files_transferred: u64,
    /// Entries created at the destination.
    pub files_created: u64,
    /// Entries deleted at the destination (gone from the source).
    pub files_deleted: u64,
    /// Regular files in the source tree.
    pub files_total: u64,
    /// Size of the source tree's regular files (a hard-linked file counts per name).
    pub bytes_total: u64,
    /// How long rsync ran.
    pub duration: Duration,
    /// The regular files sent (relative paths), when [`SyncOptions::list_changed`]
    /// was set; `None` otherwise or when more than [`MAX_LISTED`] were sent.
    pub changed: Option<Vec<String>>,
}

/// Most files [`SyncReport::changed`] lists; beyond, a whole-tree check is cheaper.
pub const MAX_LISTED: usize = 100_000;
/// Marks rsync's lines naming a file it sent.
const SENT_PREFIX: &str = "ferry-sent ";

/// Makes `destination` an exact copy of the directory `source` (local paths or
/// `host:/path`), creating the destination and its parents as needed.
///
/// Repeated syncs only send what changed. The source is only read. On any error the
/// destination may be incomplete (never reported as success); a new sync resumes.
///
/// # Errors
/// [`FileError::SourceMissing`], [`FileError::DiskFull`],
/// [`FileError::Interrupted`] (cancelled or killed), [`FileError::Rsync`] for other
/// rsync failures, [`FileError::Io`] if rsync cannot be started.
pub async fn sync(
    source: &str,
    destination: &str,
    options: &SyncOptions,
) -> Result<SyncReport, FileError> {
    check_source(source).await?;
    if options.cancel.is_cancelled() {
        return Err(FileError::Interrupted {
            reason: "cancelled before the copy started".to_owned(),
        });
    }
    let list = match &options.files_from {
        Some(files) => Some(FileList::write(files).await?),
        None => None,
    };
    let args = sync_args(source, destination, options, list.as_ref());
    let mut reporter = options.on_progress.clone().map(|callback| {
        Reporter::new(
            callback,
            options.progress_interval,
            options.bytes_total_hint,
        )
    });
    let mut lines = Vec::new();
    let mut changed = options.list_changed.then(Vec::new);
    let mut on_output = |line: &str| {
        if let Some(name) = line.strip_prefix(SENT_PREFIX) {
            // `%i %n`: only regular files whose content was sent.
            if let Some((code, name)) = name.split_once(' ')
                && code.starts_with(">f")
                && let Some(list) = changed.as_mut()
            {
                if list.len() < MAX_LISTED {
                    list.push(name.to_owned());
                } else {
                    changed = None;
                }
            }
            return;
        }
        match parse_progress2(line) {
            Some(progress) => {
                if let Some(reporter) = reporter.as_mut() {
                    reporter.observe(progress);
                }
            }
            None => lines.push(line.to_owned()),
        }
    };
    let started = Instant::now();
    tracing::debug!(source, destination, ?args, "rsync starting");
    let context = Context {
        source,
        destination,
        tolerate_vanished: options.tolerate_vanished,
    };
    let ran = process::run(
        &options.rsync_program,
        &args,
        &context,
        &options.cancel,
        &mut on_output,
    )
    .await;
    let duration = started.elapsed();
    drop(list);
    ran?;
    let stats = parse_stats(lines.iter().map(String::as_str));
    let report = SyncReport {
        bytes_sent: stats.bytes_sent,
        literal_bytes: stats.literal_data,
        bytes_received: stats.bytes_received,
        files_transferred: stats.files_transferred,
        files_created: stats.files_created,
        files_deleted: stats.files_deleted,
        files_total: stats.regular_files,
        bytes_total: stats.total_file_size,
        duration,
        changed,
    };
    // Counts and sizes at info; the list of changed files (thousands of names in a
    // big tree) only at debug.
    tracing::info!(
        source,
        destination,
        files_transferred = report.files_transferred,
        files_created = report.files_created,
        files_deleted = report.files_deleted,
        files_total = report.files_total,
        bytes_sent = report.bytes_sent,
        bytes_total = report.bytes_total,
        ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        "rsync done"
    );
    tracing::debug!(source, destination, changed = ?report.changed, "rsync changed files");
    Ok(report)
}

/// rsync's arguments for [`sync()`].
fn sync_args(
    source: &str,
    destination: &str,
    options: &SyncOptions,
    list: Option<&FileList>,
) -> Vec<String> {
    let mut args: Vec<String> = [
        // Archive: recursive; permissions, times, owner, group (we run as root),
        // symlinks as symlinks, devices and specials: the account sees the same tree.
        "-a",
        // Hard links stay hard links (maildirs and deduplicated uploads use them): the
        // copy neither grows nor changes meaning.
        "-H",
        // Keep uid/gid numbers: account users have the same ids on every server, and
        // mapping by name through the remote's /etc/passwd could silently differ.
        "--numeric-ids",
        // Files gone from the source go at the destination too (only there: the source
        // is never written). Exact mirror, or verification would fail.
        "--delete",
        // An interrupted file is kept, out of sight in the partial dir (never as a
        // truncated file under its real name), and resumed by the next run. rsync
        // protects a relative partial dir from --delete and removes it when done.
        "--partial",
        "--partial-dir",
        PARTIAL_DIR,
        // Create the destination directory and its missing parents (rsync >= 3.2.3),
        // for a remote destination as well.
        "--mkpath",
        // Figures for the report: files and bytes sent, literal data.
        "--stats",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    // ACLs and xattrs (-A -X) are not copied: the accounts' trees do not use them and
    // not every destination filesystem supports them. No -z: servers are on a LAN.
    if options.on_progress.is_some() {
        // One line for the whole tree (bytes, percent), rather than per file.
        args.push("--info=progress2".to_owned());
    }
    if options.checksum {
        args.push("--checksum".to_owned());
    }
    if options.list_changed {
        args.push(format!("--out-format={SENT_PREFIX}%i %n"));
    }
    if let Some(list) = list {
        // Only the listed entries (`--files-from` implies `--relative` and no
        // recursion; their parent directories come along with their attributes). A
        // listed path missing at the source is a deletion at the destination, a
        // non-empty directory included (`--delete` is in effect).
        args.extend(list.args());
        args.push("--delete-missing-args".to_owned());
        // Listed because they changed: sent whatever their size and time say (a
        // rewrite within the same second at the same size would pass rsync's quick
        // check unsent).
        args.push("--ignore-times".to_owned());
    }
    if options.force_delta {
        args.push("--no-whole-file".to_owned());
    }
    if let Some(kib) = options.bwlimit_kib {
        args.push(format!("--bwlimit={kib}"));
    }
    if let Some(timeout) = options.io_timeout {
        args.push(format!("--timeout={}", timeout.as_secs().max(1)));
    }
    push_ends(
        &mut args,
        options.remote_shell.as_deref(),
        source,
        destination,
    );
    args
}

/// rsync's last arguments, the same for every run: the remote shell if any, then the
/// two ends as directories.
pub(crate) fn push_ends(
    args: &mut Vec<String>,
    remote_shell: Option<&str>,
    source: &str,
    destination: &str,
) {
    if let Some(shell) = remote_shell {
        args.push("-e".to_owned());
        args.push(shell.to_owned());
    }
    args.push("--".to_owned());
    args.push(as_directory(source));
    args.push(as_directory(destination));
}

/// `path` with a trailing `/`: rsync then copies the directory's contents into the
/// destination, rather than the directory itself into it.
pub(crate) fn as_directory(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

/// Whether `path` is remote for rsync: `host:/path` (a colon before any slash).
pub(crate) fn is_remote(path: &str) -> bool {
    match (path.find(':'), path.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The path part of a local or remote (`host:/path`) location.
pub(crate) fn path_part(path: &str) -> &str {
    if is_remote(path) {
        path.split_once(':').map_or(path, |(_, p)| p)
    } else {
        path
    }
}

/// Fails with [`FileError::SourceMissing`] if a local source is not a directory; a
/// remote source is checked by rsync itself (see `process::classify`).
pub(crate) async fn check_source(source: &str) -> Result<(), FileError> {
    if is_remote(source) {
        return Ok(());
    }
    match tokio::fs::metadata(source).await {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(FileError::SourceMissing {
            path: source.to_owned(),
            detail: "not a directory".to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FileError::SourceMissing {
            path: source.to_owned(),
            detail: e.to_string(),
        }),
        Err(e) => Err(FileError::io(format!("reading source {source}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_are_recognised() {
        assert!(is_remote("host:/srv/files"));
        assert!(is_remote("user@host:files"));
        assert!(!is_remote("/srv/files"));
        assert!(!is_remote("/srv/a:b"));
        assert_eq!(path_part("host:/srv/files"), "/srv/files");
        assert_eq!(path_part("/srv/a:b"), "/srv/a:b");
    }

    #[test]
    fn sources_are_copied_as_directories() {
        let args = sync_args("/a/src", "host:/b/dst", &SyncOptions::default(), None);
        assert_eq!(
            args[args.len() - 2..],
            ["/a/src/".to_owned(), "host:/b/dst/".to_owned()]
        );
        assert!(!args.iter().any(|a| a.starts_with("--info")));
    }
}
