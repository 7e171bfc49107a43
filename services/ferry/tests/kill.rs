//! `ferry up` killed (SIGKILL) in the middle of a transfer, then started again on the
//! same database and stream: the data mover's worker gets the transfer back, runs it
//! again where the first run left it, and completes it; what arrived equals the
//! source. The transfer is srv-0042's pre-copy to its transit server, with real data:
//! 16 MiB of the bakery's files, copied by an `rsync` slowed down to 2 MiB/s so that
//! the kill lands mid-copy, and its PostgreSQL and MariaDB databases.

mod support;

use ferry::fleet;
use ferry_data_mover::databases::staging_name;
use ferry_events::{AggregateType, Event, TransferEvent, TransferKind, TransferPhase};
use ferry_infra::event_log::EventLog;
use ferry_infra::testkit::{TestStack, eventually, eventually_some};
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use support::*;
use uuid::Uuid;

/// The bakery's big files: 32 of 512 KiB.
const FILE: usize = 512 << 10;
const FILES: usize = 32;
/// The copy's speed, KiB/s: the 16 MiB take eight seconds.
const RSYNC_KIB_PER_SEC: u32 = 2048;
/// Files copied when the kill comes: the copy is well under way, far from done.
const KILLED_AFTER: u64 = 2 << 20;

/// `len` bytes no two files share and rsync cannot shrink (xorshift from `seed`).
fn content(seed: usize, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (seed as u64 + 1);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Every regular file under `root` by its path below it, with a hash of its content.
fn tree(root: &Path) -> BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, u64>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("an entry").path();
            let kind = std::fs::symlink_metadata(&path)
                .expect("metadata")
                .file_type();
            if kind.is_dir() {
                walk(root, &path, files);
            } else {
                let mut hasher = DefaultHasher::new();
                hasher.write(&std::fs::read(&path).expect("readable"));
                let name = path.strip_prefix(root).expect("below the root");
                files.insert(name.display().to_string(), hasher.finish());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

/// The pre-copy the data mover scheduled for `migration`, once it did.
async fn pre_copy_of(log: &EventLog, migration: Uuid) -> Option<Uuid> {
    let replay = log
        .replay_filtered(1, vec![log.type_filter(AggregateType::Transfer)])
        .await
        .ok()?;
    let pre_copies = replay.filter_map(|recorded| async move {
        match recorded.ok()?.envelope.event {
            Event::Transfer(TransferEvent::TransferScheduled(s))
                if s.kind == TransferKind::PreCopy && s.migration_id == Some(migration) =>
            {
                Some(s.transfer_id)
            }
            _ => None,
        }
    });
    std::pin::pin!(pre_copies).next().await
}

/// The runs that reported progress on a transfer, in the order they first did.
fn runs(events: &[Event]) -> Vec<Uuid> {
    let mut runs = Vec::new();
    for event in events {
        if let Event::Transfer(TransferEvent::TransferProgressed(p)) = event
            && let Some(run) = p.run_id
            && !runs.contains(&run)
        {
            runs.push(run);
        }
    }
    runs
}

/// The files copied so far, by the last progress a transfer reported on them.
fn files_done(events: &[Event]) -> Option<u64> {
    events.iter().rev().find_map(|e| match e {
        Event::Transfer(TransferEvent::TransferProgressed(p))
            if p.phase == TransferPhase::Files =>
        {
            Some(p.bytes_done)
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_up_killed_mid_transfer_completes_it_once_started_again() -> anyhow::Result<()> {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    // Declared before ferry: dropped (its databases with it) after ferry is stopped.
    let demo = Demo::new();
    demo.client_data().await?;
    for i in 0..FILES {
        write(
            &demo.path("srv-0042", &format!("files/bakery/media/f{i:02}.bin")),
            content(i, FILE),
        );
    }
    let mut fleet = demo.fleet()?;
    for server in &mut fleet.servers {
        for account in &mut server.registration.accounts {
            if account.name == "bakery" {
                account.files_bytes = (FILES * FILE) as u64;
            }
        }
    }
    let slow = ferry_infra::testkit::slow_rsync(&demo.root, RSYNC_KIB_PER_SEC);
    let options = |n: u32| UpOptions {
        env: [
            demo.ferry_env(),
            vec![
                ("FERRY_PROGRESS_SECS", "1".to_owned()),
                ("FERRY_LOG", "info".to_owned()),
            ],
        ]
        .concat(),
        path_first: Some(slow.clone()),
        log_file: Some(demo.root.join(format!("ferry-{n}.log"))),
    };

    // srv-0042's migration up to its transit server's installation, after which the
    // data mover pre-copies every account's files, mails and databases.
    let mut first = spawn_up(&stack, &options(1)).await;
    let (support, customer) = (
        first.api("support:jdoe").await,
        first.api("customer:c-42").await,
    );
    fleet::import(&support, &fleet).await?;
    let opened = customer
        .command(
            Method::POST,
            "/servers/srv-0042/migrations",
            Some(json!({ "target_version": "v2026" })),
        )
        .await?;
    let m: Uuid = opened["migration_id"].as_str().expect("an id").parse()?;
    wait_for_state(&log, m, "preparing").await;
    for account in ["acc-1207", "acc-1208"] {
        customer
            .command(
                Method::POST,
                &format!("/migrations/{m}/accounts/{account}/ready"),
                None,
            )
            .await?;
    }
    customer
        .command(
            Method::POST,
            &format!("/migrations/{m}/transit-request"),
            None,
        )
        .await?;
    wait_for_state(&log, m, "transit_requested").await;
    support
        .command(
            Method::POST,
            &format!("/migrations/{m}/obsolete-languages/removal"),
            None,
        )
        .await?;
    let transfer = eventually_some(60, || pre_copy_of(&log, m))
        .await
        .unwrap_or_else(|| panic!("no pre-copy scheduled; ferry said:\n{}", first.logs()));

    // Killed once the copy is under way: started, part of the files across.
    let under_way = eventually(60, || async {
        let events = transfer_events(&log, transfer).await;
        events
            .iter()
            .any(|e| matches!(e, Event::Transfer(TransferEvent::TransferStarted(_))))
            && events.iter().any(|e| {
                matches!(e, Event::Transfer(TransferEvent::TransferProgressed(p))
                    if p.phase == TransferPhase::Files && p.bytes_done >= KILLED_AFTER)
            })
    })
    .await;
    assert!(
        under_way,
        "the pre-copy got under way: {:?}\nferry said:\n{}",
        transfer_events(&log, transfer).await,
        first.logs()
    );
    first.crash().await;
    let left = transfer_events(&log, transfer).await;
    assert!(
        outcome(&left).is_none(),
        "the kill lands mid-transfer: {:?}",
        left.iter().map(Event::event_type).collect::<Vec<_>>()
    );
    let killed_run = runs(&left);

    // Started again on the same database and stream: the transfer completes.
    let second = spawn_up(&stack, &options(2)).await;
    let ended = eventually_some(TRANSFER_SECS, || async {
        outcome(&transfer_events(&log, transfer).await)
    })
    .await;
    let completed = match ended {
        Some(Ok(completed)) => completed,
        other => panic!(
            "the pre-copy did not complete after the restart: {other:?}\n\
             first ferry said:\n{}\nsecond ferry said:\n{}",
            first.logs(),
            second.logs()
        ),
    };
    let events = transfer_events(&log, transfer).await;
    let all_runs = runs(&events);
    eprintln!(
        "killed with {:?} of {} bytes of files across; runs {all_runs:?}; \
         completed having copied {} bytes",
        files_done(&left),
        FILES * FILE,
        completed.bytes_copied
    );
    assert!(
        all_runs.len() > killed_run.len() && all_runs.starts_with(&killed_run),
        "the restarted process ran it again: runs {all_runs:?}, {killed_run:?} before the kill"
    );

    // What arrived is the source: every file and mail, and both databases' rows.
    for tree_root in ["files", "mail"] {
        let source = tree(&demo.path("srv-0042", tree_root));
        let copy = tree(&demo.path("tr-0001", tree_root));
        assert_eq!(copy, source, "{tree_root} at the transit server");
    }
    assert_eq!(
        completed.database_methods.len(),
        2,
        "both databases follow their source: {completed:?}"
    );
    let shop = staging_name(&demo.db("tr-0001", "bakery_shop"));
    // Its logical replication keeps it up to date: read once it has caught up.
    assert!(
        eventually(30, || async { pg_rows(&shop).await == BAKERY_ROWS }).await,
        "{shop}: {} rows of {BAKERY_ROWS}",
        pg_rows(&shop).await
    );
    assert_eq!(
        my_rows(&staging_name(&demo.db("tr-0001", "blog_wp"))),
        BLOG_ROWS
    );
    second.stop().await;
    drop(demo);
    Ok(())
}
