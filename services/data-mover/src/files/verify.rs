//! [`verify()`]: a destination tree compared with its source by content checksums.

use tokio_util::sync::CancellationToken;

use super::FileError;
use super::list::FileList;
use super::process::{self, Context};
use super::rsync::{check_source, is_remote, push_ends};
use super::stats::parse_stats;

/// Marks rsync's itemized lines in its output, apart from the `--stats` block.
const ITEM_PREFIX: &str = "ferry-item ";
/// Differences listed at most; more are summarised in one line.
const MAX_DIFFERENCES: usize = 1000;

/// A tree found equal at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeCheck {
    /// Regular files compared.
    pub files: u64,
    /// Their total size in bytes (a hard-linked file counts per name).
    pub bytes: u64,
}

/// How [`verify()`] runs rsync.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The rsync program (default `rsync`).
    pub rsync_program: String,
    /// Remote shell for `host:/path` ends (rsync's `-e`); `None`: rsync's default.
    pub remote_shell: Option<String>,
    /// Cancelling it stops the check with [`FileError::Interrupted`].
    pub cancel: CancellationToken,
    /// Compare by size and modification time only, not by content: the check of a
    /// whole tree during a freeze, once its content was checked live and the files
    /// changed since are checked by content ([`VerifyOptions::only`]).
    pub quick: bool,
    /// Check only these entries (paths relative to the tree), by content: the files
    /// a final sync sent, or the paths changed since a live check. A listed directory
    /// is compared as an entry (not its contents); a listed path gone from the source
    /// must be gone from the destination. `None`: the whole tree.
    pub only: Option<Vec<String>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            rsync_program: "rsync".to_owned(),
            remote_shell: None,
            cancel: CancellationToken::new(),
            quick: false,
            only: None,
        }
    }
}

/// Checks that `destination` holds exactly the tree `source` holds: same entries, same
/// contents by **checksum** (not size and time, which a corruption may keep), same
/// links, permissions, owners and times. Nothing is written at either end.
///
/// It asks rsync what a checksum-based sync would change (`--checksum --dry-run
/// --itemize-changes --delete`): nothing means equal. A partial-copy directory left by
/// an interrupted sync counts as a difference.
///
/// # Errors
/// [`FileError::Mismatch`] listing the differences (e.g. `content differs: a/b.txt`),
/// [`FileError::SourceMissing`], or rsync's errors as for [`sync()`](super::sync()).
pub async fn verify(
    source: &str,
    destination: &str,
    options: &VerifyOptions,
) -> Result<TreeCheck, FileError> {
    check_source(source).await?;
    if !is_remote(destination) && !tokio::fs::try_exists(destination).await.unwrap_or(false) {
        return Err(FileError::Mismatch {
            differences: vec![format!("destination missing: {destination}")],
        });
    }
    if options.only.as_ref().is_some_and(Vec::is_empty) {
        return Ok(TreeCheck { files: 0, bytes: 0 });
    }
    let mut args: Vec<String> = [
        // The same tree semantics as sync: see `sync_args`.
        "-a",
        "-H",
        "--numeric-ids",
        // Only say what would change.
        "--dry-run",
        "--stats",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if !options.quick {
        // Compare whole-file checksums, whatever the sizes and times say.
        args.push("--checksum".to_owned());
    }
    let list = match &options.only {
        // Extra files at the destination are the whole-tree check's business.
        None => {
            args.push("--delete".to_owned());
            None
        }
        Some(files) => {
            let list = FileList::write(files).await?;
            args.extend(list.args());
            // A listed file gone from the source must be gone at the destination
            // too: reported as "only at destination" rather than failing the check.
            args.push("--delete-missing-args".to_owned());
            Some(list)
        }
    };
    // Itemize every difference (%i), with the name and link target.
    args.push(format!("--out-format={ITEM_PREFIX}%i %n%L"));
    push_ends(
        &mut args,
        options.remote_shell.as_deref(),
        source,
        destination,
    );

    let mut differences = Vec::new();
    let mut more = 0_usize;
    let mut lines = Vec::new();
    let mut on_output = |line: &str| match line.strip_prefix(ITEM_PREFIX) {
        Some(item) => match describe(item) {
            Some(_) if differences.len() >= MAX_DIFFERENCES => more += 1,
            Some(difference) => differences.push(difference),
            None => {}
        },
        None => lines.push(line.to_owned()),
    };
    let context = Context {
        source,
        destination,
        tolerate_vanished: false,
    };
    let ran = process::run(
        &options.rsync_program,
        &args,
        &context,
        &options.cancel,
        &mut on_output,
    )
    .await;
    // A source file vanishing while it is compared (a live tree: a check before the
    // freeze) means the trees are not known equal: a difference, which a live check
    // repairs by syncing again, rather than a failure of the tool.
    if let Err(FileError::Rsync {
        code: Some(24),
        stderr_tail,
    }) = &ran
    {
        differences.extend(vanished(stderr_tail));
        if differences.is_empty() {
            differences.push("source files vanished while compared".to_owned());
        }
    } else {
        ran?;
    }
    drop(list);
    if more > 0 {
        differences.push(format!("... and {more} more differences"));
    }
    if !differences.is_empty() {
        return Err(FileError::Mismatch { differences });
    }
    let stats = parse_stats(lines.iter().map(String::as_str));
    Ok(TreeCheck {
        files: stats.regular_files,
        bytes: stats.total_file_size,
    })
}

/// The files rsync reports as vanished (`file has vanished: "path"`) as differences.
fn vanished(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| line.split_once("file has vanished: ").map(|(_, path)| path))
        .map(|path| {
            format!(
                "vanished from the source while compared: {}",
                path.trim_matches('"')
            )
        })
        .collect()
}

/// One itemized line (`YXcstpoguax name`) as a difference; `None` for a line that
/// reports no change.
fn describe(item: &str) -> Option<String> {
    let (code, name) = item.split_once(' ').unwrap_or((item, ""));
    let name = name.trim_start();
    if code == "*deleting" {
        return Some(format!("only at destination: {name}"));
    }
    let mut chars = code.chars();
    let update = chars.next()?;
    let _kind = chars.next()?;
    let attributes: Vec<char> = chars.collect();
    if attributes.iter().all(|c| *c == '+') && !attributes.is_empty() {
        return Some(format!("missing at destination: {name}"));
    }
    if attributes.iter().all(|c| *c == '.' || *c == ' ') && update == '.' {
        return None;
    }
    if matches!(update, '<' | '>') && attributes.first() == Some(&'c') {
        return Some(format!("content differs: {name}"));
    }
    Some(format!("differs ({code}): {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_source_files_become_differences() {
        let stderr = "file has vanished: \"/srv/files/shop/www/new-192.php\"\n\
                      rsync warning: some files vanished before they could be transferred \
                      (code 24) at main.c(1394) [sender=3.5.0]";
        assert_eq!(
            vanished(stderr),
            ["vanished from the source while compared: /srv/files/shop/www/new-192.php"]
        );
    }

    #[test]
    fn itemized_lines_become_differences() {
        assert_eq!(
            describe(">fc........ www/index.php").as_deref(),
            Some("content differs: www/index.php")
        );
        assert_eq!(
            describe(">f+++++++++ new.txt").as_deref(),
            Some("missing at destination: new.txt")
        );
        assert_eq!(
            describe("*deleting   old.txt").as_deref(),
            Some("only at destination: old.txt")
        );
        assert_eq!(
            describe(".d..t...... www/").as_deref(),
            Some("differs (.d..t......): www/")
        );
        assert_eq!(describe(".f          same.txt"), None);
    }
}
