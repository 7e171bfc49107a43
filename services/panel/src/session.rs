//! Panel sessions: who signed in, in memory, behind an opaque cookie.
//!
//! Signing in presents a token of "Authentication and authorization" (ferry's own
//! API token, or the identity provider's JWT); the panel keeps it server-side for
//! the session and acts with it through the API, so the panel can do nothing the
//! token could not. The browser holds only a random session id (`HttpOnly`,
//! `SameSite=Strict`, path `/panel`). Every form carries the session's CSRF token,
//! compared in constant time; the sign-in form, before any session, a token of its
//! own cookie (double submit). Sessions end on sign-out, after
//! [`IDLE_TIMEOUT`] unused, or when ferry restarts (then one signs in again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ferry_panel";
/// The sign-in form's CSRF cookie.
pub const SIGN_IN_CSRF_COOKIE: &str = "ferry_panel_csrf";
/// The language cookie.
pub const LANG_COOKIE: &str = "ferry_lang";
/// A session unused this long is over.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// The most sessions kept: past it the least recently used go.
const MAX_SESSIONS: usize = 10_000;

/// 32 random bytes from the operating system, as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS's generator failing is not something a panel can work around.
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One signed-in person.
#[derive(Clone)]
pub struct Session {
    /// The token it acts with (never shown, never logged).
    pub token: String,
    /// Who the API says it is: `customer:c-42`, `support:jdoe`, `user:c-42/alice`.
    pub actor: String,
    /// Its CSRF token, in every form.
    pub csrf: String,
    /// A message for the next page (what the last action did, or why not).
    pub flash: Option<Flash>,
    last_used: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether it is support's.
    pub fn is_support(&self) -> bool {
        self.actor.starts_with("support:")
    }

    /// The customer it acts for (a customer's own id, or a user's customer).
    pub fn customer(&self) -> Option<&str> {
        let (role, id) = self.actor.split_once(':')?;
        match role {
            "customer" => Some(id),
            "user" => id.split_once('/').map(|(customer, _)| customer),
            _ => None,
        }
    }
}

/// What the last action did, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Whether it failed.
    pub error: bool,
    /// What to say.
    pub text: String,
}

/// The sessions of this process. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session for `actor` acting with `token`; its id, for the cookie.
    pub fn open(&self, token: String, actor: String) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| now.duration_since(s.last_used) < IDLE_TIMEOUT);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                token,
                actor,
                csrf: random_token(),
                flash: None,
                last_used: now,
            },
        );
        id
    }

    /// The session `id`, if it is alive; its flash is taken (shown once).
    pub fn take(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if now.duration_since(session.last_used) >= IDLE_TIMEOUT {
            sessions.remove(id);
            return None;
        }
        session.last_used = now;
        let found = session.clone();
        session.flash = None;
        Some(found)
    }

    /// Leaves `flash` for the session's next page.
    pub fn flash(&self, id: &str, flash: Flash) {
        if let Some(session) = self.lock().get_mut(id) {
            session.flash = Some(flash);
        }
    }

    /// Ends the session `id`.
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_closed_and_its_flash_is_shown_once() {
        let sessions = Sessions::default();
        let id = sessions.open("ferry_x".into(), "user:c-42/alice".into());
        assert_eq!(id.len(), 64);
        let session = sessions.take(&id).expect("alive");
        assert_eq!(session.customer(), Some("c-42"));
        assert!(!session.is_support());
        sessions.flash(
            &id,
            Flash {
                error: false,
                text: "done".into(),
            },
        );
        assert!(sessions.take(&id).expect("alive").flash.is_some());
        assert!(sessions.take(&id).expect("alive").flash.is_none());
        sessions.close(&id);
        assert!(sessions.take(&id).is_none());
        assert!(sessions.take("forged").is_none());
    }

    #[test]
    fn tokens_compare_whole_and_are_random() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert_ne!(random_token(), random_token());
    }
}
