use super::*;

fn server_of(owner: &str) -> Option<ServerFacts> {
    Some(ServerFacts {
        owner: owner.into(),
        accounts: vec!["acc-1".into(), "acc-2".into()],
    })
}

fn grant_by(actor: Actor, scope: GrantScope) -> UserGrantsCommand {
    UserGrantsCommand::Grant {
        actor,
        customer_id: "c-42".into(),
        login: "alice".into(),
        scope,
        server: server_of("c-42"),
    }
}

fn revoke_by(actor: Actor, scope: GrantScope) -> UserGrantsCommand {
    UserGrantsCommand::Revoke {
        actor,
        customer_id: "c-42".into(),
        login: "alice".into(),
        scope,
    }
}

fn given(commands: &[UserGrantsCommand]) -> UserGrantsState {
    commands
        .iter()
        .fold(UserGrantsState::default(), |state, command| {
            let events = UserGrants::decide(&state, command).expect("accepted");
            events.iter().fold(state, UserGrants::evolve)
        })
}

fn refusal(state: &UserGrantsState, command: &UserGrantsCommand) -> UserGrantsRejection {
    UserGrants::decide(state, command).expect_err("refused")
}

#[test]
fn a_customer_grants_one_of_its_users_a_server_then_takes_it_back() {
    let owner = Actor::customer("c-42");
    let state = given(&[grant_by(owner.clone(), GrantScope::server("srv-1"))]);
    assert!(state.grants.covers_account("srv-1", "acc-2"));
    let events = UserGrants::decide(&state, &revoke_by(owner, GrantScope::server("srv-1")))
        .expect("revoked");
    let state = events.iter().fold(state, UserGrants::evolve);
    assert!(state.grants.is_empty());
}

#[test]
fn an_account_grant_covers_that_account_only() {
    let state = given(&[grant_by(
        Actor::support("jdoe"),
        GrantScope::account("srv-1", "acc-1"),
    )]);
    assert!(state.grants.covers_account("srv-1", "acc-1"));
    assert!(!state.grants.covers_account("srv-1", "acc-2"));
    assert!(!state.grants.covers_server("srv-1"));
}

#[test]
fn granting_again_or_revoking_what_is_not_held_changes_nothing() {
    let owner = Actor::customer("c-42");
    let state = given(&[grant_by(owner.clone(), GrantScope::server("srv-1"))]);
    let again = UserGrants::decide(
        &state,
        &grant_by(owner.clone(), GrantScope::server("srv-1")),
    );
    assert_eq!(again, Ok(vec![]));
    let absent = UserGrants::decide(&state, &revoke_by(owner, GrantScope::server("srv-9")));
    assert_eq!(absent, Ok(vec![]));
}

#[test]
fn another_customer_a_user_and_a_stranger_server_are_refused() {
    let state = UserGrantsState::default();
    let other = refusal(
        &state,
        &grant_by(Actor::customer("c-7"), GrantScope::server("srv-1")),
    );
    assert!(
        matches!(other, UserGrantsRejection::Forbidden(_)),
        "{other}"
    );
    let user = refusal(
        &state,
        &grant_by(Actor::user("c-42", "alice"), GrantScope::server("srv-1")),
    );
    assert!(user.to_string().contains("may not grant"), "{user}");
    let not_theirs = refusal(
        &state,
        &UserGrantsCommand::Grant {
            actor: Actor::customer("c-42"),
            customer_id: "c-42".into(),
            login: "alice".into(),
            scope: GrantScope::server("srv-7"),
            server: server_of("c-7"),
        },
    );
    assert!(
        not_theirs.to_string().contains("is not customer c-42's"),
        "{not_theirs}"
    );
    let missing = refusal(
        &state,
        &UserGrantsCommand::Grant {
            actor: Actor::support("jdoe"),
            customer_id: "c-42".into(),
            login: "alice".into(),
            scope: GrantScope::server("srv-404"),
            server: None,
        },
    );
    assert_eq!(
        missing,
        UserGrantsRejection::NotFound("no server srv-404".into())
    );
    let no_account = refusal(
        &state,
        &grant_by(
            Actor::customer("c-42"),
            GrantScope::account("srv-1", "acc-9"),
        ),
    );
    assert_eq!(
        no_account,
        UserGrantsRejection::NotFound("no account acc-9 on server srv-1".into())
    );
}

#[test]
fn a_user_may_give_up_its_own_rights_but_not_anothers() {
    let state = given(&[grant_by(
        Actor::customer("c-42"),
        GrantScope::server("srv-1"),
    )]);
    let given_up = UserGrants::decide(
        &state,
        &revoke_by(Actor::user("c-42", "alice"), GrantScope::server("srv-1")),
    )
    .expect("given up");
    assert_eq!(given_up.len(), 1);
    let bob = refusal(
        &state,
        &revoke_by(Actor::user("c-42", "bob"), GrantScope::server("srv-1")),
    );
    assert!(matches!(bob, UserGrantsRejection::Forbidden(_)), "{bob}");
}

#[test]
fn malformed_logins_and_ids_are_refused_before_anything() {
    for login in ["", "a/b", "a b", "é", &"x".repeat(65)] {
        let command = UserGrantsCommand::Grant {
            actor: Actor::customer("c-42"),
            customer_id: "c-42".into(),
            login: login.into(),
            scope: GrantScope::server("srv-1"),
            server: server_of("c-42"),
        };
        let refused = refusal(&UserGrantsState::default(), &command);
        assert!(
            matches!(refused, UserGrantsRejection::Invalid(_)),
            "{login}: {refused}"
        );
    }
    let bad_server = refusal(
        &UserGrantsState::default(),
        &grant_by(Actor::customer("c-42"), GrantScope::server("../etc")),
    );
    assert!(
        matches!(bad_server, UserGrantsRejection::Invalid(_)),
        "{bad_server}"
    );
}

fn account(id: &str) -> ferry_events::AccountSpec {
    ferry_events::AccountSpec {
        account_id: id.into(),
        name: id.into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![],
        languages: vec![],
    }
}

#[test]
fn server_facts_follow_the_servers_events() {
    use ferry_events::{
        AccountAdded, AccountRemoved, Money, ServerDetailsChanged, ServerKind, ServerRegistered,
        ServerStorage,
    };
    let storage = ServerStorage {
        files_root: "/srv/files".into(),
        mail_root: "/srv/mail".into(),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    };
    let registered = ServerEvent::ServerRegistered(ServerRegistered {
        server_id: "srv-1".into(),
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps-4c-8g".into(),
        infrastructure_version: "v2020".into(),
        ipv4: vec![],
        ipv6: vec![],
        monthly_price: Money {
            amount_cents: 3000,
            currency: "EUR".into(),
        },
        customer_id: "c-42".into(),
        contact_email: "owner@bakery.example".into(),
        locale: "fr".into(),
        storage: storage.clone(),
    });
    let changed_hands = ServerEvent::ServerDetailsChanged(ServerDetailsChanged {
        name: "bakery.hosting.example".into(),
        kind: ServerKind::Vps,
        configuration: "vps-4c-8g".into(),
        ipv4: vec![],
        ipv6: vec![],
        monthly_price: Money {
            amount_cents: 3000,
            currency: "EUR".into(),
        },
        customer_id: "c-7".into(),
        contact_email: "owner@bakery.example".into(),
        locale: "fr".into(),
        storage,
    });
    let added = |id: &str| {
        ServerEvent::AccountAdded(AccountAdded {
            account: account(id),
        })
    };
    let removed = ServerEvent::AccountRemoved(AccountRemoved {
        account_id: "acc-1".into(),
    });
    assert_eq!(ServerFacts::from_events([&removed]), None);
    let (a1, a2) = (added("acc-1"), added("acc-2"));
    let facts = ServerFacts::from_events([&registered, &a1, &a2, &removed]).expect("registered");
    assert_eq!(facts.owner, "c-42");
    assert_eq!(facts.accounts, ["acc-2"]);
    let facts = ServerFacts::from_events([&registered, &changed_hands]).expect("registered");
    assert_eq!(facts.owner, "c-7");
}
