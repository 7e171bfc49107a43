//! The guardian of the copy tools: a small shell process, one per ferry process,
//! that stops the tools' process groups when ferry dies, however it dies.
//!
//! A tool started by ferry runs in a process group of its own (with its helpers:
//! rsync's receiver and generator, `pg_restore -j`'s workers, `ssh`), so that ferry
//! can stop it whole; `kill_on_drop` and the cancellations stop it while ferry runs.
//! A ferry killed (SIGKILL, the OOM killer) runs none of that: its tools would go on
//! copying on their own, racing the next run. The kernel's parent-death signal
//! (`PR_SET_PDEATHSIG`) is no answer here: it needs code between fork and exec
//! (`unsafe`, which the workspace forbids), reaches the direct child only, not its
//! helpers, and fires when the *thread* that forked dies, not the process.
//!
//! So each group is told, as it starts and ends, to the guardian, through a pipe
//! whose only writer is ferry. When ferry dies the kernel closes the pipe; the
//! guardian reads its end and stops every group still running: SIGTERM first (rsync
//! then keeps its partial file for the resume), SIGKILL to what is left after
//! [`GRACE_TENTHS`] tenths of a second. A group is told to the guardian as long as
//! its leader is ferry's unreaped child, so its id cannot have been reused by then.
//! The guardian sits in a process group of its own and ignores the terminal's
//! signals, so a Ctrl-C or a SIGTERM to ferry's group leaves it to do its work.
//!
//! Emits and consumes no event type.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Tenths of a second the groups are given to stop on SIGTERM before SIGKILL.
pub(crate) const GRACE_TENTHS: u32 = 30;

/// The guardian: reads `+ <pgid>` and `- <pgid>` lines until end of file, then stops
/// the groups it holds.
fn script() -> String {
    format!(
        r#"trap '' INT TERM HUP QUIT
set --
while read -r op pgid; do
  case "$op" in
    +) set -- "$@" "$pgid" ;;
    -) kept=''
       for g in "$@"; do [ "$g" = "$pgid" ] || kept="$kept $g"; done
       set -- $kept ;;
  esac
done
[ "$#" -gt 0 ] || exit 0
for g in "$@"; do kill -TERM "-$g" 2>/dev/null; done
tries=0
while [ "$tries" -lt {GRACE_TENTHS} ]; do
  alive=''
  for g in "$@"; do kill -0 "-$g" 2>/dev/null && alive="$alive $g"; done
  [ -n "$alive" ] || exit 0
  sleep 0.1
  tries=$((tries + 1))
done
for g in $alive; do kill -KILL "-$g" 2>/dev/null; done
"#
    )
}

/// A running guardian and the writing end of its pipe.
#[derive(Debug)]
pub(crate) struct Guardian {
    process: Child,
    pipe: ChildStdin,
}

impl Guardian {
    /// Starts a guardian holding no group yet.
    pub(crate) fn start() -> std::io::Result<Self> {
        let mut process = Command::new("sh")
            .arg("-c")
            .arg(script())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = process
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the guardian's pipe was not opened"))?;
        Ok(Self { process, pipe })
    }

    /// Tells it that `pgid` runs (`true`) or ended (`false`).
    pub(crate) fn tell(&mut self, pgid: u32, running: bool) -> std::io::Result<()> {
        let op = if running { '+' } else { '-' };
        // One short line: a single write, atomic on a pipe.
        self.pipe.write_all(format!("{op} {pgid}\n").as_bytes())
    }

    /// Its process id.
    #[cfg(test)]
    pub(crate) fn id(&self) -> u32 {
        self.process.id()
    }

    /// Closes its pipe, as ferry's death would, and waits for it to end.
    #[cfg(test)]
    pub(crate) fn close(self) -> std::io::Result<std::process::ExitStatus> {
        let Self { mut process, pipe } = self;
        drop(pipe);
        process.wait()
    }
}

/// The groups running now and this process's guardian, started with the first tool.
#[derive(Debug)]
struct Watched {
    groups: BTreeSet<u32>,
    guardian: Option<Guardian>,
}

static WATCHED: Mutex<Watched> = Mutex::new(Watched {
    groups: BTreeSet::new(),
    guardian: None,
});

fn watched() -> MutexGuard<'static, Watched> {
    // A panic while holding it leaves a set still worth using.
    WATCHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Watched {
    /// Tells the guardian; one that is not there yet, or died, is started again and
    /// told every group running now.
    fn tell(&mut self, pgid: u32, running: bool) {
        if let Some(guardian) = self.guardian.as_mut()
            && guardian.tell(pgid, running).is_ok()
        {
            return;
        }
        if let Some(mut dead) = self.guardian.take() {
            let _ = dead.process.kill();
            let _ = dead.process.wait();
        }
        let started = Guardian::start().and_then(|mut guardian| {
            for &group in &self.groups {
                guardian.tell(group, true)?;
            }
            Ok(guardian)
        });
        match started {
            Ok(guardian) => self.guardian = Some(guardian),
            Err(e) => tracing::warn!(error = %e,
                "cannot start the guardian of the copy tools: a crash of ferry would leave them running"),
        }
    }
}

/// A tool's process group, watched by the guardian until this is dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    pgid: u32,
}

/// Watches the process group `pgid` (a tool just started, leading its own group).
pub(crate) fn watch(pgid: u32) -> Watch {
    let mut watched = watched();
    watched.groups.insert(pgid);
    watched.tell(pgid, true);
    Watch { pgid }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = watched();
        if watched.groups.remove(&self.pgid) {
            watched.tell(self.pgid, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Whether any live (not zombie) process is in group `pgid`.
    pub(crate) fn group_alive(pgid: u32) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ppid pgrp …`: comm may hold spaces, so read after ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    }

    fn group_of_sleepers(trap_term: bool) -> Child {
        let trap = if trap_term { "trap '' TERM; " } else { "" };
        Command::new("sh")
            .arg("-c")
            .arg(format!("{trap}sleep 60 & sleep 60 & wait"))
            .process_group(0)
            .spawn()
            .expect("sh starts")
    }

    #[test]
    fn the_guardian_stops_the_groups_it_holds_when_its_pipe_closes() {
        let mut guardian = Guardian::start().expect("the guardian starts");
        let (mut ended, mut running, mut deaf) = (
            group_of_sleepers(false),
            group_of_sleepers(false),
            group_of_sleepers(true),
        );
        for group in [&ended, &running, &deaf] {
            guardian.tell(group.id(), true).expect("told");
        }
        // A group told ended is left alone (its id could be another's by then).
        guardian.tell(ended.id(), false).expect("told");
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        assert!(guardian.close().expect("ends").success());
        let waited = started.elapsed();
        assert!(group_alive(ended.id()), "a group told ended is not touched");
        assert!(!group_alive(running.id()), "SIGTERM stops a running group");
        assert!(!group_alive(deaf.id()), "SIGKILL stops one deaf to SIGTERM");
        assert!(
            waited < Duration::from_secs(10),
            "within the grace: {waited:?}"
        );
        let _ = running.wait();
        let _ = deaf.wait();
        let _ = ended.kill();
        crate::process::signal_group(ended.id(), crate::process::Signal::Kill);
        let _ = ended.wait();
    }

    #[test]
    fn a_guardian_holding_nothing_ends_at_once() {
        let guardian = Guardian::start().expect("the guardian starts");
        let id = guardian.id();
        assert!(id > 0);
        let started = Instant::now();
        assert!(guardian.close().expect("ends").success());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
