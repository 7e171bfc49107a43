//! Running the copy tools (rsync, `pg_dump`, `pg_restore`, `mariadb`, `mariadb-dump`,
//! `mariadb-binlog`) as child processes: each in its own process group, so that
//! stopping it reaches its helpers too (rsync's receiver or `ssh`, `pg_restore -j`'s
//! workers); the group killed when its handle ([`Tool`]) is dropped, as a last resort,
//! and by the [`guardian`] when ferry dies, even killed; its output read line by line
//! and the end of its stderr kept for error messages.
//!
//! This module owns only these mechanics. What a tool's exit means, and the errors,
//! are its callers': [`crate::files`] (rsync's exit codes, [`crate::files::FileError`])
//! and [`crate::databases`] ([`crate::databases::DbError`]), with [`crate::disk`]
//! recognising a full disk in what the tools say.

pub(crate) mod guardian;

use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// A command for `program`, ready to be configured: in its own process group, killed
/// when dropped, no stdin. Start it with [`spawn`].
pub(crate) fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.kill_on_drop(true).process_group(0).stdin(Stdio::null());
    cmd
}

/// A running tool (a [`Child`] started by [`spawn`]): its process group is watched by
/// the [`guardian`] while it runs, and killed whole if it still runs when dropped.
#[derive(Debug)]
pub(crate) struct Tool {
    child: Child,
    _watch: Option<guardian::Watch>,
}

/// Starts `cmd` (made by [`command`]: it leads its own process group).
pub(crate) fn spawn(cmd: &mut Command) -> std::io::Result<Tool> {
    let child = cmd.spawn()?;
    let watch = child.id().map(guardian::watch);
    Ok(Tool {
        child,
        _watch: watch,
    })
}

impl Deref for Tool {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for Tool {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        // Still running (not reaped, so the group id is still its own): its helpers
        // go with it, not only the leader `kill_on_drop` reaches.
        if let Some(pgid) = self.child.id()
            && matches!(self.child.try_wait(), Ok(None))
        {
            signal_group(pgid, Signal::Kill);
        }
    }
}

/// A signal for a tool's process group.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// Asks it to stop cleanly (rsync then keeps the partial file for a resume).
    Term,
    /// Kills it.
    Kill,
}

/// Sends `signal` to the process group `pgid` (a child started by [`command`] leads
/// its own), with `kill(2)` through rustix's safe wrapper. Errors are ignored: the
/// group may be gone.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    let signal = match signal {
        Signal::Term => rustix::process::Signal::TERM,
        Signal::Kill => rustix::process::Signal::KILL,
    };
    // A pid that does not fit (or 0, which would mean our own group) is no child's.
    let Some(pgid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pgid, signal);
}

/// Kills a child and every process of its group, then reaps it.
pub(crate) async fn kill(child: &mut Child) {
    if let Some(pid) = child.id() {
        signal_group(pid, Signal::Kill);
    }
    let _ = child.kill().await;
}

/// Waits for `child` to end, unless `cancel` fires first: then its whole group is
/// killed and `None` returned.
pub(crate) async fn wait(
    child: &mut Child,
    cancel: &CancellationToken,
) -> Option<std::io::Result<ExitStatus>> {
    tokio::select! {
        status = child.wait() => Some(status),
        () = cancel.cancelled() => {
            kill(child).await;
            None
        }
    }
}

/// Drives `work` (reading a tool's output) to its end, unless `cancel` fires first:
/// then the group `pgid` is asked to stop (SIGTERM) and given `grace` to finish
/// `work`, then killed (SIGKILL, and `child` too) and `work` finished. Returns what
/// `work` returned and whether the run was cancelled.
pub(crate) async fn drive_or_stop<T>(
    child: &mut Child,
    work: impl Future<Output = T>,
    cancel: &CancellationToken,
    grace: Duration,
) -> (T, bool) {
    let pgid = child.id();
    tokio::pin!(work);
    tokio::select! {
        biased;
        () = cancel.cancelled() => {
            if let Some(pgid) = pgid {
                signal_group(pgid, Signal::Term);
            }
            let done = match tokio::time::timeout(grace, &mut work).await {
                Ok(done) => done,
                Err(_) => {
                    if let Some(pgid) = pgid {
                        signal_group(pgid, Signal::Kill);
                    }
                    let _ = child.start_kill();
                    work.await
                }
            };
            (done, true)
        }
        done = &mut work => (done, false),
    }
}

/// Reads `stream` to its end, handing each non-blank line (split on `\n` and on the
/// `\r` of progress lines) to `on_line`.
pub(crate) async fn read_lines(
    mut stream: impl AsyncRead + Unpin,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> std::io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(offset) = pending[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            emit(&pending[start..start + offset], on_line);
            start += offset + 1;
        }
        pending.drain(..start);
    }
    emit(&pending, on_line);
    Ok(())
}

fn emit(line: &[u8], on_line: &mut (dyn FnMut(&str) + Send)) {
    let line = String::from_utf8_lossy(line);
    if !line.trim().is_empty() {
        on_line(&line);
    }
}

/// How much of a tool's stderr [`read_tail`] keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailSize {
    /// The last lines, at most this many.
    pub lines: usize,
    /// At most this many bytes (the end of the text).
    pub bytes: usize,
}

/// Reads a tool's stderr to its end, handing each line to `on_line` (e.g. to notice a
/// full disk however long the output); returns its last lines, as [`TailSize`] says.
/// A read error only shortens the tail.
pub(crate) async fn read_tail(
    stream: impl AsyncRead + Unpin,
    size: TailSize,
    mut on_line: impl FnMut(&str) + Send,
) -> String {
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut held = 0_usize;
    let mut keep = |line: &str| {
        on_line(line);
        let line = line.trim_end().to_owned();
        held += line.len() + 1;
        tail.push_back(line);
        while tail.len() > size.lines || (tail.len() > 1 && held > size.bytes.saturating_add(1)) {
            if let Some(first) = tail.pop_front() {
                held -= first.len() + 1;
            }
        }
    };
    let _ = read_lines(stream, &mut keep).await;
    let text = tail.into_iter().collect::<Vec<_>>().join("\n");
    let text = text.trim();
    let mut start = text.len().saturating_sub(size.bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].trim_start().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn tail_of(text: &str, size: TailSize) -> String {
        read_tail(text.as_bytes(), size, |_| {}).await
    }

    #[tokio::test]
    async fn the_tail_keeps_the_last_lines_within_its_size() {
        let text = "one\ntwo\r\nthree\n\nfour  \n";
        let lines = TailSize {
            lines: 2,
            bytes: usize::MAX,
        };
        assert_eq!(tail_of(text, lines).await, "three\nfour");
        let bytes = TailSize {
            lines: usize::MAX,
            bytes: 12,
        };
        assert_eq!(tail_of(text, bytes).await, "three\nfour");
        let cut = TailSize {
            lines: usize::MAX,
            bytes: 3,
        };
        assert_eq!(tail_of("a long line\n", cut).await, "ine");
    }

    #[tokio::test]
    async fn every_line_is_seen_even_beyond_the_tail() {
        let mut seen = Vec::new();
        let size = TailSize { lines: 1, bytes: 8 };
        let tail = read_tail(&b"first\nsecond\n"[..], size, |l| seen.push(l.to_owned())).await;
        assert_eq!(tail, "second");
        assert_eq!(seen, ["first", "second"]);
    }

    #[tokio::test]
    async fn a_stop_asks_then_kills_the_group_and_finishes_the_work() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        // The shell ignores SIGTERM; its background sleep holds stdout open.
        let mut child = command("sh")
            .args(["-c", "trap '' TERM; sleep 30 & wait"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let stdout = child.stdout.take().expect("piped");
        let read = async { read_lines(stdout, &mut |_| {}).await.is_ok() };
        let started = std::time::Instant::now();
        let (read, cancelled) =
            drive_or_stop(&mut child, read, &cancel, Duration::from_millis(200)).await;
        assert!(read && cancelled);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            child.wait().await.expect("reaped").code().is_none(),
            "killed"
        );
    }
}
