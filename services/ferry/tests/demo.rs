//! `ferry demo seed`: the example fleet's files, mails and databases made real, once;
//! seeding again changes nothing; `--remove` takes exactly that away.

use ferry_infra::testkit;
use std::path::Path;
use uuid::Uuid;

async fn ferry(args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .await
        .expect("ferry runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "ferry {args:?}: {text}");
    text
}

async fn pg_databases(prefix: &str) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(&testkit::admin_database_url(), tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
            &[&format!("{prefix}%")],
        )
        .await
        .expect("counted")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_fleet_is_seeded_once_and_removed() {
    let tag = format!("dm{}", &Uuid::now_v7().simple().to_string()[26..]);
    let root = std::env::temp_dir().join(format!("ferry-demo-{tag}"));
    std::fs::create_dir_all(&root).expect("temp dir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml");
    let fleet = testkit::on_this_stack(&std::fs::read_to_string(example).expect("example fleet"))
        .replace("/var/tmp/ferry-demo", &root.display().to_string())
        .replace("?prefix=", &format!("?prefix={tag}"));
    let path = root.join("fleet.yaml");
    std::fs::write(&path, fleet).expect("written");
    let path = path.display().to_string();

    let seeded = ferry(&["demo", "seed", &path]).await;
    assert!(seeded.contains("3 databases"), "{seeded}");
    let index = root.join("srv-0042/files/bakery/index.html");
    assert!(index.is_file(), "the bakery's site is there");
    assert!(root.join("srv-0042/mail/bakery/Maildir/cur").is_dir());
    assert!(root.join("tr-0001/files").is_dir(), "transit roots exist");
    assert_eq!(pg_databases(&tag).await, 2, "bakery_shop and atelier_erp");

    // Again: nothing changes, nothing is overwritten.
    std::fs::write(&index, "edited by the customer").expect("edit");
    let again = ferry(&["demo", "seed", &path]).await;
    assert!(
        again.contains("created 0 directories and 0 databases"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(&index).expect("read"),
        "edited by the customer"
    );

    let removed = ferry(&["demo", "seed", &path, "--remove"]).await;
    assert!(removed.contains("3 databases"), "{removed}");
    assert!(!root.join("srv-0042/files/bakery").exists());
    assert!(
        root.join("srv-0042/files").is_dir(),
        "a root is never removed"
    );
    assert_eq!(pg_databases(&tag).await, 0);
    std::fs::remove_dir_all(&root).ok();
}
