//! The tools' pipes: `producer | filter | consumer`, line by line, and `mariadb` at
//! the destination.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::BinlogCopy;
use crate::databases::{DbError, process};

impl BinlogCopy {
    /// `mariadb` at the destination (on `database` if given), not logging when both
    /// ends are one server.
    pub(super) fn loader(&self, database: Option<&str>) -> Command {
        let mut load = process::command("mariadb");
        self.dst.mysql_args(&mut load);
        if self.same_server {
            load.arg("--init-command=SET SESSION sql_log_bin = 0");
        }
        if let Some(database) = database {
            load.arg("--").arg(database);
        }
        load
    }
}

/// A line filter of [`relay`]: one input line (empty at the end) to the output.
type LineFilter<'a> = &'a mut (dyn FnMut(&[u8], &mut Vec<u8>) -> Result<(), DbError> + Send);

/// Runs `producer | filter | consumer` (or `producer | filter` with the output
/// dropped), line by line; returns the bytes given to the consumer. The tools must
/// succeed (the consumer's failure is reported first); the filter's error or
/// cancelling kills them.
pub(super) async fn relay(
    producer: (&'static str, Command),
    consumer: Option<(&'static str, Command)>,
    filter: LineFilter<'_>,
    cancel: &CancellationToken,
) -> Result<u64, DbError> {
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }
    let (ptool, mut pcmd) = producer;
    pcmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut pchild = process::spawn(ptool, &mut pcmd)?;
    let mut consumer = match consumer.map(start_consumer).transpose() {
        Ok(consumer) => consumer,
        Err(e) => {
            process::kill(&mut pchild).await;
            return Err(e);
        }
    };
    let pstderr = process::read_stderr(pchild.stderr.take());
    let to: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>> = match consumer.as_mut() {
        Some((_, child, _)) => child.stdin.take().map(|stdin| Box::new(stdin) as _),
        None => Some(Box::new(tokio::io::sink())),
    };
    let pumped = match (pchild.stdout.take(), to) {
        (Some(from), Some(to)) => tokio::select! {
            pumped = pump(from, to, filter) => pumped,
            () = cancel.cancelled() => Err(DbError::Interrupted),
        },
        _ => Err(DbError::Spawn {
            tool: ptool,
            reason: "no pipes".to_owned(),
        }),
    };
    let waited = match pumped {
        Ok(bytes) => tokio::select! {
            waited = wait_all(&mut pchild, consumer.as_mut()) => waited.map(|s| (bytes, s)),
            () = cancel.cancelled() => Err(DbError::Interrupted),
        },
        Err(e) => Err(e),
    };
    let (bytes, (pstatus, cstatus)) = match waited {
        Ok(waited) => waited,
        Err(e) => {
            process::kill(&mut pchild).await;
            if let Some((_, child, _)) = consumer.as_mut() {
                process::kill(child).await;
            }
            return Err(e);
        }
    };
    if let (Some((ctool, _, cstderr)), Some(cstatus)) = (consumer, cstatus) {
        process::check(ctool, cstatus, cstderr.await.unwrap_or_default())?;
    }
    process::check(ptool, pstatus, pstderr.await.unwrap_or_default())?;
    Ok(bytes)
}

/// A started consumer: its tool, process, and stderr tail.
type Consumer = (&'static str, process::Tool, JoinHandle<process::Stderr>);

fn start_consumer((tool, mut cmd): (&'static str, Command)) -> Result<Consumer, DbError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = process::spawn(tool, &mut cmd)?;
    let stderr = process::read_stderr(child.stderr.take());
    Ok((tool, child, stderr))
}

/// Waits for the producer and the consumer (if any) to end.
async fn wait_all(
    producer: &mut Child,
    consumer: Option<&mut Consumer>,
) -> Result<(std::process::ExitStatus, Option<std::process::ExitStatus>), DbError> {
    let failed = |e: std::io::Error| DbError::Io {
        context: "waiting for a tool".to_owned(),
        source: e,
    };
    match consumer {
        Some((_, child, _)) => {
            let (p, c) = tokio::join!(producer.wait(), child.wait());
            Ok((p.map_err(failed)?, Some(c.map_err(failed)?)))
        }
        None => Ok((producer.wait().await.map_err(failed)?, None)),
    }
}

/// Copies `from` to `to` through `filter`, line by line. Stops early (without error)
/// if the consumer stops reading: its exit status tells why.
async fn pump(
    from: ChildStdout,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    filter: LineFilter<'_>,
) -> Result<u64, DbError> {
    let mut reader = BufReader::with_capacity(1 << 16, from);
    let mut line = Vec::new();
    let mut out = Vec::new();
    let mut bytes = 0_u64;
    loop {
        line.clear();
        out.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| DbError::Io {
                context: "reading a tool's output".to_owned(),
                source,
            })?;
        filter(&line[..n], &mut out)?;
        if !out.is_empty() {
            if to.write_all(&out).await.is_err() {
                return Ok(bytes);
            }
            bytes += out.len() as u64;
        }
        if n == 0 {
            break;
        }
    }
    let _ = to.shutdown().await;
    Ok(bytes)
}
