//! [`TreeWatch`]: what changed in a local source tree since a point in time, from
//! inotify, so that a cutover's frozen final sync and check handle only that rather
//! than walking whole trees during the downtime.
//!
//! The watch is only worth anything if it misses nothing: whenever it cannot be sure
//! (the kernel's event queue overflowed, the watch limit was reached, inotify failed,
//! the root was removed, moved or replaced, a name is not UTF-8, a changed file has
//! other hard links, too many changes) it says [`Changes::Untrusted`] and the caller
//! falls back to a whole-tree sync and check.
//!
//! One thread per tree reads the events as they come (the kernel queue is bounded),
//! adds a watch to every directory created or moved in and lists it (entries created
//! before its watch was added are found by the listing, later ones by events). At
//! [`TreeWatch::finish`] the thread reads the queue to its end: every event of a write
//! that finished before the call (the sources frozen) is counted.

use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use inotify::{EventMask, EventOwned, Inotify, WatchMask};
use tokio::sync::oneshot;

/// Changed paths beyond which a whole-tree sync is as cheap (and the watch says
/// untrusted rather than hold an unbounded list).
pub const DEFAULT_MAX_CHANGES: usize = 20_000;
/// How long the reading thread waits for events before it looks at its commands.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Room for several hundred events per read.
const BUFFER_BYTES: usize = 64 * 1024;

/// How a [`TreeWatch`] runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Most changed paths (parents included) recorded; beyond, untrusted.
    pub max_changes: usize,
    /// A pause before each read of the events. Zero in service; tests set it to let
    /// the kernel's queue overflow, as it would under a flood of changes.
    pub read_delay: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            max_changes: DEFAULT_MAX_CHANGES,
            read_delay: Duration::ZERO,
        }
    }
}

/// What a [`TreeWatch`] saw since its start or its last [`TreeWatch::mark`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Every entry created, written, whose attributes changed, deleted or renamed
    /// (both names), every entry of a directory created or moved in, and the parent
    /// directory of each (`.` for the root): relative paths, sorted, no `..`.
    Tracked(Vec<String>),
    /// The watch may have missed something: why.
    Untrusted(String),
}

/// A running watch of one local tree. Dropping it stops the watch.
#[derive(Debug)]
pub struct TreeWatch {
    root: String,
    commands: mpsc::Sender<Command>,
}

enum Command {
    /// Forget the changes seen so far (not an untrusted state).
    Mark(oneshot::Sender<()>),
    /// Read the queue to its end and say what changed; the watch ends.
    Finish(oneshot::Sender<Changes>),
}

impl TreeWatch {
    /// Starts watching the local directory `root`; returns once every directory of it
    /// is watched. Never fails: a watch that cannot start reports
    /// [`Changes::Untrusted`] at its end.
    pub async fn start(root: &str, options: WatchOptions) -> Self {
        let (commands, received) = mpsc::channel();
        let (ready, started) = oneshot::channel();
        let path = PathBuf::from(root);
        let spawned = std::thread::Builder::new()
            .name("ferry-watch".to_owned())
            .spawn(move || run(&path, options, &received, ready));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: `finish` says untrusted.
            tracing::warn!(root, error = %e, "cannot start a watch thread");
        }
        let _ = started.await;
        Self {
            root: root.to_owned(),
            commands,
        }
    }

    /// The watched root.
    #[must_use]
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Forgets the changes seen so far: what follows is compared with the tree as it
    /// is now (e.g. checked whole by content from here on).
    pub async fn mark(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Mark(reply)).is_ok() {
            let _ = done.await;
        }
    }

    /// Reads every event queued so far and says what changed since the start or the
    /// last [`TreeWatch::mark`]. Call it once the tree stopped changing (frozen).
    pub async fn finish(self) -> Changes {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Finish(reply)).is_err() {
            return Changes::Untrusted("the watch thread did not start or stopped".to_owned());
        }
        done.await.unwrap_or_else(|_| {
            Changes::Untrusted("the watch thread stopped before its end".to_owned())
        })
    }
}

/// The watching thread: events read as they come, commands answered.
fn run(
    root: &Path,
    options: WatchOptions,
    commands: &mpsc::Receiver<Command>,
    ready: oneshot::Sender<()>,
) {
    let mut watcher = Watcher::start(root, options);
    let _ = ready.send(());
    loop {
        match commands.try_recv() {
            Ok(Command::Mark(reply)) => {
                watcher.drain();
                watcher.changed.clear();
                let _ = reply.send(());
            }
            Ok(Command::Finish(reply)) => {
                watcher.drain();
                let _ = reply.send(watcher.conclude());
                return;
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => return,
        }
        watcher.wait();
        watcher.drain();
    }
}

/// The events a directory's watch asks for. Reads and opens are not changes; the
/// close of a file opened for writing is (a write through `mmap` shows no other
/// event). Symlinks are never followed: only real directories are watched.
fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

struct Watcher {
    root: PathBuf,
    /// The root's (device, inode): a root replaced or moved is not the tree watched.
    root_id: Option<(u64, u64)>,
    /// `None` once untrusted: nothing more to read.
    inotify: Option<Inotify>,
    /// Each watched directory's path relative to the root (`""` for the root).
    dirs: HashMap<i32, String>,
    root_wd: Option<i32>,
    changed: BTreeSet<String>,
    untrusted: Option<String>,
    options: WatchOptions,
    buffer: Vec<u8>,
}

impl Watcher {
    fn start(root: &Path, options: WatchOptions) -> Self {
        let mut watcher = Self {
            root: root.to_owned(),
            root_id: None,
            inotify: None,
            dirs: HashMap::new(),
            root_wd: None,
            changed: BTreeSet::new(),
            untrusted: None,
            options,
            buffer: vec![0; BUFFER_BYTES],
        };
        match std::fs::symlink_metadata(root) {
            Ok(meta) if meta.is_dir() => watcher.root_id = Some((meta.dev(), meta.ino())),
            Ok(_) => watcher.distrust("the root is not a directory".to_owned()),
            Err(e) => watcher.distrust(format!("reading the root: {e}")),
        }
        if watcher.untrusted.is_some() {
            return watcher;
        }
        match Inotify::init() {
            Ok(inotify) => watcher.inotify = Some(inotify),
            Err(e) => watcher.distrust(format!("starting inotify: {e}")),
        }
        watcher.scan("", false);
        if watcher.untrusted.is_none() && watcher.root_wd.is_none() {
            watcher.distrust("the root vanished while its watch was added".to_owned());
        }
        watcher
    }

    fn distrust(&mut self, reason: String) {
        if self.untrusted.is_none() {
            tracing::info!(root = %self.root.display(), %reason, "tree watch untrusted");
            self.untrusted = Some(reason);
        }
        // Nothing more to read; the watches go with the descriptor.
        self.inotify = None;
        self.changed.clear();
    }

    /// Waits for events (or a short while), so that commands are looked at often.
    fn wait(&mut self) {
        let Some(inotify) = self.inotify.as_ref() else {
            std::thread::sleep(POLL_EVERY);
            return;
        };
        let mut fds = [rustix::event::PollFd::new(
            inotify,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: i64::try_from(POLL_EVERY.as_nanos()).unwrap_or(50_000_000),
        };
        // An interrupted poll only shortens the wait.
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
        if !self.options.read_delay.is_zero() {
            std::thread::sleep(self.options.read_delay);
        }
    }

    /// Handles every event queued now.
    fn drain(&mut self) {
        loop {
            let Some(inotify) = self.inotify.as_mut() else {
                return;
            };
            let events: Vec<EventOwned> = match inotify.read_events(&mut self.buffer) {
                Ok(events) => events.map(|e| e.to_owned()).collect(),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.distrust(format!("reading inotify events: {e}")),
            };
            if events.is_empty() {
                return;
            }
            for event in events {
                self.handle(&event);
                if self.untrusted.is_some() {
                    return;
                }
            }
        }
    }

    fn handle(&mut self, event: &EventOwned) {
        let mask = event.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            return self.distrust("the inotify event queue overflowed".to_owned());
        }
        if mask.contains(EventMask::UNMOUNT) {
            return self.distrust("a watched filesystem was unmounted".to_owned());
        }
        let wd = event.wd.get_watch_descriptor_id();
        let is_root = Some(wd) == self.root_wd;
        if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
            if is_root {
                return self.distrust("the root was removed or moved".to_owned());
            }
            // A subdirectory: its parent's watch reported it (deleted or renamed).
            if mask.contains(EventMask::IGNORED) {
                self.dirs.remove(&wd);
            }
            return;
        }
        let Some(dir) = self.dirs.get(&wd).cloned() else {
            return self.distrust(format!("an event from an unknown watch ({wd})"));
        };
        let Some(name) = event.name.as_ref() else {
            // The watched directory itself (its attributes).
            return self.record(if dir.is_empty() { ".".to_owned() } else { dir });
        };
        let Some(name) = name.to_str() else {
            return self.distrust(format!("a name in {dir:?} is not UTF-8"));
        };
        let path = join(&dir, name);
        self.record(path.clone());
        if mask.contains(EventMask::ISDIR)
            && mask.intersects(EventMask::CREATE | EventMask::MOVED_TO)
        {
            // New here: watched from now on, and what it already holds recorded. A
            // directory renamed within the tree keeps its watches, which this
            // re-adding also points at their new paths.
            self.scan(&path, true);
        }
    }

    /// Records `path` changed, with its parent (whose entries or times changed).
    fn record(&mut self, path: String) {
        let parent = match path.rsplit_once('/') {
            Some((parent, _)) => parent.to_owned(),
            None => ".".to_owned(),
        };
        self.changed.insert(path);
        self.changed.insert(parent);
        if self.changed.len() > self.options.max_changes {
            let max = self.options.max_changes;
            self.distrust(format!("more than {max} changed paths"));
        }
    }

    /// Watches the directory `rel` and every directory below it; with `record`, also
    /// records every entry found.
    fn scan(&mut self, rel: &str, record: bool) {
        let mut pending = vec![rel.to_owned()];
        while let Some(dir) = pending.pop() {
            let path = if dir.is_empty() {
                self.root.clone()
            } else {
                self.root.join(&dir)
            };
            let Some(inotify) = self.inotify.as_mut() else {
                return;
            };
            match inotify.watches().add(&path, mask()) {
                Ok(wd) => {
                    let id = wd.get_watch_descriptor_id();
                    if dir.is_empty() {
                        self.root_wd = Some(id);
                    }
                    self.dirs.insert(id, dir.clone());
                }
                // Gone or replaced meanwhile: its parent's events say so.
                Err(e) if matches!(e.raw_os_error(), Some(2 | 20)) => continue,
                Err(e) if e.raw_os_error() == Some(28) => {
                    return self.distrust(
                        "the inotify watch limit is reached (fs.inotify.max_user_watches)"
                            .to_owned(),
                    );
                }
                Err(e) => return self.distrust(format!("watching {}: {e}", path.display())),
            }
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return self.distrust(format!("listing {}: {e}", path.display())),
            };
            for entry in entries {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => return self.distrust(format!("listing {}: {e}", path.display())),
                };
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    return self.distrust(format!("a name in {dir:?} is not UTF-8"));
                };
                let child = join(&dir, &name);
                // Not following symlinks: a link to a directory is an entry, not a tree.
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if record {
                    self.record(child.clone());
                    if self.untrusted.is_some() {
                        return;
                    }
                }
                if is_dir {
                    pending.push(child);
                }
            }
        }
    }

    /// The verdict at the end.
    fn conclude(&mut self) -> Changes {
        if let Some(reason) = &self.untrusted {
            return Changes::Untrusted(reason.clone());
        }
        let now = std::fs::symlink_metadata(&self.root)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if now.is_none() || now != self.root_id {
            return Changes::Untrusted("the root was removed, moved or replaced".to_owned());
        }
        self.prune_missing();
        for path in &self.changed {
            if !is_safe(path) {
                return Changes::Untrusted(format!("unsafe changed path {path:?}"));
            }
            // A write through one name of a hard-linked file changes the others,
            // which no event names: only a whole-tree sync keeps them right.
            if let Ok(meta) = std::fs::symlink_metadata(self.root.join(path))
                && meta.is_file()
                && meta.nlink() > 1
            {
                return Changes::Untrusted(format!("changed file {path:?} has hard links"));
            }
        }
        Changes::Tracked(self.changed.iter().cloned().collect())
    }
}

impl Watcher {
    /// Keeps, of the paths gone from the (frozen) tree, only the topmost of each gone
    /// subtree: deleting it at the destination deletes the rest, and rsync would call
    /// a path whose parent is gone "vanished".
    fn prune_missing(&mut self) {
        let exists =
            |path: &str| path == "." || std::fs::symlink_metadata(self.root.join(path)).is_ok();
        let mut kept = BTreeSet::new();
        for path in &self.changed {
            if exists(path) {
                kept.insert(path.clone());
                continue;
            }
            // Up to the topmost gone ancestor, whose parent is still there.
            let mut top = path.as_str();
            while let Some((parent, _)) = top.rsplit_once('/') {
                if exists(parent) {
                    break;
                }
                top = parent;
            }
            kept.insert(top.to_owned());
        }
        self.changed = kept;
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a changed path stays inside the tree: relative, no empty, `.` or `..`
/// component (`.` alone is the root).
pub(crate) fn is_safe(path: &str) -> bool {
    path == "."
        || (!path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0')))
}

#[cfg(test)]
mod tests {
    use super::is_safe;

    #[test]
    fn only_paths_inside_the_tree_are_safe() {
        assert!(is_safe("."));
        assert!(is_safe("www/index.php"));
        assert!(is_safe("a name with\nnewline"));
        assert!(is_safe("..hidden"));
        assert!(!is_safe("../etc/passwd"));
        assert!(!is_safe("www/../../x"));
        assert!(!is_safe("/etc/passwd"));
        assert!(!is_safe("www//x"));
        assert!(!is_safe("./x"));
        assert!(!is_safe(""));
    }
}
