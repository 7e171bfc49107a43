//! Connection URLs as text, read leniently: where the user info of a URL is, and the
//! three things ferry does with it — masking it for a message ([`redact_url`],
//! [`redact_url_with`]), taking a password out of it ([`strip_password`]) and putting
//! one back, in memory only, right before connecting ([`with_password`]).
//!
//! These never fail: they work on any text, including URLs recorded before the
//! strict checks of [`crate::input`] existed. The user info is what lies between
//! `scheme://` and the last `@` of the authority, the authority ending at the first
//! `/`, `?` or `#` (an `@` in the path or the query is not the user info's).

/// What a redaction hides of a URL's user info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInfo {
    /// Only the password (`postgres://ferry:***@db/x`): a database login is no secret.
    MaskPassword,
    /// The whole user info (`nats://***@nats:4222`): a NATS user may be a token.
    HideAll,
}

/// The pieces of a URL's authority, as byte ranges of the URL.
#[derive(Debug, Clone, Copy)]
struct Authority {
    /// Where the authority starts (right after `://`).
    start: usize,
    /// Where it ends (the first `/`, `?` or `#` after its start, or the end).
    end: usize,
    /// Where its last `@` is, if it has user info.
    at: Option<usize>,
}

impl Authority {
    fn of(url: &str) -> Option<Self> {
        let start = url.find("://")? + 3;
        let rest = &url[start..];
        let end = start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let at = url[start..end].rfind('@').map(|at| start + at);
        Some(Self { start, end, at })
    }

    /// `(user, password)` as written (percent-encoded), if the URL has user info.
    fn user_info<'a>(&self, url: &'a str) -> Option<(&'a str, Option<&'a str>)> {
        let info = &url[self.start..self.at?];
        Some(match info.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (info, None),
        })
    }
}

/// `url` with the password of its user info masked as `***`
/// (`postgres://ferry:s3cret@db:5432/x` → `postgres://ferry:***@db:5432/x`), and so
/// the value of a `password` query parameter: what an answer, a read model or a log
/// line may show of a database URL.
pub fn redact_url(url: &str) -> String {
    redact_url_with(url, UserInfo::MaskPassword)
}

/// `url` with its user info hidden as `rule` says, and a `password` query parameter's
/// value masked.
///
/// ```
/// use ferry_events::url_text::{UserInfo, redact_url_with};
/// assert_eq!(redact_url_with("nats://tok:en@nats:4222", UserInfo::HideAll), "nats://***@nats:4222");
/// assert_eq!(redact_url_with("nats://token@nats:4222", UserInfo::HideAll), "nats://***@nats:4222");
/// assert_eq!(redact_url_with("postgres://u:pw@db/a@b", UserInfo::MaskPassword), "postgres://u:***@db/a@b");
/// ```
pub fn redact_url_with(url: &str, rule: UserInfo) -> String {
    // A list of servers (`nats://a@n1,nats://b@n2`): each of them.
    url.split(',')
        .map(|one| redact_one(one, rule))
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one(url: &str, rule: UserInfo) -> String {
    let masked = match Authority::of(url) {
        Some(authority) => match (authority.user_info(url), rule) {
            (None, _) | (Some((_, None)), UserInfo::MaskPassword) => url.to_owned(),
            (Some((user, Some(_))), UserInfo::MaskPassword) => format!(
                "{}{user}:***{}",
                &url[..authority.start],
                &url[authority.at.unwrap_or(authority.start)..]
            ),
            (Some(_), UserInfo::HideAll) => format!(
                "{}***{}",
                &url[..authority.start],
                &url[authority.at.unwrap_or(authority.start)..]
            ),
        },
        None => url.to_owned(),
    };
    map_query(&masked, |name, value| {
        if name.eq_ignore_ascii_case("password") {
            Some(format!("{name}=***"))
        } else {
            Some(format!("{name}={value}"))
        }
    })
    .0
}

/// `url` with every query pair passed through `keep` (`None` drops the pair), and
/// the values of the `password` pairs dropped or kept.
fn map_query(
    url: &str,
    mut keep: impl FnMut(&str, &str) -> Option<String>,
) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let mut password = None;
    let mut pairs = Vec::new();
    for pair in query.split('&') {
        let kept = match pair.split_once('=') {
            Some((name, value)) => {
                if name.eq_ignore_ascii_case("password") {
                    password = Some(value.to_owned());
                }
                keep(name, value)
            }
            None => Some(pair.to_owned()),
        };
        pairs.extend(kept);
    }
    let mut out = base.to_owned();
    if !pairs.is_empty() {
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    (out, password)
}

/// A URL's connection, without its password: what identifies the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The scheme, lowercase, e.g. `postgres`.
    pub scheme: String,
    /// The user, percent-decoded (empty when the URL names none).
    pub user: String,
    /// The host, lowercase, an IPv6 address without its brackets.
    pub host: String,
    /// The port, if the URL gives one.
    pub port: Option<u16>,
}

/// `url` without its password, the password (percent-decoded), and the login it is
/// the password of. The password is taken from the user info, or else from a
/// `password` query parameter (both are removed). `None` when `url` holds no
/// password: it is then left as it is.
///
/// ```
/// use ferry_events::url_text::strip_password;
/// let (url, password, login) = strip_password("postgres://ferry:p%40ss@DB-1:5432/x?prefix=a_").unwrap();
/// assert_eq!(url, "postgres://ferry@DB-1:5432/x?prefix=a_");
/// assert_eq!(password, "p@ss");
/// assert_eq!((login.user.as_str(), login.host.as_str(), login.port), ("ferry", "db-1", Some(5432)));
/// assert!(strip_password("mysql://root@127.0.0.1:13306").is_none());
/// ```
pub fn strip_password(url: &str) -> Option<(String, String, Login)> {
    let authority = Authority::of(url)?;
    let (user, in_info) = authority.user_info(url).unwrap_or(("", None));
    let without_info = match in_info {
        Some(_) => format!(
            "{}{user}{}",
            &url[..authority.start],
            &url[authority.at.unwrap_or(authority.start)..]
        ),
        None => url.to_owned(),
    };
    let (stripped, in_query) = map_query(&without_info, |name, value| {
        (!name.eq_ignore_ascii_case("password")).then(|| format!("{name}={value}"))
    });
    let password = in_info.map(str::to_owned).or(in_query)?;
    let host_port = &url[authority.at.map_or(authority.start, |at| at + 1)..authority.end];
    let (host, port) = split_host_port(host_port);
    let login = Login {
        scheme: url[..authority.start - 3].to_ascii_lowercase(),
        user: percent_decode(user),
        host: host.to_ascii_lowercase(),
        port,
    };
    Some((stripped, percent_decode(&password), login))
}

/// `host` and port of `host[:port]` or `[ipv6][:port]`, leniently (an unreadable
/// port is no port).
fn split_host_port(host_port: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host_port.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, after)) => (
                address,
                after.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (rest, None),
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (host_port, None),
    }
}

/// `url` with `password` put in its user info (percent-encoded), replacing any there:
/// the URL a driver connects with, built in memory right before connecting and never
/// recorded, logged or shown. A URL without `scheme://` is left as it is.
///
/// ```
/// use ferry_events::url_text::with_password;
/// assert_eq!(with_password("postgres://ferry@db:5432/x", "p@ss w"), "postgres://ferry:p%40ss%20w@db:5432/x");
/// assert_eq!(with_password("mysql://db:3306", "pw"), "mysql://:pw@db:3306");
/// ```
pub fn with_password(url: &str, password: &str) -> String {
    let Some(authority) = Authority::of(url) else {
        return url.to_owned();
    };
    let (user, _) = authority.user_info(url).unwrap_or(("", None));
    let host_from = authority.at.map_or(authority.start, |at| at + 1);
    format!(
        "{}{user}:{}@{}",
        &url[..authority.start],
        percent_encode(password),
        &url[host_from..]
    )
}

/// Every byte but the unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `%XX` decoded, leniently: a `%` not followed by two hex digits stays as it is, and
/// bytes that are not UTF-8 are replaced.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_nothing_else_changes() {
        for (url, shown) in [
            (
                "postgres://ferry:s3cret@db:5432/x?prefix=a_",
                "postgres://ferry:***@db:5432/x?prefix=a_",
            ),
            (
                "mysql://root:p%40ss@127.0.0.1:13306",
                "mysql://root:***@127.0.0.1:13306",
            ),
            ("mysql://root:a@b@host", "mysql://root:***@host"),
            ("postgres://ferry@db:5432/x", "postgres://ferry@db:5432/x"),
            (
                "mysql://root@127.0.0.1:13306",
                "mysql://root@127.0.0.1:13306",
            ),
            (
                "postgres://db/x?password=no@where&sslmode=require",
                "postgres://db/x?password=***&sslmode=require",
            ),
            // An `@` past the authority is the path's, not the user info's.
            ("postgres://db:5432/a@b", "postgres://db:5432/a@b"),
            ("postgres://u:pw@db/a@b", "postgres://u:***@db/a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn the_nats_rule_hides_the_whole_user_info_and_only_it() {
        let hide = |url| redact_url_with(url, UserInfo::HideAll);
        assert_eq!(hide("nats://u:secret@nats:4222"), "nats://***@nats:4222");
        assert_eq!(hide("nats://s3cr3tt0ken@nats:4222"), "nats://***@nats:4222");
        assert_eq!(hide("nats://127.0.0.1:14222"), "nats://127.0.0.1:14222");
        // The old rule looked for the last `@` of the whole URL.
        assert_eq!(hide("nats://nats:4222/x@y"), "nats://nats:4222/x@y");
        assert_eq!(
            hide("nats://a:b@n1:4222,nats://c:d@n2:4222"),
            "nats://***@n1:4222,nats://***@n2:4222"
        );
    }

    #[test]
    fn a_password_comes_out_and_goes_back_in() {
        let (url, password, login) =
            strip_password("mysql://root:s%3Bc%40t@[::1]:3307?prefix=t_").expect("has one");
        assert_eq!(url, "mysql://root@[::1]:3307?prefix=t_");
        assert_eq!(password, "s;c@t");
        assert_eq!(login.host, "::1");
        assert_eq!(login.port, Some(3307));
        assert_eq!(
            with_password(&url, &password),
            "mysql://root:s%3Bc%40t@[::1]:3307?prefix=t_"
        );
        let (url, password, login) =
            strip_password("postgres://db/x?sslmode=require&password=pw%21").expect("query");
        assert_eq!(url, "postgres://db/x?sslmode=require");
        assert_eq!(password, "pw!");
        assert_eq!((login.user.as_str(), login.port), ("", None));
        let (url, password, _) = strip_password("postgres://u:a@b@h:1/d").expect("two @");
        assert_eq!(
            (url.as_str(), password.as_str()),
            ("postgres://u@h:1/d", "a@b")
        );
        assert!(strip_password("postgres://u@h/x@y").is_none());
        assert!(strip_password("no url").is_none());
        assert_eq!(with_password("no url", "x"), "no url");
        assert_eq!(
            with_password("postgres://u:old@h/d", "new"),
            "postgres://u:new@h/d"
        );
    }
}
