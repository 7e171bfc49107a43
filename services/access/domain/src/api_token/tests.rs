use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

fn issue_by(actor: Actor, holder: Actor) -> ApiTokenCommand {
    ApiTokenCommand::Issue {
        actor,
        holder,
        label: "backup script".into(),
        expires_at: now() + Duration::days(90),
        secret_hash: HASH.into(),
        now: now(),
    }
}

fn given(commands: &[ApiTokenCommand]) -> ApiTokenState {
    commands
        .iter()
        .fold(ApiTokenState::default(), |state, command| {
            let events = ApiToken::decide(&state, command).expect("accepted");
            events.iter().fold(state, ApiToken::evolve)
        })
}

fn revoke_by(actor: Actor) -> ApiTokenCommand {
    ApiTokenCommand::Revoke {
        actor,
        reason: "lost laptop".into(),
    }
}

#[test]
fn support_issues_a_token_for_a_customer_accepted_until_it_expires() {
    let state = given(&[issue_by(Actor::support("jdoe"), Actor::customer("c-42"))]);
    let (holder, hash) = state.accepts(now()).expect("accepted");
    assert_eq!(holder, &Actor::customer("c-42"));
    assert_eq!(hash, HASH);
    assert_eq!(
        state.accepts(now() + Duration::days(90)),
        Err(TokenRefused::Expired(now() + Duration::days(90)))
    );
}

#[test]
fn the_hosts_operator_issues_the_first_support_token() {
    let state = given(&[issue_by(
        Actor::system("host-operator"),
        Actor::support("jdoe"),
    )]);
    assert!(state.accepts(now()).is_ok());
}

#[test]
fn a_customer_issues_tokens_for_itself_and_its_users_only() {
    let state = given(&[issue_by(Actor::customer("c-42"), Actor::customer("c-42"))]);
    assert!(state.accepts(now()).is_ok());
    let alice = Actor::user("c-42", "alice");
    let state = given(&[issue_by(Actor::customer("c-42"), alice.clone())]);
    assert_eq!(state.accepts(now()).map(|(holder, _)| holder), Ok(&alice));
    for holder in [
        Actor::customer("c-77"),
        Actor::support("c-42"),
        Actor::user("c-77", "alice"),
    ] {
        let refused = ApiToken::decide(
            &ApiTokenState::default(),
            &issue_by(Actor::customer("c-42"), holder),
        );
        assert!(
            matches!(refused, Err(ApiTokenRejection::Forbidden(_))),
            "{refused:?}"
        );
    }
}

#[test]
fn a_user_issues_and_revokes_its_own_tokens_and_its_customer_revokes_them_too() {
    let alice = Actor::user("c-42", "alice");
    let state = given(&[issue_by(alice.clone(), alice.clone())]);
    assert!(state.accepts(now()).is_ok());
    for holder in [Actor::customer("c-42"), Actor::user("c-42", "bob")] {
        let refused = ApiToken::decide(&ApiTokenState::default(), &issue_by(alice.clone(), holder));
        assert!(
            matches!(refused, Err(ApiTokenRejection::Forbidden(_))),
            "{refused:?}"
        );
    }
    let bob = ApiToken::decide(&state, &revoke_by(Actor::user("c-42", "bob")));
    assert_eq!(bob, Err(ApiTokenRejection::NotFound));
    let by_customer = ApiToken::decide(&state, &revoke_by(Actor::customer("c-42")));
    assert_eq!(by_customer.map(|events| events.len()), Ok(1));
    let by_alice = ApiToken::decide(&state, &revoke_by(alice));
    assert_eq!(by_alice.map(|events| events.len()), Ok(1));
}

#[test]
fn a_token_for_a_service_or_a_malformed_holder_is_invalid() {
    for holder in [
        Actor {
            role: ActorRole::User,
            id: "c-42".into(),
        },
        Actor::user("c-42", "a/b"),
        Actor::user("", "alice"),
        Actor::system("accounts"),
        Actor::customer(""),
        Actor::customer("c 42"),
        Actor::customer("-oProxyCommand=x"),
        Actor::support("a".repeat(65)),
    ] {
        let refused = ApiToken::decide(
            &ApiTokenState::default(),
            &issue_by(Actor::support("jdoe"), holder.clone()),
        );
        assert!(
            matches!(refused, Err(ApiTokenRejection::Invalid(_))),
            "{holder}: {refused:?}"
        );
    }
}

#[test]
fn a_token_expires_in_the_future_within_a_year_and_a_day_and_says_what_it_is_for() {
    let base = issue_by(Actor::support("jdoe"), Actor::customer("c-42"));
    let with = |label: &str, expires_at: DateTime<Utc>, hash: &str| match &base {
        ApiTokenCommand::Issue {
            actor, holder, now, ..
        } => ApiTokenCommand::Issue {
            actor: actor.clone(),
            holder: holder.clone(),
            label: label.into(),
            expires_at,
            secret_hash: hash.into(),
            now: *now,
        },
        ApiTokenCommand::Revoke { .. } => unreachable!("an issue"),
    };
    for command in [
        with("  ", now() + Duration::days(1), HASH),
        with("x", now(), HASH),
        with("x", now() + Duration::days(MAX_LIFETIME_DAYS + 1), HASH),
        with("x", now() + Duration::days(1), "plain text"),
        with(
            &"x".repeat(MAX_LABEL_CHARS + 1),
            now() + Duration::days(1),
            HASH,
        ),
    ] {
        let refused = ApiToken::decide(&ApiTokenState::default(), &command);
        assert!(
            matches!(refused, Err(ApiTokenRejection::Invalid(_))),
            "{command:?}"
        );
    }
}

#[test]
fn issuing_again_is_a_retry_and_another_token_under_the_same_id_a_conflict() {
    let state = given(&[issue_by(Actor::support("jdoe"), Actor::customer("c-42"))]);
    let again = ApiToken::decide(
        &state,
        &issue_by(Actor::support("jdoe"), Actor::customer("c-42")),
    );
    assert_eq!(again, Ok(vec![]));
    let other = ApiToken::decide(
        &state,
        &issue_by(Actor::support("jdoe"), Actor::customer("c-77")),
    );
    assert!(matches!(other, Err(ApiTokenRejection::Conflict(_))));
}

#[test]
fn a_revoked_token_is_refused_for_good_and_revoking_again_changes_nothing() {
    let state = given(&[
        issue_by(Actor::support("jdoe"), Actor::customer("c-42")),
        revoke_by(Actor::customer("c-42")),
    ]);
    assert_eq!(state.accepts(now()), Err(TokenRefused::Revoked));
    assert_eq!(
        ApiToken::decide(&state, &revoke_by(Actor::support("jdoe"))),
        Ok(vec![])
    );
}

#[test]
fn only_support_the_operator_or_the_holding_customer_revokes() {
    let state = given(&[issue_by(Actor::support("jdoe"), Actor::customer("c-42"))]);
    for actor in [
        Actor::support("amy"),
        Actor::system("host-operator"),
        Actor::customer("c-42"),
    ] {
        assert!(ApiToken::decide(&state, &revoke_by(actor)).is_ok());
    }
    assert_eq!(
        ApiToken::decide(&state, &revoke_by(Actor::customer("c-77"))),
        Err(ApiTokenRejection::NotFound)
    );
    let support_token = given(&[issue_by(Actor::support("jdoe"), Actor::support("amy"))]);
    assert_eq!(
        ApiToken::decide(&support_token, &revoke_by(Actor::customer("amy"))),
        Err(ApiTokenRejection::NotFound)
    );
}

#[test]
fn an_unknown_token_is_not_found_and_a_revocation_needs_a_reason() {
    assert_eq!(
        ApiToken::decide(
            &ApiTokenState::default(),
            &revoke_by(Actor::support("jdoe"))
        ),
        Err(ApiTokenRejection::NotFound)
    );
    assert_eq!(
        ApiTokenState::default().accepts(now()),
        Err(TokenRefused::Unknown)
    );
    let state = given(&[issue_by(Actor::support("jdoe"), Actor::customer("c-42"))]);
    let blank = ApiTokenCommand::Revoke {
        actor: Actor::support("jdoe"),
        reason: " ".into(),
    };
    assert!(matches!(
        ApiToken::decide(&state, &blank),
        Err(ApiTokenRejection::Invalid(_))
    ));
}
