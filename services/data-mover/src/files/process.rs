//! Running rsync: its output read as it comes, cancellation (a clean stop first, so
//! that the partial file is kept for a resume), and its exit status turned into a
//! [`FileError`]. The process mechanics (process group, signals, reading lines and
//! stderr's tail) are [`crate::process`]'s.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::FileError;
use crate::process::{TailSize, command, drive_or_stop, read_lines, read_tail, spawn};

/// How long rsync may take to stop cleanly (saving the partial file) once asked.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How much of standard error is kept for error messages.
const STDERR_TAIL: TailSize = TailSize {
    lines: 20,
    bytes: usize::MAX,
};

/// How one rsync run ended.
struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// The last lines of its standard error.
    pub stderr_tail: String,
    /// Whether the run was cancelled through the token.
    pub cancelled: bool,
}

/// Runs `program args` and turns its end into success or the matching error (see
/// [`Context`]), handing every line of standard output (split on `\n` and on
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
    ctx: &Context<'_>,
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&str) + Send),
) -> Result<(), FileError> {
    let finished = run_to_end(program, args, cancel, on_output).await?;
    classify(&finished, ctx)
}

async fn run_to_end(
    program: &str,
    args: &[String],
    cancel: &CancellationToken,
    on_output: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, FileError> {
    let mut cmd = command(program);
    cmd.args(args)
        // rsync's messages are parsed (e.g. "No space left on device"): no translation.
        .env("LC_ALL", "C")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd).map_err(|e| FileError::io(format!("starting {program}"), e))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(FileError::io(
            "reading rsync's output",
            std::io::Error::other("output not captured"),
        ));
    };

    let reads = async {
        tokio::join!(
            read_lines(stdout, on_output),
            read_tail(stderr, STDERR_TAIL, |_| {})
        )
    };
    let ((out, err), cancelled) = drive_or_stop(&mut child, reads, cancel, STOP_GRACE).await;
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

/// What rsync was doing, to name errors.
pub(crate) struct Context<'a> {
    /// The source tree as given.
    pub source: &'a str,
    /// The destination tree as given.
    pub destination: &'a str,
    /// Whether exit code 24 (source files vanished while copying a live tree) is a
    /// success.
    pub tolerate_vanished: bool,
}

/// Turns a finished run into success or the matching error.
fn classify(finished: &Finished, ctx: &Context<'_>) -> Result<(), FileError> {
    use std::os::unix::process::ExitStatusExt;

    let stderr = &finished.stderr_tail;
    if finished.cancelled {
        return Err(FileError::Interrupted {
            reason: "cancelled".to_owned(),
        });
    }
    let code = finished.status.code();
    if code == Some(0) || (ctx.tolerate_vanished && code == Some(24)) {
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
