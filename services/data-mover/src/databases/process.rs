//! The engines' command-line tools (`pg_dump`, `pg_restore`, `mariadb-dump`, `mariadb`,
//! `mariadb-binlog`) as child processes, on the shared mechanics of
//! [`crate::process`] (own process group, the whole group killed on cancellation,
//! `kill_on_drop` as a last resort, stderr's tail kept): this module owns what is
//! particular to databases: running one tool or a pipe of two to its end, passwords
//! only through the environment (see `endpoint`), and a tool's failure turned into a
//! [`DbError`] (a full disk recognised by [`crate::disk`]).

use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::process::{TailSize, read_tail};
pub(crate) use crate::process::{Tool, command, kill};

use super::DbError;

/// How much of a tool's stderr is kept for the error message.
const STDERR_TAIL: TailSize = TailSize {
    lines: usize::MAX,
    bytes: 2_000,
};

/// What a tool wrote on stderr: its tail, and whether it ran out of disk space.
#[derive(Debug, Default)]
pub(crate) struct Stderr {
    tail: String,
    disk_full: bool,
}

/// Reads a tool's stderr (if piped) in a task of its own.
pub(crate) fn read_stderr(
    pipe: Option<impl AsyncRead + Unpin + Send + 'static>,
) -> JoinHandle<Stderr> {
    tokio::spawn(async move {
        let mut out = Stderr::default();
        let Some(pipe) = pipe else { return out };
        let mut disk_full = false;
        let notice = |line: &str| disk_full |= crate::disk::says_disk_full(line);
        out.tail = read_tail(pipe, STDERR_TAIL, notice).await;
        out.disk_full = disk_full;
        out
    })
}

fn read_stdout(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out).await;
        }
        out
    })
}

/// Starts `cmd` (made by [`command`]); [`DbError::Spawn`] if it cannot.
pub(crate) fn spawn(tool: &'static str, cmd: &mut Command) -> Result<Tool, DbError> {
    crate::process::spawn(cmd).map_err(|e| DbError::Spawn {
        tool,
        reason: e.to_string(),
    })
}

/// The error for a tool that ended with `status`, if it failed.
pub(crate) fn check(tool: &'static str, status: ExitStatus, stderr: Stderr) -> Result<(), DbError> {
    if status.success() {
        return Ok(());
    }
    if stderr.disk_full {
        return Err(DbError::DiskFull {
            tool,
            stderr: stderr.tail,
        });
    }
    Err(DbError::Tool {
        tool,
        status: status.to_string(),
        stderr: stderr.tail,
    })
}

/// Runs one tool to its end, feeding it `stdin` if given; returns its stdout.
/// Cancelling kills it (and its workers) and returns [`DbError::Interrupted`].
pub(crate) async fn run(
    tool: &'static str,
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, DbError> {
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = spawn(tool, &mut cmd)?;
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(data)) => Some(tokio::spawn(async move {
            let _ = pipe.write_all(&data).await;
            let _ = pipe.shutdown().await;
        })),
        _ => None,
    };
    let stdout = read_stdout(child.stdout.take());
    let stderr = read_stderr(child.stderr.take());
    let Some(status) = crate::process::wait(&mut child, cancel).await else {
        return Err(DbError::Interrupted);
    };
    let status = status.map_err(|e| DbError::Spawn {
        tool,
        reason: e.to_string(),
    })?;
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    check(tool, status, stderr)?;
    Ok(stdout)
}

/// Runs `producer | consumer` (a dump piped into a loader), counting the bytes that
/// went through. Both must succeed; the consumer's failure is reported first (it is
/// usually the cause of the producer's broken pipe). Cancelling kills both.
pub(crate) async fn pipe(
    producer: (&'static str, Command),
    consumer: (&'static str, Command),
    cancel: &CancellationToken,
) -> Result<u64, DbError> {
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }
    let (ptool, mut pcmd) = producer;
    let (ctool, mut ccmd) = consumer;
    pcmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    ccmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut pchild = spawn(ptool, &mut pcmd)?;
    let mut cchild = match spawn(ctool, &mut ccmd) {
        Ok(child) => child,
        Err(e) => {
            kill(&mut pchild).await;
            return Err(e);
        }
    };
    let pstderr = read_stderr(pchild.stderr.take());
    let cstderr = read_stderr(cchild.stderr.take());
    let copier = match (pchild.stdout.take(), cchild.stdin.take()) {
        (Some(mut from), Some(mut to)) => tokio::spawn(async move {
            let copied = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
            copied.unwrap_or(0)
        }),
        _ => tokio::spawn(async { 0 }),
    };
    let (pstatus, cstatus) = tokio::select! {
        statuses = async { tokio::join!(pchild.wait(), cchild.wait()) } => statuses,
        () = cancel.cancelled() => {
            kill(&mut pchild).await;
            kill(&mut cchild).await;
            return Err(DbError::Interrupted);
        }
    };
    let bytes = copier.await.unwrap_or(0);
    let pstderr = pstderr.await.unwrap_or_default();
    let cstderr = cstderr.await.unwrap_or_default();
    let failed = |tool, e: std::io::Error| DbError::Spawn {
        tool,
        reason: e.to_string(),
    };
    let cstatus = cstatus.map_err(|e| failed(ctool, e))?;
    let pstatus = pstatus.map_err(|e| failed(ptool, e))?;
    check(ctool, cstatus, cstderr)?;
    check(ptool, pstatus, pstderr)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::disk::says_disk_full;

    #[test]
    fn recognises_disk_full_messages() {
        assert!(says_disk_full(
            "pg_restore: error: could not write to file: No space left on device"
        ));
        assert!(says_disk_full(
            "ERROR:  could not extend file \"base/1/2\": wrote only 4096 of 8192 bytes"
        ));
        assert!(says_disk_full(
            "ERROR 1114 (HY000) at line 40: The table `t` is full"
        ));
        assert!(!says_disk_full("ERROR: relation \"t\" does not exist"));
    }

    #[tokio::test]
    async fn a_failing_tool_reports_its_status_and_stderr() {
        let mut cmd = command("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let err = run("sh", cmd, None, &CancellationToken::new()).await;
        match err {
            Err(DbError::Tool { status, stderr, .. }) => {
                assert!(status.contains('3'), "{status}");
                assert_eq!(stderr, "boom");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn cancelling_kills_the_whole_group() {
        let cancel = CancellationToken::new();
        let mut cmd = command("sh");
        cmd.args(["-c", "sleep 30 & sleep 30; wait"]);
        let token = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            token.cancel();
        });
        let started = std::time::Instant::now();
        let err = run("sh", cmd, None, &cancel).await;
        assert!(matches!(err, Err(DbError::Interrupted)), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
