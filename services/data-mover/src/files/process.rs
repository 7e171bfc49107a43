//! Running rsync as a child process: output read as it comes, cancellation, and the
//! exit status turned into a [`FileError`].

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::FileError;

/// How long rsync may take to stop cleanly (saving the partial file) once asked.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of standard error kept for error messages.
const STDERR_LINES: usize = 20;

/// How one rsync run ended.
pub(crate) struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// The last lines of its standard error.
    pub stderr_tail: String,
    /// Whether the run was cancelled through the token.
    pub cancelled: bool,
}

/// Runs `program args`, handing every line of standard output (split on `\n` and on
/// the `\r` of progress lines) to `on_output`.
///
/// rsync runs in its own process group, so that cancellation reaches all its
/// processes (local rsync forks a receiver; remote rsync runs `ssh`): they are asked
/// to stop (SIGTERM, which makes the receiver keep the partial file for a resume),
/// then killed after [`STOP_GRACE`]. The call returns only once every process holding
/// rsync's output has exited; if the call's future is dropped, `kill_on_drop` kills
/// rsync and its helpers exit on the broken pipe.
pub(crate) async fn run(
    program: &str,
    args: &[String],
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, FileError> {
    let mut child = Command::new(program)
        .args(args)
        // rsync's messages are parsed (e.g. "No space left on device"): no translation.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| FileError::io(format!("starting {program}"), e))?;
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(FileError::io(
            "reading rsync's output",
            std::io::Error::other("output not captured"),
        ));
    };

    let reads = async { tokio::join!(read_lines(stdout, on_output), read_tail(stderr)) };
    tokio::pin!(reads);
    let mut cancelled = false;
    let (out, err) = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            cancelled = true;
            if let Some(pid) = pid {
                signal_group(pid, "TERM").await;
            }
            match tokio::time::timeout(STOP_GRACE, &mut reads).await {
                Ok(done) => done,
                Err(_) => {
                    if let Some(pid) = pid {
                        signal_group(pid, "KILL").await;
                    }
                    let _ = child.start_kill();
                    reads.await
                }
            }
        }
        done = &mut reads => done,
    };
    let status = child
        .wait()
        .await
        .map_err(|e| FileError::io("waiting for rsync", e))?;
    out.map_err(|e| FileError::io("reading rsync's output", e))?;
    Ok(Finished {
        status,
        stderr_tail: err,
        cancelled,
    })
}

/// Sends a signal to rsync's process group, through `kill(1)` (this crate has no
/// unsafe code to call `kill(2)` itself). Errors are ignored: the group may be gone.
async fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Reads `stream` to its end, handing each non-empty line to `on_line`.
async fn read_lines(
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

/// Reads `stream` to its end, keeping its last [`STDERR_LINES`] lines.
async fn read_tail(stream: impl AsyncRead + Unpin) -> String {
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut keep = |line: &str| {
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        tail.push_back(line.trim_end().to_owned());
    };
    // A read error only shortens the tail.
    let _ = read_lines(stream, &mut keep).await;
    tail.into_iter().collect::<Vec<_>>().join("\n")
}

/// What rsync was doing, to name errors.
pub(crate) struct Context<'a> {
    /// The source tree as given.
    pub source: &'a str,
    /// The destination tree as given.
    pub destination: &'a str,
}

/// Turns a finished run into success or the matching error. Exit code 24 (source files
/// vanished while copying a live tree) is a success only if `tolerate_vanished`.
pub(crate) fn classify(
    finished: &Finished,
    ctx: &Context<'_>,
    tolerate_vanished: bool,
) -> Result<(), FileError> {
    use std::os::unix::process::ExitStatusExt;

    let stderr = &finished.stderr_tail;
    if finished.cancelled {
        return Err(FileError::Interrupted {
            reason: "cancelled".to_owned(),
        });
    }
    let code = finished.status.code();
    if code == Some(0) || (tolerate_vanished && code == Some(24)) {
        return Ok(());
    }
    if crate::disk::says_disk_full(stderr) {
        return Err(FileError::DiskFull {
            destination: ctx.destination.to_owned(),
            detail: stderr.clone(),
        });
    }
    if let Some(signal) = finished.status.signal() {
        return Err(FileError::Interrupted {
            reason: format!("rsync killed by signal {signal}"),
        });
    }
    if code == Some(20) {
        return Err(FileError::Interrupted {
            reason: "rsync received SIGINT, SIGTERM or SIGHUP".to_owned(),
        });
    }
    let source_dir = super::rsync::path_part(ctx.source).trim_end_matches('/');
    if matches!(code, Some(3 | 23))
        && stderr.contains("No such file or directory")
        && (stderr.contains(&format!("\"{source_dir}\""))
            || stderr.contains(&format!("\"{source_dir}/.\"")))
    {
        return Err(FileError::SourceMissing {
            path: ctx.source.to_owned(),
            detail: stderr.clone(),
        });
    }
    Err(FileError::Rsync {
        code,
        stderr_tail: stderr.clone(),
    })
}
