//! Test stand-ins for the tools the data mover runs, built from the real ones, and
//! the crash of a process a test started.

use std::path::{Path, PathBuf};

/// A directory under `dir` holding an `rsync` that is the real one (the first on
/// `PATH`) limited to `kib` KiB/s: put first on a transfer's `PATH`, it keeps a copy
/// under way long enough for a test to interrupt it. Panics if there is no rsync.
pub fn slow_rsync(dir: &Path, kib: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let real = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("rsync"))
        .find(|p| p.is_file())
        .expect("rsync on PATH");
    let bin = dir.join("slow-bin");
    std::fs::create_dir_all(&bin).expect("a directory for the slow rsync");
    let script = bin.join("rsync");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} --bwlimit={kib} \"$@\"\n",
            real.display()
        ),
    )
    .expect("the slow rsync written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("the slow rsync executable");
    bin
}

/// Kills `child` as a crash would (SIGKILL: nothing run on the way out) and reaps
/// it, within 10 s; panics otherwise.
pub async fn crash(child: &mut tokio::process::Child) {
    child.start_kill().expect("killed");
    tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("dies")
        .expect("reaped");
}
