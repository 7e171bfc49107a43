//! Files and mails copied with rsync, against real directories, each fault for real:
//! a killed rsync, a full filesystem, a corrupted destination, a missing source.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ferry_data_mover::files::{self, FileError, PARTIAL_DIR, SyncOptions, TreeSize, VerifyOptions};

const MIB: u64 = 1024 * 1024;

/// A unique scratch directory, removed (and unmounted below) when dropped.
struct Scratch {
    root: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("ferry-files-{name}-{}", uuid::Uuid::now_v7()));
        fs::create_dir_all(&root).expect("create scratch dir");
        Self {
            root,
            mounts: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn str(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for mount in &self.mounts {
            let _ = Command::new("umount").arg(mount).status();
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Deterministic pseudo-random bytes (xorshift), distinct per seed.
fn bytes(len: u64, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(usize::try_from(len).expect("length fits"));
    while (out.len() as u64) < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(usize::try_from(len).expect("length fits"));
    out
}

fn write(path: &Path, len: u64, seed: u64) {
    fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
    fs::write(path, bytes(len, seed)).expect("write file");
}

/// An account's tree: nested directories, ~6 MiB, a symlink and a hard link.
fn make_tree(root: &Path) {
    write(&root.join("www/index.php"), 12_345, 1);
    write(&root.join("www/assets/img/logo.png"), 2 * MIB, 2);
    write(&root.join("www/assets/css/site.css"), 40_000, 3);
    write(&root.join("www/uploads/2024/05/video.bin"), 3 * MIB, 4);
    write(&root.join("Maildir/cur/1700000000.M1.host:2,S"), 200_000, 5);
    write(&root.join("Maildir/new/1700000001.M2.host"), 150_000, 6);
    write(&root.join("logs/access.log"), 600_000, 7);
    for i in 0..20 {
        write(
            &root.join(format!("www/cache/entry-{i:02}.html")),
            5_000 + i * 100,
            100 + i,
        );
    }
    fs::create_dir_all(root.join("empty/dir")).expect("empty dir");
    std::os::unix::fs::symlink("assets/img/logo.png", root.join("www/logo.png")).expect("symlink");
    fs::hard_link(
        root.join("www/index.php"),
        root.join("www/index-hardlink.php"),
    )
    .expect("hard link");
}

/// `md5sum` of every regular file of a tree, with each entry's size and mtime: the
/// source's fingerprint, to prove it is never modified.
fn fingerprint(root: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | sort -z | xargs -0 md5sum; find . -printf '%p %s %T@ %y\\n' | sort")
        .current_dir(root)
        .output()
        .expect("fingerprint tree");
    assert!(output.status.success(), "fingerprint failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// rsync processes still running on this scratch directory.
fn rsync_processes(scratch: &Scratch) -> String {
    let output = Command::new("pgrep")
        .arg("-af")
        .arg(scratch.root.to_string_lossy().as_ref())
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains("rsync"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn first_sync_copies_the_tree_and_a_second_sends_only_the_change() {
    let scratch = Scratch::new("delta");
    let src = scratch.path("client/files/acct1");
    make_tree(&src);
    let before = fingerprint(&src);
    let size = TreeSize::measure(&scratch.str("client/files/acct1"))
        .await
        .expect("measure");
    assert_eq!(size.files, 28);
    assert_eq!(size.symlinks, 1);
    assert!(size.bytes > 5 * MIB, "tree of {} bytes", size.bytes);

    // The destination's parents do not exist yet.
    let dst = scratch.str("transit/files/acct1");
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress);
    let options = SyncOptions {
        on_progress: Some(Arc::new(move |p: files::TreeProgress| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((p.done, p.total));
            }
        })),
        bytes_total_hint: Some(size.bytes),
        ..SyncOptions::default()
    };
    let first = files::sync(&scratch.str("client/files/acct1"), &dst, &options)
        .await
        .expect("first sync");
    assert_eq!(fingerprint(&src), before, "the source was only read");
    eprintln!("first sync: {first:?}");
    assert_eq!(first.files_transferred, 28 - 1, "hard link sent once");
    assert_eq!(first.files_total, 28);
    assert!(first.literal_bytes >= size.bytes);
    for (done, total) in progress.lock().expect("progress").iter() {
        assert_eq!(*total, size.bytes);
        assert!(done <= total);
    }

    // Links survive: the symlink as a symlink, the hard link as one inode.
    let dst_path = PathBuf::from(&dst);
    assert_eq!(
        fs::read_link(dst_path.join("www/logo.png")).expect("symlink copied"),
        PathBuf::from("assets/img/logo.png")
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(dst_path.join("www/index.php"))
            .expect("file")
            .ino(),
        fs::metadata(dst_path.join("www/index-hardlink.php"))
            .expect("hard link")
            .ino()
    );
    assert!(dst_path.join("empty/dir").is_dir());

    let check = files::verify(
        &scratch.str("client/files/acct1"),
        &dst,
        &VerifyOptions::default(),
    )
    .await
    .expect("equal after the first sync");
    assert_eq!(check.files, 28);
    eprintln!("verify: {check:?}");

    // One file changes (new content, a bit longer: rsync's quick check compares sizes
    // and whole-second mtimes, and this test runs within the second): only it is sent.
    let changed = 41_000;
    write(&src.join("www/assets/css/site.css"), changed, 33);
    let before_second = fingerprint(&src);
    let second = files::sync(
        &scratch.str("client/files/acct1"),
        &dst,
        &SyncOptions::default(),
    )
    .await
    .expect("second sync");
    eprintln!(
        "second sync: {} bytes sent ({} literal) for a {}-byte change in a {}-byte tree: {second:?}",
        second.bytes_sent, second.literal_bytes, changed, size.bytes
    );
    assert_eq!(fingerprint(&src), before_second, "the source was only read");
    assert_eq!(second.files_transferred, 1);
    assert!(second.literal_bytes <= changed);
    assert!(
        second.bytes_sent < changed + 20_000,
        "sent {} bytes for a {changed}-byte change",
        second.bytes_sent
    );
    assert!(
        second.bytes_sent * 50 < size.bytes,
        "far below the tree size"
    );

    // A deleted source file goes at the destination too; an unchanged tree sends no file.
    fs::remove_file(src.join("logs/access.log")).expect("remove");
    let before_third = fingerprint(&src);
    let third = files::sync(
        &scratch.str("client/files/acct1"),
        &dst,
        &SyncOptions::default(),
    )
    .await
    .expect("third sync");
    assert_eq!(third.files_transferred, 0);
    assert_eq!(third.files_deleted, 1);
    assert!(!dst_path.join("logs/access.log").exists());
    files::verify(
        &scratch.str("client/files/acct1"),
        &dst,
        &VerifyOptions::default(),
    )
    .await
    .expect("equal after the third sync");

    assert_eq!(fingerprint(&src), before_third, "the source was only read");
}

#[tokio::test]
async fn a_corrupted_byte_with_the_same_size_and_mtime_is_found_by_checksum() {
    let scratch = Scratch::new("corrupt");
    let src = scratch.str("src");
    make_tree(&scratch.path("src"));
    let dst = scratch.str("dst");
    files::sync(&src, &dst, &SyncOptions::default())
        .await
        .expect("sync");
    files::verify(&src, &dst, &VerifyOptions::default())
        .await
        .expect("equal after sync");

    // Flip one byte in place, then give the file back its source's mtime.
    let target = scratch.path("dst/www/uploads/2024/05/video.bin");
    let original = fs::read(&target).expect("read");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&target)
        .expect("open");
    file.seek(SeekFrom::Start(1_000_000)).expect("seek");
    file.write_all(&[!original[1_000_000]]).expect("corrupt");
    drop(file);
    let touched = Command::new("touch")
        .arg("-r")
        .arg(scratch.path("src/www/uploads/2024/05/video.bin"))
        .arg(&target)
        .status()
        .expect("touch");
    assert!(touched.success());
    let (s, d) = (
        fs::metadata(scratch.path("src/www/uploads/2024/05/video.bin")).expect("src meta"),
        fs::metadata(&target).expect("dst meta"),
    );
    assert_eq!(s.len(), d.len());
    assert_eq!(s.modified().expect("mtime"), d.modified().expect("mtime"));

    // A plain (size and mtime) sync sees nothing to do; the checksum check does.
    let blind = files::sync(&src, &dst, &SyncOptions::default())
        .await
        .expect("sync");
    assert_eq!(blind.files_transferred, 0, "size+mtime cannot see it");
    match files::verify(&src, &dst, &VerifyOptions::default()).await {
        Err(FileError::Mismatch { differences }) => {
            eprintln!("mismatch: {differences:?}");
            assert_eq!(
                differences,
                vec!["content differs: www/uploads/2024/05/video.bin".to_owned()]
            );
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }

    // A checksum sync repairs it.
    let repair = SyncOptions {
        checksum: true,
        ..SyncOptions::default()
    };
    let repaired = files::sync(&src, &dst, &repair).await.expect("repair sync");
    assert_eq!(repaired.files_transferred, 1);
    files::verify(&src, &dst, &VerifyOptions::default())
        .await
        .expect("equal after the repair");

    // An extra file at the destination is a difference too.
    write(&scratch.path("dst/stray.txt"), 10, 9);
    match files::verify(&src, &dst, &VerifyOptions::default()).await {
        Err(FileError::Mismatch { differences }) => {
            assert!(
                differences.contains(&"only at destination: stray.txt".to_owned()),
                "{differences:?}"
            );
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn killing_rsync_mid_copy_is_interrupted_and_a_new_sync_resumes() {
    let scratch = Scratch::new("kill");
    let src_path = scratch.path("src");
    make_tree(&src_path);
    let big = 150 * MIB;
    {
        // 150 MiB, written in 1 MiB blocks of varied content.
        let mut file = fs::File::create(src_path.join("www/backup.tar")).expect("create big file");
        for block in 0..(big / MIB) {
            file.write_all(&bytes(MIB, 1000 + block))
                .expect("write big file");
        }
    }
    let src = scratch.str("src");
    let dst = scratch.str("dst/acct");
    let before = fingerprint(&src_path);

    // 30 MiB/s: about 5 s for the whole tree; cancelled once 20 MiB are across.
    let cancel = tokio_util::sync::CancellationToken::new();
    let done_seen = Arc::new(AtomicU64::new(0));
    let cancelled_at = Arc::new(Mutex::new(None));
    let (trigger, seen, at) = (
        cancel.clone(),
        Arc::clone(&done_seen),
        Arc::clone(&cancelled_at),
    );
    let options = SyncOptions {
        bwlimit_kib: Some(30 * 1024),
        on_progress: Some(Arc::new(move |p: files::TreeProgress| {
            let done = p.done;
            seen.store(done, Ordering::SeqCst);
            if done >= 20 * MIB && !trigger.is_cancelled() {
                if let Ok(mut at) = at.lock() {
                    *at = Some(Instant::now());
                }
                trigger.cancel();
            }
        })),
        cancel: cancel.clone(),
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let result = files::sync(&src, &dst, &options).await;
    let elapsed = started.elapsed();
    let stop_time = cancelled_at
        .lock()
        .expect("cancel time")
        .map(|at| at.elapsed());
    eprintln!(
        "cancelled after {elapsed:?} at {} bytes done, rsync gone {stop_time:?} after the cancel: {result:?}",
        done_seen.load(Ordering::SeqCst)
    );
    assert!(
        matches!(result, Err(FileError::Interrupted { .. })),
        "expected Interrupted, got {result:?}"
    );
    // Stopped early, not run to its end: the progress never got near the whole tree.
    assert!(
        done_seen.load(Ordering::SeqCst) < big,
        "stopped early, not at the end"
    );
    assert_eq!(rsync_processes(&scratch), "", "no rsync outlives the call");
    assert_eq!(fingerprint(&src_path), before, "source unchanged");
    // The interrupted file is not under its real name, but kept for the resume (the
    // partial dir sits in the file's own directory).
    let partial = scratch
        .path("dst/acct/www")
        .join(PARTIAL_DIR)
        .join("backup.tar");
    let kept = fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    eprintln!("partial file kept: {kept} bytes");
    assert!(kept > 0 && kept < big, "partial file of {kept} bytes");
    assert!(!scratch.path("dst/acct/www/backup.tar").exists());
    assert!(matches!(
        files::verify(&src, &dst, &VerifyOptions::default()).await,
        Err(FileError::Mismatch { .. })
    ));

    // A token already cancelled never starts rsync.
    let again = files::sync(&src, &dst, &options).await;
    assert!(matches!(again, Err(FileError::Interrupted { .. })));

    // A new sync completes, without any cleanup, and the copy verifies. With the delta
    // algorithm (as between servers), the partial file's bytes are not sent again.
    let resume_options = SyncOptions {
        force_delta: true,
        ..SyncOptions::default()
    };
    let resumed = files::sync(&src, &dst, &resume_options)
        .await
        .expect("resumed sync");
    eprintln!("resumed sync: {resumed:?}");
    assert!(
        resumed.literal_bytes < resumed.bytes_total - kept / 2,
        "resume re-sent {} of {} bytes though {kept} were kept",
        resumed.literal_bytes,
        resumed.bytes_total
    );
    let check = files::verify(&src, &dst, &VerifyOptions::default())
        .await
        .expect("equal after the resumed sync");
    assert_eq!(check.files, 29);
    assert!(
        !scratch.path("dst/acct/www").join(PARTIAL_DIR).exists(),
        "partial dir cleaned"
    );
    assert_eq!(fingerprint(&src_path), before, "source unchanged");
}

#[tokio::test]
async fn a_full_destination_disk_is_disk_full_not_success() {
    let mut scratch = Scratch::new("full");
    let mountpoint = scratch.path("small");
    fs::create_dir_all(&mountpoint).expect("mountpoint");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mountpoint)
        .output();
    // A test that cannot run fails, saying why: it never passes untested.
    match mounted {
        Ok(out) if out.status.success() => scratch.mounts.push(mountpoint.clone()),
        Ok(out) => panic!(
            "this test mounts a 2 MiB tmpfs to fill a disk (root or CAP_SYS_ADMIN needed), \
             and cannot here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("this test runs `mount` to fill a 2 MiB tmpfs, and cannot here: {e}"),
    }
    let src = scratch.str("src");
    make_tree(&scratch.path("src")); // ~6 MiB into 2 MiB
    let dst = scratch.str("small/acct");
    let result = files::sync(&src, &dst, &SyncOptions::default()).await;
    eprintln!("sync into 2 MiB: {result:?}");
    match &result {
        Err(err @ FileError::DiskFull { .. }) => {
            assert!(err.to_string().contains("full"));
            assert!(!err.is_retryable());
        }
        other => panic!("expected DiskFull, got {other:?}"),
    }
    assert!(matches!(
        files::verify(&src, &dst, &VerifyOptions::default()).await,
        Err(FileError::Mismatch { .. })
    ));
}

#[tokio::test]
async fn a_missing_source_is_source_missing() {
    let scratch = Scratch::new("missing");
    let src = scratch.str("no/such/account");
    let dst = scratch.str("dst/acct");
    let result = files::sync(&src, &dst, &SyncOptions::default()).await;
    assert!(
        matches!(&result, Err(FileError::SourceMissing { path, .. }) if *path == src),
        "got {result:?}"
    );
    assert!(
        !scratch.path("dst").exists(),
        "nothing created at the destination"
    );
    assert!(matches!(
        files::verify(&src, &dst, &VerifyOptions::default()).await,
        Err(FileError::SourceMissing { .. })
    ));
    assert!(matches!(
        TreeSize::measure(&src).await,
        Err(FileError::SourceMissing { .. })
    ));
    // A plain file is not a directory tree either.
    write(&scratch.path("file"), 10, 1);
    assert!(matches!(
        files::sync(&scratch.str("file"), &dst, &SyncOptions::default()).await,
        Err(FileError::SourceMissing { .. })
    ));
}
