//! Who may act on a server: its owner, the users it granted the server or an
//! account, support, ferry itself.

use super::{Allowed, Target};
use ferry_events::{Actor, GrantScope, Grants};

const SERVER: Target = Target::Server("srv-1");

struct Caller(Actor, Grants);

fn by(actor: Actor) -> Caller {
    Caller(actor, Grants::none())
}

fn granted(actor: Actor, scopes: &[GrantScope]) -> Caller {
    Caller(actor, scopes.iter().cloned().collect())
}

fn check(caller: &Caller, allowed: Allowed, owner: &str, target: Target) -> Result<(), String> {
    super::check(&caller.0, &caller.1, allowed, owner, target)
}

#[test]
fn the_owner_and_support_may_act_on_a_server_another_customer_may_not() {
    assert!(
        check(
            &by(Actor::customer("c-1")),
            Allowed::OwnerOrSupport,
            "c-1",
            SERVER
        )
        .is_ok()
    );
    assert!(
        check(
            &by(Actor::support("jdoe")),
            Allowed::OwnerOrSupport,
            "c-1",
            SERVER
        )
        .is_ok()
    );
    let refused = check(
        &by(Actor::customer("c-2")),
        Allowed::OwnerOrSupport,
        "c-1",
        SERVER,
    );
    assert!(refused.is_err_and(|reason| reason.contains("c-2 does not own")));
    assert!(
        check(
            &by(Actor::system("x")),
            Allowed::OwnerOrSupport,
            "c-1",
            SERVER
        )
        .is_err()
    );
}

#[test]
fn support_only_commands_refuse_customers_and_services() {
    assert!(check(&by(Actor::support("jdoe")), Allowed::Support, "c-1", SERVER).is_ok());
    assert!(check(&by(Actor::customer("c-1")), Allowed::Support, "c-1", SERVER).is_err());
    assert!(
        check(
            &by(Actor::system("accounts")),
            Allowed::Support,
            "c-1",
            SERVER
        )
        .is_err()
    );
}

#[test]
fn system_records_refuse_people() {
    assert!(
        check(
            &by(Actor::system("accounts")),
            Allowed::System,
            "c-1",
            SERVER
        )
        .is_ok()
    );
    assert!(check(&by(Actor::support("jdoe")), Allowed::System, "c-1", SERVER).is_err());
    assert!(
        check(
            &by(Actor::support("jdoe")),
            Allowed::SupportOrSystem,
            "c-1",
            SERVER
        )
        .is_ok()
    );
    assert!(
        check(
            &by(Actor::customer("c-1")),
            Allowed::SupportOrSystem,
            "c-1",
            SERVER
        )
        .is_err()
    );
}

#[test]
fn a_user_acts_on_what_its_customer_granted_it_and_nothing_else() {
    let alice = Actor::user("c-1", "alice");
    let server_grant = granted(alice.clone(), &[GrantScope::server("srv-1")]);
    assert!(check(&server_grant, Allowed::OwnerOrSupport, "c-1", SERVER).is_ok());
    assert!(
        check(
            &server_grant,
            Allowed::OwnerOrSupport,
            "c-1",
            Target::Account("srv-1", "acc-9")
        )
        .is_ok()
    );
    assert!(
        check(
            &server_grant,
            Allowed::OwnerOrSupport,
            "c-1",
            Target::Server("srv-2")
        )
        .is_err()
    );
    assert!(check(&server_grant, Allowed::Support, "c-1", SERVER).is_err());

    let account_grant = granted(alice.clone(), &[GrantScope::account("srv-1", "acc-1")]);
    let account = Target::Account("srv-1", "acc-1");
    assert!(check(&account_grant, Allowed::OwnerOrSupport, "c-1", account).is_ok());
    let other_account = check(
        &account_grant,
        Allowed::OwnerOrSupport,
        "c-1",
        Target::Account("srv-1", "acc-2"),
    );
    assert!(
        other_account.is_err_and(|r| r.contains("was not granted account acc-2 of server srv-1"))
    );
    let whole_server = check(&account_grant, Allowed::OwnerOrSupport, "c-1", SERVER);
    assert!(whole_server.is_err_and(|r| r.contains("was not granted server srv-1")));

    // The server changed hands: the grant no longer counts.
    assert!(check(&server_grant, Allowed::OwnerOrSupport, "c-7", SERVER).is_err());
    // Another customer's user holding the "same" grant is not c-1's user.
    let mallory = granted(
        Actor::user("c-7", "mallory"),
        &[GrantScope::server("srv-1")],
    );
    assert!(check(&mallory, Allowed::OwnerOrSupport, "c-1", SERVER).is_err());
    // No grant, no right.
    assert!(check(&by(alice), Allowed::OwnerOrSupport, "c-1", SERVER).is_err());
}

#[test]
fn a_user_granted_one_account_reads_its_server() {
    let alice = Actor::user("c-1", "alice");
    let grants: Grants = [GrantScope::account("srv-1", "acc-1")]
        .into_iter()
        .collect();
    assert!(super::check_read(&alice, &grants, "c-1", "srv-1").is_ok());
    assert!(super::check_read(&alice, &grants, "c-1", "srv-2").is_err());
    assert!(super::check_read(&alice, &grants, "c-7", "srv-1").is_err());
    assert!(super::check_read(&Actor::customer("c-1"), &Grants::none(), "c-1", "srv-1").is_ok());
    assert!(super::check_read(&Actor::customer("c-2"), &Grants::none(), "c-1", "srv-1").is_err());
}
