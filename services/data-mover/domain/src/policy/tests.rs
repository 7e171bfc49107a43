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
