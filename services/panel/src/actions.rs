//! What each of the panel's buttons asks of the API: the API's route for an action
//! the API itself listed as allowed (`GET /migrations/{id}/actions`). Pure.

use axum::http::Method;
use serde_json::{Value, json};

/// Actions that cannot be taken back: the panel asks for a confirmation.
pub const IRREVERSIBLE: &[&str] = &[
    "move",
    "verify",
    "request-reinstall",
    "start-reinstall",
    "reinstalled",
    "relocate",
    "cancel",
    "abort",
];

/// The API request of `action` on migration `migration` (for `account`, an
/// account's action), with `reason` where one is asked and `version` for a
/// reinstall; `None` for an action the panel does not know.
pub fn request(
    action: &str,
    migration: &str,
    account: Option<&str>,
    reason: &str,
    version: &str,
) -> Option<(Method, String, Option<Value>)> {
    let m = format!("/migrations/{migration}");
    let a = |tail: &str| account.map(|acc| format!("{m}/accounts/{acc}/{tail}"));
    Some(match action {
        "check-compatibility" => (Method::POST, format!("{m}/compatibility-check"), None),
        "test" => (Method::POST, a("test")?, None),
        "discard-test" => (Method::DELETE, a("test")?, None),
        "ready" => (Method::POST, a("ready")?, None),
        "withdraw-readiness" => (Method::DELETE, a("ready")?, None),
        "request-transit" => (Method::POST, format!("{m}/transit-request"), None),
        "remove-languages" => (
            Method::POST,
            format!("{m}/obsolete-languages/removal"),
            None,
        ),
        "restore-languages" => (
            Method::DELETE,
            format!("{m}/obsolete-languages/removal"),
            None,
        ),
        "move" => (Method::POST, a("move")?, None),
        "verify" => (Method::POST, a("verification")?, None),
        "rollback" => (Method::POST, a("rollback")?, None),
        "request-reinstall" => (Method::POST, format!("{m}/reinstall-request"), None),
        "start-reinstall" => (Method::POST, format!("{m}/reinstall"), None),
        "reinstalled" => (
            Method::POST,
            format!("{m}/reinstall/done"),
            Some(json!({ "infrastructure_version": version })),
        ),
        "relocate" => (Method::POST, a("relocation")?, None),
        "retry-pre-copy" => (Method::POST, format!("{m}/pre-copy/retry"), None),
        "abort" => (Method::POST, a("abort")?, Some(json!({ "reason": reason }))),
        "cancel" => (
            Method::POST,
            format!("{m}/cancellation"),
            Some(json!({ "reason": reason })),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_names_its_route() {
        let (method, path, body) =
            request("ready", "m-1", Some("acc-1"), "", "v2026").expect("known");
        assert_eq!(
            (method, path.as_str(), body),
            (Method::POST, "/migrations/m-1/accounts/acc-1/ready", None)
        );
        let (method, _, body) = request("cancel", "m-1", None, "too soon", "").expect("known");
        assert_eq!(
            (method, body),
            (Method::POST, Some(json!({ "reason": "too soon" })))
        );
        assert!(
            request("ready", "m-1", None, "", "").is_none(),
            "an account's action needs one"
        );
        assert!(request("format-disk", "m-1", None, "", "").is_none());
    }
}
