//! Who may act on a server: its owner, support, ferry itself.

use super::*;

#[test]
fn the_owner_and_support_may_act_on_a_server_another_customer_may_not() {
    assert!(check(&Actor::customer("c-1"), Allowed::OwnerOrSupport, "c-1").is_ok());
    assert!(check(&Actor::support("jdoe"), Allowed::OwnerOrSupport, "c-1").is_ok());
    let refused = check(&Actor::customer("c-2"), Allowed::OwnerOrSupport, "c-1");
    assert!(refused.is_err_and(|reason| reason.contains("c-2 does not own")));
    assert!(check(&Actor::system("x"), Allowed::OwnerOrSupport, "c-1").is_err());
}

#[test]
fn support_only_commands_refuse_customers_and_services() {
    assert!(check(&Actor::support("jdoe"), Allowed::Support, "c-1").is_ok());
    assert!(check(&Actor::customer("c-1"), Allowed::Support, "c-1").is_err());
    assert!(check(&Actor::system("accounts"), Allowed::Support, "c-1").is_err());
}

#[test]
fn system_records_refuse_people() {
    assert!(check(&Actor::system("accounts"), Allowed::System, "c-1").is_ok());
    assert!(check(&Actor::support("jdoe"), Allowed::System, "c-1").is_err());
    assert!(check(&Actor::support("jdoe"), Allowed::SupportOrSystem, "c-1").is_ok());
    assert!(check(&Actor::customer("c-1"), Allowed::SupportOrSystem, "c-1").is_err());
}
