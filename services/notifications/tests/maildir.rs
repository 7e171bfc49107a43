//! With no SMTP server configured, messages are written to the maildir, by default
//! `.ferry/maildir` under the working directory (its own test binary: it changes the
//! process's working directory).

mod support;

use clap::Parser;
use ferry_infra::testkit::TestStack;
use ferry_notifications::NotificationsArgs;
use std::time::Duration;
use support::smtp::read_maildir;
use support::{list, server_and_migration, start, until};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    notifications: NotificationsArgs,
}

#[tokio::test]
async fn without_smtp_messages_land_in_the_default_maildir() {
    let stack = TestStack::new().await;
    let work = std::env::temp_dir().join(format!("ferry-notify-cwd-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&work).expect("a working directory");
    std::env::set_current_dir(&work).expect("moved there");
    // SAFETY-free: no variable of the notifications is set in the test's environment.
    let cli = Cli::try_parse_from(["ferry"]).expect("defaults");
    assert_eq!(cli.notifications.smtp_url, None);
    let mut args = cli.notifications;
    args.poll_ms = 50;
    let running = start(&stack, args.settings().expect("settings")).await;
    let maildir = work.join(".ferry/maildir");
    for sub in ["new", "tmp", "cur"] {
        assert!(maildir.join(sub).is_dir(), "{sub}/ created");
    }
    server_and_migration(&stack, "fr").await;
    let mails = until("the message in the maildir", 30, || async {
        let mails = read_maildir(&maildir);
        (!mails.is_empty()).then_some(mails)
    })
    .await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.path.starts_with(maildir.join("new")));
    assert_eq!(mail.header("To"), Some("jane@example.org"));
    assert_eq!(mail.header("Content-Language"), Some("fr"));
    assert!(
        mail.header("Message-ID")
            .is_some_and(|id| id.ends_with("@localhost>"))
    );
    assert!(
        mail.header("Subject")
            .is_some_and(|s| s.contains("étape 1, préparation des comptes")),
        "{mail:?}"
    );
    assert!(
        mail.body.contains("Des serveurs de tests sont disponibles"),
        "{}",
        mail.body
    );
    assert_eq!(
        std::fs::read_dir(maildir.join("tmp"))
            .expect("tmp/")
            .count(),
        0
    );
    until("the message recorded sent", 30, || async {
        (list(&running.base, "").await.counts.sent == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(read_maildir(&maildir).len(), 1, "written once");
    running.stop().await.expect("stopped cleanly");
    std::env::set_current_dir(std::env::temp_dir()).ok();
    std::fs::remove_dir_all(&work).ok();
}
