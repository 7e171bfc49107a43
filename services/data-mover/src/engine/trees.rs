//! Files and mails of a transfer: each account's files and mail directories, named
//! after the account under the roots of both ends, synced with rsync and verified.
//!
//! A cutover watches its local source trees from before its live sync ([`watch`]):
//! frozen, a tree whose watch is trusted is synced and checked only where it changed
//! since the live content check; any other tree whole, as before.

use super::StepFailure;
use super::progress::Reporter;
use crate::files::{
    self, Changes, FileError, SyncOptions, TreeSize, TreeWatch, VerifyOptions, WatchOptions,
};
use ferry_events::{TransferPhase, TransferScheduled};
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;

/// One directory tree to copy: an account's files or mails.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub account_id: String,
    pub phase: TransferPhase,
    pub source: String,
    pub destination: String,
    /// Its expected size (from the inventory), for progress totals.
    pub bytes: u64,
}

/// The trees of a transfer's accounts.
pub(crate) fn trees(scheduled: &TransferScheduled) -> Vec<Tree> {
    let join = |root: &str, name: &str| format!("{}/{name}", root.trim_end_matches('/'));
    let (from, to) = (&scheduled.source.storage, &scheduled.destination.storage);
    scheduled
        .accounts
        .iter()
        .flat_map(|account| {
            [
                Tree {
                    account_id: account.account_id.clone(),
                    phase: TransferPhase::Files,
                    source: join(&from.files_root, &account.name),
                    destination: join(&to.files_root, &account.name),
                    bytes: account.files_bytes,
                },
                Tree {
                    account_id: account.account_id.clone(),
                    phase: TransferPhase::Mails,
                    source: join(&from.mail_root, &account.name),
                    destination: join(&to.mail_root, &account.name),
                    bytes: account.mail_bytes,
                },
            ]
        })
        .collect()
}

/// How a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncMode {
    /// The accounts are live: files may vanish meanwhile (the final sync catches up).
    Live,
    /// The accounts are frozen: everything must copy.
    Final,
}

/// What syncing the trees did.
#[derive(Debug, Default)]
pub(crate) struct Synced {
    /// Bytes sent over the wire.
    pub bytes_sent: u64,
    /// Per tree (same order, copied trees only): the tree and the files sent, if listed.
    pub copied: Vec<(Tree, Option<Vec<String>>)>,
    /// The trees (by destination) whose last sync covered only these paths, changed
    /// since the live content check by their trusted watch.
    pub tracked: Tracked,
}

/// Per tree (by destination): the paths changed since the live content check, from
/// a trusted watch.
pub(crate) type Tracked = HashMap<String, Vec<String>>;

/// The watches of a cutover's local source trees.
#[derive(Debug, Default)]
pub(crate) struct Watches(Vec<(String, TreeWatch)>);

/// Starts watching every local source tree that exists (a remote one, or one
/// missing, is synced whole at the freeze); none if `max_changes` is 0.
pub(crate) async fn watch(trees: &[Tree], max_changes: usize) -> Watches {
    let mut watches = Watches::default();
    if max_changes == 0 {
        return watches;
    }
    for tree in trees {
        if files::is_remote(&tree.source) || !std::path::Path::new(&tree.source).is_dir() {
            continue;
        }
        let options = WatchOptions {
            max_changes,
            ..WatchOptions::default()
        };
        let watch = TreeWatch::start(&tree.source, options).await;
        watches.0.push((tree.destination.clone(), watch));
    }
    watches
}

impl Watches {
    /// Forgets what changed so far: the live content check that follows covers it.
    pub(crate) async fn mark(&self) {
        for (_, watch) in &self.0 {
            watch.mark().await;
        }
    }

    /// Frozen: the trees whose watch is trusted, with what changed in them.
    pub(crate) async fn finish(self) -> Tracked {
        let mut tracked = Tracked::new();
        for (destination, watch) in self.0 {
            let root = watch.root().to_owned();
            match watch.finish().await {
                Changes::Tracked(paths) => {
                    tracing::info!(%root, changed = paths.len(), "tree watch trusted");
                    tracked.insert(destination, paths);
                }
                Changes::Untrusted(reason) => {
                    tracing::info!(%root, %reason, "tree watch untrusted: the tree is synced and checked whole");
                }
            }
        }
        tracked
    }
}

impl Synced {
    /// The two syncs of a cutover as one: bytes added, and per tree the files sent by
    /// either (unknown if either did not list them), all to be verified by content.
    pub(crate) fn then(self, later: Synced) -> Synced {
        let mut copied = Vec::with_capacity(later.copied.len());
        for (tree, sent_later) in later.copied {
            let sent_before = self
                .copied
                .iter()
                .find(|(t, _)| t.destination == tree.destination)
                .map(|(_, sent)| sent.clone());
            let sent = match (sent_before, sent_later) {
                (Some(Some(mut before)), Some(after)) => {
                    before.extend(after);
                    before.sort_unstable();
                    before.dedup();
                    Some(before)
                }
                (None, Some(after)) => Some(after),
                _ => None,
            };
            copied.push((tree, sent));
        }
        Synced {
            bytes_sent: self.bytes_sent + later.bytes_sent,
            copied,
            tracked: later.tracked,
        }
    }
}

/// Syncs every tree in turn (each listing the files it sent), reporting progress; a
/// tree in `tracked` only where it changed.
pub(crate) async fn sync(
    trees: &[Tree],
    mode: SyncMode,
    tracked: &Tracked,
    reporter: &Reporter,
    stop: &CancellationToken,
) -> Result<Synced, StepFailure> {
    let total: u64 = ferry_events::input::total_bytes(trees.iter().map(|t| t.bytes));
    let mut done = 0u64;
    let mut synced = Synced::default();
    for tree in trees {
        let phase = match mode {
            SyncMode::Live => tree.phase,
            SyncMode::Final => TransferPhase::FinalSync,
        };
        let changed = tracked.get(&tree.destination);
        if changed.is_some_and(Vec::is_empty) {
            // Nothing changed since the live content check: nothing to run.
            synced.copied.push((tree.clone(), Some(Vec::new())));
            synced.tracked.insert(tree.destination.clone(), Vec::new());
            continue;
        }
        let options = SyncOptions {
            tolerate_vanished: mode == SyncMode::Live,
            list_changed: true,
            on_progress: Some(reporter.rsync_callback(phase, &tree.account_id, done, total)),
            bytes_total_hint: Some(tree.bytes),
            cancel: stop.clone(),
            files_from: changed.cloned(),
            ..SyncOptions::default()
        };
        match files::sync(&tree.source, &tree.destination, &options).await {
            Ok(report) => {
                reporter.copied(report.bytes_sent);
                synced.bytes_sent = synced.bytes_sent.saturating_add(report.bytes_sent);
                done = done.saturating_add(report.bytes_total);
                synced.copied.push((tree.clone(), report.changed));
                if let Some(changed) = changed {
                    synced
                        .tracked
                        .insert(tree.destination.clone(), changed.clone());
                }
            }
            // An account without mail (or files) has no directory: nothing to copy.
            Err(FileError::SourceMissing { .. }) => {}
            Err(error) => return Err(failure(phase, &error)),
        }
        reporter.report(phase, Some(&tree.account_id), done, total);
    }
    Ok(synced)
}

/// How deeply [`verify`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Every tree by its listing, sizes and times (a pre-copy: no switch follows; rsync
    /// already checked each file it sent against a whole-file checksum).
    Listing,
    /// Frozen, before a switch: every tree by listing, sizes and times, and by content
    /// every file sent since the live content check ([`verify_live`]); a tree whose
    /// sends were not listed is compared by content whole. A tracked tree: by content
    /// every path changed or sent since the live content check, and whole by its
    /// counts of files, directories, symlinks and bytes.
    Switch,
}

/// Verifies the copied trees. Returns the number of files compared.
pub(crate) async fn verify(
    synced: &Synced,
    depth: Depth,
    stop: &CancellationToken,
) -> Result<u64, StepFailure> {
    let mut files_checked = 0u64;
    for (tree, sent) in &synced.copied {
        if depth == Depth::Switch
            && let (Some(changed), Some(sent)) = (synced.tracked.get(&tree.destination), sent)
        {
            files_checked += verify_tracked(tree, changed, sent, stop)
                .await
                .map_err(|e| failure(TransferPhase::Verifying, &e))?;
            continue;
        }
        let whole = VerifyOptions {
            quick: depth == Depth::Listing || sent.is_some(),
            cancel: stop.clone(),
            ..VerifyOptions::default()
        };
        let check = files::verify(&tree.source, &tree.destination, &whole)
            .await
            .map_err(|e| failure(TransferPhase::Verifying, &e))?;
        files_checked += check.files;
        if depth == Depth::Switch && whole.quick {
            let sent = VerifyOptions {
                only: sent.clone(),
                cancel: stop.clone(),
                ..VerifyOptions::default()
            };
            files::verify(&tree.source, &tree.destination, &sent)
                .await
                .map_err(|e| failure(TransferPhase::Verifying, &e))?;
        }
    }
    Ok(files_checked)
}

/// A tracked tree, frozen: what changed since the live content check (which found
/// everything else equal by content) compared by content, and the trees' counts
/// compared whole (a local destination), a cheap guard against a loss the listing
/// missed. Returns the files the destination now matches: the source's.
async fn verify_tracked(
    tree: &Tree,
    changed: &[String],
    sent: &[String],
    stop: &CancellationToken,
) -> Result<u64, FileError> {
    // The root's own entry would compare its files by content (possibly large ones
    // nothing changed); its changed entries are listed by name.
    let mut only: Vec<String> = changed
        .iter()
        .chain(sent)
        .filter(|p| p.as_str() != ".")
        .cloned()
        .collect();
    only.sort_unstable();
    only.dedup();
    let content = VerifyOptions {
        only: Some(only),
        cancel: stop.clone(),
        ..VerifyOptions::default()
    };
    let counts = async {
        let source = TreeSize::measure(&tree.source);
        if files::is_remote(&tree.destination) {
            return (source.await, None);
        }
        let (source, destination) = tokio::join!(source, TreeSize::measure(&tree.destination));
        (source, Some(destination))
    };
    let (checked, (source, destination)) = tokio::join!(
        files::verify(&tree.source, &tree.destination, &content),
        counts
    );
    checked?;
    let source = source?;
    if let Some(destination) = destination {
        let destination = destination?;
        if source != destination {
            return Err(FileError::Mismatch {
                differences: vec![format!(
                    "tree sizes differ: source {source:?}, destination {destination:?}"
                )],
            });
        }
    }
    Ok(source.files)
}

/// Live, before a cutover's freeze: every copied tree compared by content. A tree
/// that differs (a file changing meanwhile, or a destination file damaged under the
/// same size and time) is synced again by checksums, which repairs it; the files that
/// sync sent are listed for the frozen check. Returns the trees with only those
/// files listed: everything else was just found equal by content.
pub(crate) async fn verify_live(
    synced: Synced,
    stop: &CancellationToken,
) -> Result<Synced, StepFailure> {
    let mut checked = Synced {
        bytes_sent: synced.bytes_sent,
        copied: Vec::with_capacity(synced.copied.len()),
        tracked: Tracked::new(),
    };
    for (tree, _) in synced.copied {
        let content = VerifyOptions {
            cancel: stop.clone(),
            ..VerifyOptions::default()
        };
        let repaired = match files::verify(&tree.source, &tree.destination, &content).await {
            Ok(_) => Some(Vec::new()),
            Err(FileError::Mismatch { differences }) => {
                tracing::info!(tree = %tree.destination, differences = differences.len(),
                    "live content check found differences; syncing by checksums");
                let options = SyncOptions {
                    checksum: true,
                    tolerate_vanished: true,
                    list_changed: true,
                    cancel: stop.clone(),
                    ..SyncOptions::default()
                };
                let report = files::sync(&tree.source, &tree.destination, &options)
                    .await
                    .map_err(|e| failure(tree.phase, &e))?;
                checked.bytes_sent = checked.bytes_sent.saturating_add(report.bytes_sent);
                report.changed
            }
            Err(e) => return Err(failure(TransferPhase::Verifying, &e)),
        };
        checked.copied.push((tree, repaired));
    }
    Ok(checked)
}

fn failure(phase: TransferPhase, error: &FileError) -> StepFailure {
    StepFailure::new(phase, error.to_string(), error.is_retryable())
}
