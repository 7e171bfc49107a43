//! Given/when/then for the data mover's policy, with no server.

use super::*;
use ferry_core::scenario::given_view;
use ferry_events::{
    AccountAdded, AccountMoveStarted, Actor, MigrationCancelled, MigrationOpened, ServerRegistered,
    ServerStorage, TransitInstallationCompleted, TransitServerAdded, TransitServerAssigned,
};

fn m() -> Uuid {
    Uuid::from_u128(9)
}

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    Envelope::new(aggregate_id, event, m(), Uuid::nil(), Actor::system("test"))
}

fn storage(root: &str) -> ServerStorage {
    ServerStorage {
        files_root: format!("{root}/files"),
        mail_root: format!("{root}/mail"),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

fn account(id: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: id.into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![],
        languages: vec![],
    }
}

fn history(with_transit: bool) -> Vec<Envelope> {
    let registered = ServerRegistered {
        server_id: "srv-1".into(),
        name: "srv-1.example".into(),
        kind: ferry_events::ServerKind::Vps,
        configuration: "vps-4c".into(),
        infrastructure_version: "v2019".into(),
        ipv4: vec![],
        ipv6: vec![],
        monthly_price: ferry_events::Money {
            amount_cents: 1000,
            currency: "EUR".into(),
        },
        customer_id: "c-1".into(),
        contact_email: "a@example.com".into(),
        locale: "fr".into(),
        storage: storage("/srv"),
    };
    let mut events = vec![
        envelope("srv-1", registered),
        envelope(
            "srv-1",
            AccountAdded {
                account: account("acc-1"),
            },
        ),
        envelope(
            "tr-1",
            TransitServerAdded {
                name: "tr-1".into(),
                configuration: "vps-4c".into(),
                infrastructure_version: "v2026".into(),
                ipv4: vec![],
                ipv6: vec![],
                storage: storage("/transit"),
            },
        ),
        envelope(
            &m().to_string(),
            MigrationOpened {
                migration_id: m(),
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v2019".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into()],
            },
        ),
    ];
    if with_transit {
        events.push(envelope(
            &m().to_string(),
            TransitServerAssigned {
                transit_server_id: "tr-1".into(),
            },
        ));
    }
    events
}

#[test]
fn an_installed_transit_server_gets_every_account_pre_copied() {
    let installed = envelope("tr-1", TransitInstallationCompleted { migration_id: m() });
    let commands = given_view::<MoverPolicy>(&history(true))
        .when(&installed)
        .commands();
    let [MoverCommand::Schedule(scheduled)] = commands.as_slice() else {
        panic!("one pre-copy scheduled: {commands:?}");
    };
    assert_eq!(scheduled.kind, TransferKind::PreCopy);
    assert_eq!(
        scheduled.transfer_id,
        reaction_id(NAME, installed.event_id, "pre-copy")
    );
    assert_eq!(scheduled.source.storage, storage("/srv"));
    assert_eq!(scheduled.destination.server_id, "tr-1");
    assert_eq!(scheduled.accounts, vec![account("acc-1")]);
}

#[test]
fn a_move_of_an_account_the_server_does_not_have_is_a_missing_fact() {
    let moved = envelope(
        &m().to_string(),
        AccountMoveStarted {
            account_id: "acc-9".into(),
            transfer_id: Uuid::from_u128(5),
            estimated_downtime_ms: 0,
        },
    );
    given_view::<MoverPolicy>(&history(true))
        .when(&moved)
        .then_missing("account acc-9 is not on server srv-1");
}

#[test]
fn a_cancelled_migration_without_a_transit_server_tears_nothing_down() {
    let cancelled = envelope(
        &m().to_string(),
        MigrationCancelled {
            reason: "no".into(),
        },
    );
    given_view::<MoverPolicy>(&history(false))
        .when(&cancelled)
        .then_nothing();
    let commands = given_view::<MoverPolicy>(&history(true))
        .when(&cancelled)
        .commands();
    assert_eq!(commands.len(), 2, "both ways: {commands:?}");
}

#[test]
fn an_installation_completed_before_the_migration_records_its_transit_server_is_pre_copied_there() {
    // The transit pool completes an instant installation before the accounts service
    // records the assignment on the migration: the event names the transit server.
    let installed = envelope("tr-1", TransitInstallationCompleted { migration_id: m() });
    let commands = given_view::<MoverPolicy>(&history(false))
        .when(&installed)
        .commands();
    let [MoverCommand::Schedule(scheduled)] = commands.as_slice() else {
        panic!("one pre-copy scheduled: {commands:?}");
    };
    assert_eq!(scheduled.destination.server_id, "tr-1");
    assert_eq!(scheduled.destination.storage, storage("/transit"));
}

/// A transfer scheduled to `to`, of `kind`, for srv-1's `accounts`.
fn scheduled_to(to: &str, kind: TransferKind, accounts: &[&str]) -> Envelope {
    let transfer_id = Uuid::now_v7();
    let scheduled = TransferScheduled {
        transfer_id,
        kind,
        migration_id: Some(m()),
        server_id: "srv-1".into(),
        accounts: accounts.iter().map(|a| account(a)).collect(),
        source: Endpoint {
            server_id: "srv-1".into(),
            storage: storage("/srv"),
        },
        destination: Endpoint {
            server_id: to.into(),
            storage: storage("/transit"),
        },
    };
    envelope(&transfer_id.to_string(), scheduled)
}

#[test]
fn a_wipe_erases_every_account_copied_to_the_transit_server_since_its_last_wipe() {
    let mut log = history(true);
    log.push(scheduled_to(
        "tr-1",
        TransferKind::PreCopy,
        &["acc-1", "acc-2"],
    ));
    log.push(scheduled_to("tr-1", TransferKind::Cutover, &["acc-3"]));
    // Neither lands on tr-1: a pre-copy back to the client server, a test copy.
    log.push(scheduled_to("srv-1", TransferKind::PreCopy, &["acc-8"]));
    log.push(scheduled_to("tr-1", TransferKind::TestCopy, &["acc-9"]));
    let wipe_started = envelope(
        "tr-1",
        ferry_events::TransitServerWipeStarted {
            expected_duration_ms: 1,
        },
    );
    let commands = given_view::<MoverPolicy>(&log)
        .when(&wipe_started)
        .commands();
    let [MoverCommand::Schedule(wipe)] = commands.as_slice() else {
        panic!("one wipe scheduled: {commands:?}");
    };
    assert_eq!(wipe.kind, TransferKind::Wipe);
    assert_eq!(
        wipe.transfer_id,
        reaction_id(NAME, wipe_started.event_id, "wipe")
    );
    assert_eq!(
        (wipe.source.clone(), wipe.server_id.as_str()),
        (wipe.destination.clone(), "tr-1")
    );
    assert_eq!(wipe.destination.storage, storage("/transit"));
    let ids: Vec<&str> = wipe
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    assert_eq!(ids, ["acc-1", "acc-2", "acc-3"]);

    // Once wiped, the next wipe has nothing of theirs to erase (it still checks).
    log.push(wipe_started.clone());
    log.push(envelope("tr-1", ferry_events::TransitServerWiped {}));
    log.push(scheduled_to("tr-1", TransferKind::Cutover, &["acc-4"]));
    let again = envelope(
        "tr-1",
        ferry_events::TransitServerWipeStarted {
            expected_duration_ms: 1,
        },
    );
    let commands = given_view::<MoverPolicy>(&log).when(&again).commands();
    let [MoverCommand::Schedule(wipe)] = commands.as_slice() else {
        panic!("one wipe scheduled: {commands:?}");
    };
    let ids: Vec<&str> = wipe
        .accounts
        .iter()
        .map(|a| a.account_id.as_str())
        .collect();
    assert_eq!(ids, ["acc-4"]);
}

#[test]
fn a_wipe_of_a_transit_server_never_added_is_a_missing_fact() {
    let wipe_started = envelope(
        "tr-7",
        ferry_events::TransitServerWipeStarted {
            expected_duration_ms: 1,
        },
    );
    given_view::<MoverPolicy>(&history(true))
        .when(&wipe_started)
        .then_missing("tr-7");
}

#[test]
fn a_retried_pre_copy_is_scheduled_as_the_transfer_it_names_to_where_the_failed_one_went() {
    // The history adds tr-1 and assigns it to the migration.
    let log = history(true);
    for (destination, from, to) in [
        (PreCopyDestination::TransitServer, "srv-1", "tr-1"),
        (PreCopyDestination::ClientServer, "tr-1", "srv-1"),
    ] {
        let retried = envelope(
            &m().to_string(),
            ferry_events::PreCopyRetried {
                transfer_id: Uuid::from_u128(77),
                destination,
                attempt: 2,
            },
        );
        let commands = given_view::<MoverPolicy>(&log).when(&retried).commands();
        let [MoverCommand::Schedule(scheduled)] = commands.as_slice() else {
            panic!("one pre-copy scheduled: {commands:?}");
        };
        assert_eq!(scheduled.transfer_id, Uuid::from_u128(77));
        assert_eq!(scheduled.kind, TransferKind::PreCopy);
        assert_eq!(
            (
                scheduled.source.server_id.as_str(),
                scheduled.destination.server_id.as_str()
            ),
            (from, to)
        );
    }
}

#[test]
fn a_transfer_called_off_by_support_is_aborted() {
    let aborted = envelope(
        &m().to_string(),
        ferry_events::AccountTransferAborted {
            account_id: "acc-1".into(),
            transfer_id: Uuid::from_u128(5),
            reason: "stuck".into(),
        },
    );
    given_view::<MoverPolicy>(&history(true))
        .when(&aborted)
        .then(vec![MoverCommand::AbortTransfer {
            transfer_id: Uuid::from_u128(5),
            reason: "stuck".into(),
        }]);
}
