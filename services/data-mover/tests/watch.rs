//! Watches of source trees (inotify) against real directories: what they record, the
//! final sync of only that with real rsync, and every case where they must say
//! "untrusted" rather than miss a change.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_data_mover::files::{
    self, Changes, SyncOptions, TreeSize, TreeWatch, VerifyOptions, WatchOptions,
};

/// A unique scratch directory, removed when dropped.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("ferry-watch-{name}-{}", uuid::Uuid::now_v7()));
        fs::create_dir_all(&root).expect("create scratch dir");
        Self { root }
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
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
    fs::write(path, text).expect("write file");
}

/// A small account tree: files in nested directories, a symlink.
fn make_tree(root: &Path) {
    write(&root.join("www/index.php"), "<?php echo 1;");
    write(&root.join("www/css/site.css"), "body {}");
    write(&root.join("www/old/a.txt"), "a");
    write(&root.join("www/old/deep/b.txt"), "b");
    write(&root.join("Maildir/cur/1:2,S"), "Subject: one");
    write(&root.join("Maildir/new/2"), "Subject: two");
    write(&root.join("logs/access.log"), "GET /");
    write(&root.join("top.txt"), "top");
    fs::create_dir_all(root.join("gone/inner")).expect("dir");
    write(&root.join("gone/inner/x"), "x");
    std::os::unix::fs::symlink("www/index.php", root.join("link.php")).expect("symlink");
}

async fn tracked(watch: TreeWatch) -> Vec<String> {
    match watch.finish().await {
        Changes::Tracked(paths) => paths,
        Changes::Untrusted(reason) => panic!("untrusted: {reason}"),
    }
}

async fn untrusted(watch: TreeWatch) -> String {
    match watch.finish().await {
        Changes::Tracked(paths) => panic!("trusted, with {} paths", paths.len()),
        Changes::Untrusted(reason) => reason,
    }
}

fn has(paths: &[String], wanted: &[&str]) {
    for path in wanted {
        assert!(paths.iter().any(|p| p == path), "{path} in {paths:?}");
    }
}

#[tokio::test]
async fn writes_deletes_renames_and_attributes_are_recorded_with_their_parents() {
    let scratch = Scratch::new("record");
    let src = scratch.path("src");
    make_tree(&src);
    let watch = TreeWatch::start(&scratch.str("src"), WatchOptions::default()).await;
    write(&src.join("www/index.php"), "<?php echo 2;");
    fs::remove_file(src.join("Maildir/new/2")).expect("delete");
    fs::rename(
        src.join("Maildir/cur/1:2,S"),
        src.join("Maildir/cur/1:2,ST"),
    )
    .expect("rename");
    fs::rename(src.join("logs/access.log"), src.join("www/moved.log")).expect("move across");
    let mut perms = fs::metadata(src.join("top.txt"))
        .expect("meta")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    fs::set_permissions(src.join("top.txt"), perms).expect("chmod");
    write(&src.join("new\nline.txt"), "a newline in its name");
    let paths = tracked(watch).await;
    has(
        &paths,
        &[
            ".",
            "www",
            "www/index.php",
            "Maildir/new",
            "Maildir/new/2",
            "Maildir/cur/1:2,S",
            "Maildir/cur/1:2,ST",
            "logs/access.log",
            "www/moved.log",
            "top.txt",
            "new\nline.txt",
        ],
    );
    assert!(!paths.iter().any(|p| p.starts_with("www/css")), "{paths:?}");
}

#[tokio::test]
async fn a_directory_created_and_filled_at_once_is_recorded_whole() {
    let scratch = Scratch::new("new-dir");
    let src = scratch.path("src");
    make_tree(&src);
    // Prepared outside the tree, moved in whole: no event names its contents.
    write(&scratch.path("outside/d1/d2/moved-in.txt"), "from outside");
    let watch = TreeWatch::start(&scratch.str("src"), WatchOptions::default()).await;
    for i in 0..20 {
        // Created and filled at once, several levels down, faster than a watch is added.
        write(&src.join(format!("up/{i}/a/b/c/file-{i}.txt")), "new");
    }
    fs::rename(scratch.path("outside/d1"), src.join("www/d1")).expect("move in");
    // A directory renamed within the tree: its later changes under the new name.
    fs::rename(src.join("www/old"), src.join("www/renamed")).expect("rename dir");
    write(&src.join("www/renamed/deep/after.txt"), "after the rename");
    let paths = tracked(watch).await;
    for i in 0..20 {
        has(&paths, &[&format!("up/{i}/a/b/c/file-{i}.txt")]);
    }
    has(
        &paths,
        &[
            "www/d1",
            "www/d1/d2",
            "www/d1/d2/moved-in.txt",
            "www/old",
            "www/renamed",
            "www/renamed/deep/after.txt",
        ],
    );
}

#[tokio::test]
async fn a_mark_forgets_what_changed_before_it() {
    let scratch = Scratch::new("mark");
    let src = scratch.path("src");
    make_tree(&src);
    let watch = TreeWatch::start(&scratch.str("src"), WatchOptions::default()).await;
    write(&src.join("before.txt"), "before");
    watch.mark().await;
    write(&src.join("www/after.txt"), "after");
    let paths = tracked(watch).await;
    assert_eq!(paths, vec!["www".to_owned(), "www/after.txt".to_owned()]);
}

/// Every kind of change, then only the changed paths synced: the trees end equal by
/// content, and rsync looked at those paths only.
#[tokio::test]
async fn a_sync_of_the_changed_paths_makes_the_trees_equal() {
    let scratch = Scratch::new("sync");
    let src = scratch.path("src");
    make_tree(&src);
    for i in 0..500 {
        write(&src.join(format!("Maildir/cur/{i}")), &format!("mail {i}"));
    }
    let (source, destination) = (scratch.str("src"), scratch.str("dst"));
    files::sync(&source, &destination, &SyncOptions::default())
        .await
        .expect("first sync");
    let watch = TreeWatch::start(&source, WatchOptions::default()).await;
    write(&src.join("www/index.php"), "<?php echo 'changed';");
    write(&src.join("new dir/sub/file"), "in a new directory");
    write(&src.join("two\nlines"), "a newline in the name");
    fs::remove_dir_all(src.join("gone")).expect("remove a non-empty dir");
    fs::rename(src.join("www/old"), src.join("www/renamed")).expect("rename dir");
    fs::remove_file(src.join("top.txt")).expect("file...");
    fs::create_dir_all(src.join("top.txt/now")).expect("...replaced by a directory");
    write(&src.join("top.txt/now/inside"), "x");
    fs::remove_file(src.join("www/css/site.css")).expect("delete");
    fs::remove_file(src.join("link.php")).expect("symlink...");
    std::os::unix::fs::symlink("www/renamed", src.join("link.php")).expect("...retargeted");
    let changed = tracked(watch).await;
    assert!(changed.len() < 40, "{changed:?}");
    let report = files::sync(
        &source,
        &destination,
        &SyncOptions {
            files_from: Some(changed.clone()),
            ..SyncOptions::default()
        },
    )
    .await
    .expect("sync of the changes");
    assert!(report.files_total < 20, "{report:?}");
    files::verify(&source, &destination, &VerifyOptions::default())
        .await
        .expect("the trees are equal by content");
    // The frozen check of a tracked tree: the changed paths by content, deletions too.
    let only = VerifyOptions {
        only: Some(changed.into_iter().filter(|p| p != ".").collect()),
        ..VerifyOptions::default()
    };
    files::verify(&source, &destination, &only)
        .await
        .expect("the changed paths check");
    assert_eq!(
        TreeSize::measure(&source).await.expect("measure"),
        TreeSize::measure(&destination).await.expect("measure")
    );
    // A deleted path still at the destination is found by the check of the changes.
    write(&scratch.path("dst/www/css/site.css"), "stale");
    let stale = VerifyOptions {
        only: Some(vec!["www/css/site.css".to_owned()]),
        ..VerifyOptions::default()
    };
    let error = files::verify(&source, &destination, &stale)
        .await
        .expect_err("a stale file");
    assert!(error.to_string().contains("www/css/site.css"), "{error}");
}

#[tokio::test]
async fn an_overflowing_event_queue_makes_the_watch_untrusted() {
    let scratch = Scratch::new("overflow");
    let src = scratch.path("src");
    make_tree(&src);
    let queue: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384);
    // Events are read only every few seconds: the queue fills up, as under a flood.
    let options = WatchOptions {
        max_changes: usize::MAX,
        read_delay: Duration::from_secs(5),
    };
    // Watched from the start (a directory created later would be listed, not flood).
    fs::create_dir_all(src.join("flood")).expect("dir");
    let watch = TreeWatch::start(&scratch.str("src"), options).await;
    // Each new file is a creation and a close after writing: two events.
    for i in 0..queue {
        fs::write(src.join(format!("flood/{i}")), b"").expect("write");
    }
    let reason = untrusted(watch).await;
    assert!(reason.contains("overflow"), "{reason}");
}

#[tokio::test]
async fn more_changes_than_allowed_make_the_watch_untrusted() {
    let scratch = Scratch::new("many");
    let src = scratch.path("src");
    make_tree(&src);
    let options = WatchOptions {
        max_changes: 10,
        ..WatchOptions::default()
    };
    let watch = TreeWatch::start(&scratch.str("src"), options).await;
    for i in 0..20 {
        write(&src.join(format!("www/{i}.html")), "page");
    }
    let reason = untrusted(watch).await;
    assert!(reason.contains("more than 10"), "{reason}");
}

#[tokio::test]
async fn a_moved_removed_or_missing_root_makes_the_watch_untrusted() {
    let scratch = Scratch::new("root");
    make_tree(&scratch.path("src"));
    let watch = TreeWatch::start(&scratch.str("src"), WatchOptions::default()).await;
    fs::rename(scratch.path("src"), scratch.path("elsewhere")).expect("move the root");
    make_tree(&scratch.path("src"));
    let reason = untrusted(watch).await;
    assert!(reason.contains("root"), "{reason}");

    let watch = TreeWatch::start(&scratch.str("elsewhere"), WatchOptions::default()).await;
    fs::remove_dir_all(scratch.path("elsewhere")).expect("remove the root");
    assert!(untrusted(watch).await.contains("root"));

    let watch = TreeWatch::start(&scratch.str("missing"), WatchOptions::default()).await;
    assert!(untrusted(watch).await.contains("root"));
}

#[tokio::test]
async fn a_changed_file_with_hard_links_makes_the_watch_untrusted() {
    let scratch = Scratch::new("hardlink");
    let src = scratch.path("src");
    make_tree(&src);
    fs::hard_link(src.join("www/index.php"), src.join("Maildir/cur/linked")).expect("link");
    let watch = TreeWatch::start(&scratch.str("src"), WatchOptions::default()).await;
    // Written through one name: the other, unnamed by any event, changed too.
    write(&src.join("www/index.php"), "<?php echo 'both';");
    let reason = untrusted(watch).await;
    assert!(reason.contains("hard links"), "{reason}");
}
