//! Checks of the inventory values that reach a file system, a tool's command line or a
//! database server: storage roots, account and database names, inventory ids,
//! database URLs and sizes. This module owns what "safe" means for them; the deciders
//! (registration of servers and transit servers, scheduling of transfers) refuse a
//! value that fails, so nothing is recorded, whichever way it came in (a fleet file,
//! the API, another service's event).
//!
//! Pure: no I/O. The one check that needs configuration, whether a root lies inside
//! the roots the operator allows ([`root_within`]), is pure too; the command handlers
//! give it the configured roots ([`parse_allowed_roots`]).
//!
//! | value | rule |
//! |---|---|
//! | storage root | `/abs/path` or `[user@]host:/abs/path`; normalised (no `.`, `..`, `//`, trailing `/`); components of `[A-Za-z0-9._-]` not starting with `-`; never `/`, a top-level directory such as `/var` or `/tmp`, nor inside a system directory (`/etc`, `/usr`, `/var/lib`, …) |
//! | account name | [`NAME_PATTERN`]: one lowercase path component, never `-…`, `.` or `..` |
//! | database name | [`DATABASE_NAME_PATTERN`]: a lowercase SQL identifier of at most 63 bytes with its server's prefix |
//! | inventory id | an aggregate id ([`crate::validate_aggregate_id`]) not starting with `-` |
//! | database URL | `postgres[ql]://` or `mysql://`/`mariadb://`, `[user[:password]@]host[:port][/database][?prefix=…&sslmode=…&connect_timeout=…]`, percent-encoded, no shell metacharacters; recorded without password ([`parse_recorded_url`]) |
//! | size | at most [`MAX_ITEM_BYTES`] (1 PiB) per item; sums saturate ([`total_bytes`]) |

use crate::values::DatabaseEngine;
use std::fmt;

/// The largest size ferry takes for one item (an account's files, its mails, one
/// database): 1 PiB. Larger is a typing mistake or an attack on the estimates.
pub const MAX_ITEM_BYTES: u64 = 1 << 50;

/// An account name: lowercase letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit, at most 63 characters (one path component under the roots).
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_.-]{0,62}$";

/// A database name: lowercase letters, digits, `_` and `-`, starting with a letter,
/// a digit or `_`, at most 63 characters (PostgreSQL's limit, prefix included).
pub const DATABASE_NAME_PATTERN: &str = "^[a-z0-9_][a-z0-9_-]{0,62}$";

/// A storage root as the description shows it: absolute, local or `host:`-prefixed.
pub const ROOT_PATTERN: &str = "^([A-Za-z0-9_][A-Za-z0-9_.-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*:)?(/[A-Za-z0-9._][A-Za-z0-9._-]*)+$";

/// The longest database name PostgreSQL keeps whole (MariaDB's is 64).
pub const MAX_DATABASE_NAME: usize = 63;

/// The query parameters a database URL may carry: ferry's `prefix`, and the
/// PostgreSQL driver's `sslmode` and `connect_timeout`. Any other is refused.
pub const URL_PARAMETERS: &[&str] = &["prefix", "sslmode", "connect_timeout"];

/// Longest storage root or URL taken.
const MAX_TEXT: usize = 1024;

/// Directories a root can be neither nor lie inside: the system's own.
const SYSTEM_TREES: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/sys",
    "/usr",
    "/var/backups",
    "/var/cache",
    "/var/lib",
    "/var/lock",
    "/var/log",
    "/var/run",
];

/// Directories a root cannot be (their entries are not one account's each), though a
/// directory inside them may be one.
const SHARED_DIRS: &[&str] = &[
    "/",
    "/mnt",
    "/media",
    "/opt",
    "/tmp",
    "/var",
    "/var/mail",
    "/var/spool",
    "/var/tmp",
];

/// A value refused: which field, what was given (shortened, without any password)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {shown} {why}")]
pub struct InvalidInput {
    /// The field, e.g. `storage.files_root` or `account acc-1: name`.
    pub field: String,
    /// The value as shown in the message: quoted, cut at 80 characters; a URL's
    /// password is never shown.
    pub shown: String,
    /// What is wrong, e.g. `is a system directory`.
    pub why: String,
}

impl InvalidInput {
    fn new(field: &str, value: &str, why: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            shown: shown(value),
            why: why.into(),
        }
    }
}

/// `value` quoted, cut at 80 characters.
fn shown(value: &str) -> String {
    match value.char_indices().nth(80) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// Checks a storage root (`files_root`, `mail_root`): see the module's table.
///
/// ```
/// use ferry_events::input::check_storage_root;
/// assert!(check_storage_root("files_root", "/srv/ferry/srv-0042/files").is_ok());
/// assert!(check_storage_root("files_root", "backup@db-7:/srv/files").is_ok());
/// for bad in ["/", "/etc", "/etc/ssl", "files", "/srv/../etc", "/srv//x", "/srv/x/", "-oProxyCommand=x", "/srv/$(id)"] {
///     assert!(check_storage_root("files_root", bad).is_err(), "{bad}");
/// }
/// ```
pub fn check_storage_root(field: &str, root: &str) -> Result<(), InvalidInput> {
    let refuse = |why: &str| Err(InvalidInput::new(field, root, why));
    if root.is_empty() {
        return refuse("is empty: a root is an absolute directory");
    }
    if root.len() > MAX_TEXT {
        return refuse(&format!("is longer than {MAX_TEXT} bytes"));
    }
    if root.starts_with('-') {
        return refuse("starts with '-': a root is an absolute directory, never an option");
    }
    let path = match remote_parts(root) {
        Some((host, path)) => {
            if let Err(why) = check_remote_host(host) {
                return refuse(&why);
            }
            path
        }
        None => root,
    };
    check_root_path(path).or_else(|why| refuse(&why))
}

/// `(user@host, /path)` of a remote root, `None` for a local one (no `:` before the
/// first `/`).
fn remote_parts(root: &str) -> Option<(&str, &str)> {
    let colon = root.find(':')?;
    match root.find('/') {
        Some(slash) if slash < colon => None,
        _ => Some((&root[..colon], &root[colon + 1..])),
    }
}

/// `[user@]host` of a remote root.
fn check_remote_host(remote: &str) -> Result<(), String> {
    let host = match remote.split_once('@') {
        Some((user, host)) => {
            let valid_user = user.chars().next().is_some_and(|c| c != '-' && c != '.')
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid_user {
                return Err(format!(
                    "names the user {} on its host: letters, digits, '_', '.', '-', not first '-'",
                    shown(user)
                ));
            }
            host
        }
        None => remote,
    };
    check_hostname(host).map_err(|why| format!("names the host {}, which {why}", shown(host)))
}

/// The path of a root: absolute, normalised, plain components, no system directory.
fn check_root_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("is not an absolute path".into());
    }
    if path == "/" {
        return Err("is the file system's root".into());
    }
    if path.ends_with('/') {
        return Err("ends with '/': write the directory without it".into());
    }
    for component in path[1..].split('/') {
        match component {
            "" => return Err("holds '//': write the path normalised".into()),
            "." | ".." => {
                return Err(format!(
                    "holds {component:?}: write the path normalised, without '.' or '..'"
                ));
            }
            _ => {}
        }
        if component.starts_with('-') {
            return Err(format!(
                "holds the component {}, which starts with '-'",
                shown(component)
            ));
        }
        if let Some(bad) = component
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "holds {bad:?}: a root's directories are letters, digits, '.', '_' and '-'"
            ));
        }
        if component.len() > 255 {
            return Err("holds a directory name longer than 255 bytes".into());
        }
    }
    if let Some(system) = SYSTEM_TREES.iter().find(|dir| is_within(path, dir)) {
        return Err(format!(
            "is a system directory (it is {system} or inside it): ferry writes and deletes \
             under a root, and never there"
        ));
    }
    if SHARED_DIRS.contains(&path) {
        return Err(
            "is a directory shared by the whole system, not one holding one directory per \
             account: name a directory inside it"
                .into(),
        );
    }
    Ok(())
}

/// Whether `path` is `dir` or inside it, component by component (`/etcetera` is not
/// inside `/etc`).
fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `root` (its path, for a remote root) is one of `allowed` or inside one.
/// Both are taken as checked: normalised absolute paths.
///
/// ```
/// use ferry_events::input::root_within;
/// let allowed = vec!["/srv".to_owned(), "/var/tmp/ferry-demo".to_owned()];
/// assert!(root_within("/srv/ferry/srv-0042/files", &allowed));
/// assert!(root_within("db-7:/srv/files", &allowed));
/// assert!(!root_within("/srvx/files", &allowed));
/// assert!(!root_within("/home/files", &allowed));
/// ```
pub fn root_within(root: &str, allowed: &[String]) -> bool {
    let path = remote_parts(root).map_or(root, |(_, path)| path);
    allowed.iter().any(|dir| is_within(path, dir))
}

/// The storage roots the operator allows by default: `/srv` and `/home` (where
/// hosting servers keep their accounts' data) and `/var/tmp/ferry-demo` (the demo
/// fleet of `examples/fleet.yaml`).
pub const DEFAULT_ALLOWED_ROOTS: &str = "/srv:/home:/var/tmp/ferry-demo";

/// Parses the allowed roots setting: absolute directories separated by `:`, each
/// normalised and outside the system's directories (`/` is not a root one may allow).
///
/// ```
/// use ferry_events::input::parse_allowed_roots;
/// assert_eq!(parse_allowed_roots("/srv:/data/ferry").unwrap(), vec!["/srv", "/data/ferry"]);
/// assert!(parse_allowed_roots("/").is_err());
/// assert!(parse_allowed_roots("/srv:etc").is_err());
/// assert!(parse_allowed_roots("").is_err());
/// ```
pub fn parse_allowed_roots(setting: &str) -> Result<Vec<String>, String> {
    let mut roots = Vec::new();
    for dir in setting.split(':').filter(|d| !d.is_empty()) {
        if dir == "/" {
            return Err("\"/\" cannot be allowed whole: name the directories ferry may use".into());
        }
        let path = dir.strip_suffix('/').unwrap_or(dir);
        let allowed_shared = matches!(path, "/tmp" | "/var/tmp" | "/mnt" | "/media" | "/opt");
        match check_root_path(path) {
            Ok(()) => {}
            // A shared directory may hold roots, and so be allowed; a system one may not.
            Err(_) if allowed_shared => {}
            Err(why) => return Err(format!("{}: {why}", shown(dir))),
        }
        roots.push(path.to_owned());
    }
    if roots.is_empty() {
        return Err("no directory given: name at least one, e.g. /srv".into());
    }
    Ok(roots)
}

/// Checks an account name ([`NAME_PATTERN`]): the name of its directories under the
/// roots, so one plain path component.
///
/// ```
/// use ferry_events::input::check_account_name;
/// assert!(check_account_name("account", "bakery").is_ok());
/// for bad in ["", "-rf", ".", "..", "../etc", "a/b", "Bakery", "a\0b", "a b"] {
///     assert!(check_account_name("account", bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn check_account_name(field: &str, name: &str) -> Result<(), InvalidInput> {
    let valid = name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            field,
            name,
            "is not an account name: 1 to 63 lowercase letters, digits, '_', '.' or '-', \
             starting with a letter or a digit (it names a directory under the roots)",
        ))
    }
}

/// Checks a database name ([`DATABASE_NAME_PATTERN`]).
///
/// ```
/// use ferry_events::input::check_database_name;
/// assert!(check_database_name("database", "bakery_shop").is_ok());
/// for bad in ["", "-d", "--help", "a;b", "a b", "Shop", "a/b", &"x".repeat(64)] {
///     assert!(check_database_name("database", bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn check_database_name(field: &str, name: &str) -> Result<(), InvalidInput> {
    let valid = name.len() <= MAX_DATABASE_NAME
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            field,
            name,
            "is not a database name: 1 to 63 lowercase letters, digits, '_' or '-', not \
             starting with '-'",
        ))
    }
}

/// Checks an inventory id (a server, an account, a transit server, a customer): an
/// aggregate id that does not start with `-`, so never read as an option.
pub fn check_inventory_id(field: &str, id: &str) -> Result<(), InvalidInput> {
    if let Err(e) = crate::validate_aggregate_id(id) {
        return Err(InvalidInput {
            field: field.to_owned(),
            shown: shown(id),
            why: e.problem.to_string(),
        });
    }
    if id.starts_with('-') {
        return Err(InvalidInput::new(field, id, "starts with '-'"));
    }
    Ok(())
}

/// Checks a size against [`MAX_ITEM_BYTES`].
pub fn check_size(field: &str, bytes: u64) -> Result<(), InvalidInput> {
    if bytes > MAX_ITEM_BYTES {
        return Err(InvalidInput {
            field: field.to_owned(),
            shown: bytes.to_string(),
            why: format!("bytes is more than ferry takes for one item ({MAX_ITEM_BYTES}, 1 PiB)"),
        });
    }
    Ok(())
}

/// The sum of `sizes`, saturating at `u64::MAX` instead of wrapping.
pub fn total_bytes(sizes: impl IntoIterator<Item = u64>) -> u64 {
    sizes.into_iter().fold(0, u64::saturating_add)
}

/// A database URL, parsed: what ferry and the tools need from it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// `postgres`, `postgresql`, `mysql` or `mariadb`.
    pub scheme: String,
    /// The login, percent-decoded.
    pub user: Option<String>,
    /// Whether a password is given (never kept here).
    pub has_password: bool,
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// The database named in the path, if any.
    pub database: Option<String>,
    /// ferry's prefix of the server's databases (`?prefix=`), empty if none.
    pub prefix: String,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("scheme", &self.scheme)
            .field("user", &self.user)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Parses a database URL of `engine` strictly (see the module's table). The error
/// never shows the URL, which may hold a password.
///
/// ```
/// use ferry_events::DatabaseEngine;
/// use ferry_events::input::parse_database_url;
/// let url = parse_database_url("postgres_url", DatabaseEngine::Postgres,
///     "postgres://ferry:s%40cret@db-0042:5432/postgres?prefix=srv0042_").unwrap();
/// assert_eq!((url.host.as_str(), url.port, url.prefix.as_str()), ("db-0042", Some(5432), "srv0042_"));
/// for bad in [
///     "postgres://-oProxyCommand=x/postgres",
///     "postgres://db;rm -rf /",
///     "postgres://db/postgres?options=-c%20x%3D1",
///     "mysql://db",
///     "postgres://u:p@db/$(id)",
/// ] {
///     assert!(parse_database_url("postgres_url", DatabaseEngine::Postgres, bad).is_err(), "{bad}");
/// }
/// ```
pub fn parse_database_url(
    field: &str,
    engine: DatabaseEngine,
    url: &str,
) -> Result<DatabaseUrl, InvalidInput> {
    parse_url(engine, url).map_err(|why| InvalidInput {
        field: field.to_owned(),
        shown: "the URL".to_owned(),
        why,
    })
}

/// Parses a database URL to be recorded: [`parse_database_url`]'s rules, and no
/// password, which an event never holds. The refusal says where the password goes.
///
/// ```
/// use ferry_events::DatabaseEngine;
/// use ferry_events::input::parse_recorded_url;
/// assert!(parse_recorded_url("postgres_url", DatabaseEngine::Postgres, "postgres://ferry@db/postgres").is_ok());
/// let refused = parse_recorded_url("postgres_url", DatabaseEngine::Postgres, "postgres://ferry:pw@db/postgres")
///     .unwrap_err().to_string();
/// assert!(refused.contains("secret store") && !refused.contains("pw@"), "{refused}");
/// ```
pub fn parse_recorded_url(
    field: &str,
    engine: DatabaseEngine,
    url: &str,
) -> Result<DatabaseUrl, InvalidInput> {
    let parsed = parse_database_url(field, engine, url)?;
    if parsed.has_password {
        return Err(InvalidInput {
            field: field.to_owned(),
            shown: "the URL".to_owned(),
            why: format!(
                "holds a password, which ferry never records: give the URL without it;                  the password goes to ferry's secret store (FERRY_SECRETS_DIR), where the                  API and fleet imports put a URL's password themselves, and the storage                  names it with {}",
                credential_field(engine)
            ),
        });
    }
    Ok(parsed)
}

/// The storage field naming the credential of `engine`'s login.
pub fn credential_field(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "postgres_credential",
        DatabaseEngine::Mysql => "mysql_credential",
    }
}

/// Checks the database URLs and credential references of a storage to be recorded:
/// each URL by [`parse_recorded_url`], and no credential without its URL. `at` names
/// the storage in refusals (`storage`, `source`…). Gives the prefixes of the
/// PostgreSQL and MySQL databases (empty without one).
pub fn check_recorded_databases(
    at: &str,
    storage: &crate::ServerStorage,
) -> Result<(String, String), InvalidInput> {
    let mut prefixes = (String::new(), String::new());
    for engine in [DatabaseEngine::Postgres, DatabaseEngine::Mysql] {
        let (url, credential, prefix) = match engine {
            DatabaseEngine::Postgres => (
                &storage.postgres_url,
                &storage.postgres_credential,
                &mut prefixes.0,
            ),
            DatabaseEngine::Mysql => (
                &storage.mysql_url,
                &storage.mysql_credential,
                &mut prefixes.1,
            ),
        };
        let url_field = match engine {
            DatabaseEngine::Postgres => "postgres_url",
            DatabaseEngine::Mysql => "mysql_url",
        };
        match (url, credential) {
            (Some(url), _) => {
                *prefix = parse_recorded_url(&format!("{at}.{url_field}"), engine, url)?.prefix;
            }
            (None, Some(reference)) => {
                return Err(InvalidInput::new(
                    &format!("{at}.{}", credential_field(engine)),
                    reference.as_str(),
                    format!("names a credential without a {url_field} to use it with"),
                ));
            }
            (None, None) => {}
        }
    }
    Ok(prefixes)
}

fn parse_url(engine: DatabaseEngine, url: &str) -> Result<DatabaseUrl, String> {
    if url.len() > MAX_TEXT {
        return Err(format!("is longer than {MAX_TEXT} bytes"));
    }
    if let Some(bad) = url.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "holds {bad:?}: a URL is printable ASCII, anything else percent-encoded"
        ));
    }
    if let Some(bad) = url.chars().find(|c| SHELL.contains(*c)) {
        return Err(format!(
            "holds {bad:?}, a shell metacharacter: percent-encode it in a password"
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("is not a URL (scheme://host…)")?;
    let schemes: &[&str] = match engine {
        DatabaseEngine::Postgres => &["postgres", "postgresql"],
        DatabaseEngine::Mysql => &["mysql", "mariadb"],
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "has the scheme {scheme:?}: expected {}://",
            schemes.join(":// or ")
        ));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(slash) => (&before_query[..slash], &before_query[slash + 1..]),
        None => (before_query, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (user, has_password) = match userinfo {
        None => (None, false),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (info, None),
            };
            let user = decode_part(user).map_err(|why| format!("has a user that {why}"))?;
            if user.starts_with('-') {
                return Err("has a user starting with '-'".into());
            }
            if let Some(password) = password {
                decode_part(password).map_err(|why| format!("has a password that {why}"))?;
            }
            ((!user.is_empty()).then_some(user), password.is_some())
        }
    };
    let (host, port) = split_host_port(hostport)?;
    if host.is_empty() {
        return Err("names no host".into());
    }
    if !host.contains(':') {
        check_hostname(&host)
            .map_err(|why| format!("names the host {}, which {why}", shown(&host)))?;
    }
    let database = if path.is_empty() {
        None
    } else {
        let name = decode_part(path).map_err(|why| format!("names a database that {why}"))?;
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !plain {
            return Err(format!(
                "names the database {}: letters, digits, '_', '-', not starting with '-'",
                shown(&name)
            ));
        }
        Some(name)
    };
    let prefix = check_query(engine, query)?;
    Ok(DatabaseUrl {
        scheme: scheme.to_owned(),
        user,
        has_password,
        host,
        port,
        database,
        prefix,
    })
}

/// Characters no URL of ferry's holds unencoded: a shell would read them.
const SHELL: &str = "`$;|<>(){}'\"\\!*#^ \t\n";

/// `host` or `host:port`, or `[ipv6]` with an optional port.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("has an IPv6 address without its closing ']'")?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "names {}, which is not an IPv6 address",
                shown(address)
            ));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("has text after its IPv6 address")?,
            ),
        };
        (address.to_owned(), port)
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = match port {
        None => None,
        Some(text) => {
            let number =
                (!text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| text.parse::<u16>().ok())
                    .flatten()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("has the port {}: 1 to 65535", shown(text)))?;
            Some(number)
        }
    };
    Ok((host, port))
}

/// A host name (labels of letters, digits and `-`, none starting or ending with
/// `-`) or an IPv4 address.
fn check_hostname(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("is empty".into());
    }
    if host.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok {
        return Err(
            "is not a host name (labels of letters, digits and '-', none starting with '-') \
             nor an IP address"
                .into(),
        );
    }
    Ok(())
}

/// Percent-decodes a user, password or path: unreserved characters and `%XX`, the
/// result text without control characters.
fn decode_part(part: &str) -> Result<String, String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("holds a '%' not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'=' | b',')
        {
            out.push(b);
            i += 1;
        } else {
            return Err(format!(
                "holds {:?} unencoded: percent-encode it",
                char::from(b)
            ));
        }
    }
    let text = String::from_utf8(out).map_err(|_| "is not UTF-8 once decoded")?;
    if text.chars().any(char::is_control) {
        return Err("holds a control character once decoded".into());
    }
    Ok(text)
}

/// The query: known parameters only, each once; gives the prefix.
fn check_query(engine: DatabaseEngine, query: Option<&str>) -> Result<String, String> {
    let Some(query) = query else {
        return Ok(String::new());
    };
    let mut prefix = None;
    let mut seen = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("has the parameter {} without a value", shown(pair)))?;
        if !URL_PARAMETERS.contains(&key) {
            return Err(format!(
                "has the parameter {}: ferry takes only {}",
                shown(key),
                URL_PARAMETERS.join(", ")
            ));
        }
        if seen.contains(&key) {
            return Err(format!("has the parameter {key} twice"));
        }
        seen.push(key);
        let value = decode_part(value).map_err(|why| format!("has a {key} that {why}"))?;
        match key {
            "prefix" => {
                let valid = value.len() <= 32
                    && value
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(format!(
                        "has the prefix {}: 1 to 32 lowercase letters, digits or '_', starting \
                         with a letter or a digit",
                        shown(&value)
                    ));
                }
                prefix = Some(value);
            }
            "sslmode" => {
                const MODES: &[&str] = &[
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ];
                if engine != DatabaseEngine::Postgres || !MODES.contains(&value.as_str()) {
                    return Err(format!(
                        "has the sslmode {}: a PostgreSQL URL's is one of {}",
                        shown(&value),
                        MODES.join(", ")
                    ));
                }
            }
            _ => {
                let valid = engine == DatabaseEngine::Postgres
                    && !value.is_empty()
                    && value.len() <= 5
                    && value.bytes().all(|b| b.is_ascii_digit());
                if !valid {
                    return Err(format!(
                        "has the {key} {}: a PostgreSQL URL's is a number of seconds",
                        shown(&value)
                    ));
                }
            }
        }
    }
    Ok(prefix.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_refused(root: &str) -> String {
        match check_storage_root("storage.files_root", root) {
            Ok(()) => panic!("{root:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn roots_in_use_are_accepted() {
        for root in [
            "/srv/ferry/srv-0042/files",
            "/var/tmp/ferry-demo/tr-0001/mail",
            "/tmp/ferry-walkthrough-0196a1b2/files",
            "/home",
            "/home/web",
            "/srv",
            "/data/hosting.d/files_2",
            "db-7:/srv/files",
            "backup@db-7.hosting.example:/srv/files",
            "192.0.2.4:/srv/files",
        ] {
            assert_eq!(check_storage_root("files_root", root), Ok(()), "{root}");
        }
    }

    #[test]
    fn the_probes_roots_are_refused_with_their_reason() {
        assert!(root_refused("/").contains("file system's root"));
        assert!(root_refused("/etc").contains("system directory"));
        assert!(root_refused("/etc/ssl").contains("system directory"));
        assert!(root_refused("/var/lib/mysql").contains("system directory"));
        assert!(root_refused("/usr/local/www").contains("system directory"));
        assert!(root_refused("/var").contains("shared by the whole system"));
        assert!(root_refused("/tmp").contains("shared by the whole system"));
        assert!(root_refused("srv/files").contains("not an absolute path"));
        assert!(root_refused("./files").contains("not an absolute path"));
        assert!(root_refused("-oProxyCommand=sh").contains("starts with '-'"));
        assert!(root_refused("/srv/../etc").contains("normalised"));
        assert!(root_refused("/srv/./x").contains("normalised"));
        assert!(root_refused("/srv//x").contains("'//'"));
        assert!(root_refused("/srv/x/").contains("ends with '/'"));
        assert!(root_refused("/srv/-rf").contains("starts with '-'"));
        assert!(root_refused("/srv/a b").contains("' '"));
        assert!(root_refused("/srv/$(reboot)").contains("'$'"));
        assert!(root_refused("/srv/a\0b").contains("'\\0'"));
        assert!(root_refused("-e:/srv/x").contains("starts with '-'"));
        assert!(root_refused("h-:/srv/x").contains("host"));
        assert!(root_refused("-x@h:/srv/x").contains("starts with '-'"));
        assert!(root_refused("a@-h:/srv/x").contains("host"));
        assert!(root_refused("h:srv").contains("absolute"));
        assert!(root_refused("").contains("empty"));
        assert!(root_refused(&format!("/srv/{}", "a".repeat(2000))).contains("longer"));
        assert_eq!(check_storage_root("f", "/etcetera/x"), Ok(()));
    }

    #[test]
    fn allowed_roots_contain_their_subdirectories_only() {
        let allowed = parse_allowed_roots(DEFAULT_ALLOWED_ROOTS).expect("default");
        assert!(root_within("/var/tmp/ferry-demo/srv-0042/files", &allowed));
        assert!(root_within("/srv", &allowed));
        assert!(!root_within("/var/tmp/ferry-demox/files", &allowed));
        assert!(!root_within("/tmp/files", &allowed));
        assert_eq!(
            parse_allowed_roots("/tmp/:/srv").expect("ok"),
            vec!["/tmp", "/srv"]
        );
        assert!(parse_allowed_roots("/etc").is_err());
        assert!(parse_allowed_roots("/srv/../etc").is_err());
        assert!(parse_allowed_roots("relative").is_err());
        assert!(parse_allowed_roots(":").is_err());
    }

    #[test]
    fn names_are_one_safe_component() {
        for good in ["bakery", "site-1", "a", "web_2.old", "0day"] {
            assert_eq!(check_account_name("name", good), Ok(()), "{good}");
        }
        for bad in [
            "ssl/../..",
            "-oProxyCommand=x",
            "..",
            ".",
            ".ssh",
            "a b",
            "",
            "A",
            &"a".repeat(64),
        ] {
            assert!(check_account_name("name", bad).is_err(), "{bad:?}");
        }
        for good in ["bakery_shop", "_staging", "ferry_x_0123456789ab", "blog-wp"] {
            assert_eq!(check_database_name("db", good), Ok(()), "{good}");
        }
        for bad in ["-d", "--help", "a.b", "a;drop", "Shop", "", "a\0"] {
            assert!(check_database_name("db", bad).is_err(), "{bad:?}");
        }
        assert!(check_inventory_id("server_id", "srv-0042").is_ok());
        assert!(check_inventory_id("server_id", "-rf").is_err());
        assert!(check_inventory_id("server_id", "a/b").is_err());
    }

    #[test]
    fn sizes_are_bounded_and_sums_saturate() {
        assert!(check_size("files_bytes", MAX_ITEM_BYTES).is_ok());
        let refused = check_size("files_bytes", u64::MAX).expect_err("too large");
        assert!(refused.to_string().contains("1 PiB"), "{refused}");
        assert_eq!(total_bytes([u64::MAX, 1, 2]), u64::MAX);
        assert_eq!(total_bytes([1, 2, 3]), 6);
    }

    fn url(engine: DatabaseEngine, text: &str) -> Result<DatabaseUrl, String> {
        parse_database_url("storage.postgres_url", engine, text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_urls_in_use_parse() {
        use DatabaseEngine::{Mysql, Postgres};
        for (engine, text) in [
            (
                Postgres,
                "postgres://postgres:postgres@127.0.0.1:15432/postgres?prefix=srv0042_",
            ),
            (Postgres, "postgresql://ferry@db-0042:5432/postgres"),
            (Postgres, "postgres://ferry@db-srv-1:5432/postgres"),
            (
                Postgres,
                "postgres://u:p%40ss@h/postgres?sslmode=disable&prefix=a_",
            ),
            (
                Postgres,
                "postgres://u@[2001:db8::1]:5432/postgres?connect_timeout=5",
            ),
            (Mysql, "mysql://root@127.0.0.1:13306?prefix=srv0042_"),
            (Mysql, "mysql://ferry@db-0042:3306"),
            (Mysql, "mariadb://[::1]:3307?prefix=t_"),
            (Mysql, "mysql://root@127.0.0.1:13306/"),
        ] {
            assert!(url(engine, text).is_ok(), "{text}: {:?}", url(engine, text));
        }
        let parsed = url(
            Postgres,
            "postgres://u:p%40ss@h/postgres?sslmode=disable&prefix=a_",
        )
        .expect("parsed");
        assert_eq!(parsed.user.as_deref(), Some("u"));
        assert!(parsed.has_password);
        assert_eq!(parsed.prefix, "a_");
        assert!(!format!("{parsed:?}").contains("p%40ss"));
    }

    #[test]
    fn hostile_urls_are_refused_without_showing_them() {
        use DatabaseEngine::{Mysql, Postgres};
        for (engine, text, why) in [
            (Postgres, "postgres://-oProxyCommand=sh@h/x", "'-'"),
            (Postgres, "postgres://u@-oProxyCommand=sh/x", "host"),
            (Postgres, "postgres://u:secret@h/x;reboot", "';'"),
            (Postgres, "postgres://u:secret@h/x|nc", "'|'"),
            (Postgres, "postgres://u:secret@h/$(id)", "'$'"),
            (Postgres, "postgres://u:secret@h/`id`", "'`'"),
            (
                Postgres,
                "postgres://u:secret@h/x?options=-c%20a%3Db",
                "options",
            ),
            (
                Postgres,
                "postgres://u:secret@h/x?prefix=a_&prefix=b_",
                "twice",
            ),
            (Postgres, "postgres://u:secret@h/x?prefix=-x", "prefix"),
            (Postgres, "postgres://u:secret@h:99999/x", "port"),
            (Postgres, "postgres://u:secret@h:0/x", "port"),
            (Postgres, "postgres://u:secret@/x", "no host"),
            (Postgres, "postgres://u:secret@h/-x", "database"),
            (Postgres, "host=h user=u password=secret", "' '"),
            (Postgres, "h/x", "not a URL"),
            (Postgres, "mysql://u:secret@h", "scheme"),
            (Mysql, "mysql://u:secret@h?sslmode=require", "sslmode"),
            (Mysql, "mysql://u:sec ret@h", "' '"),
            (Mysql, "mysql://u:secret@h\n", "'\\n'"),
            (Mysql, "mysql://u:secr%zzt@h", "hex"),
            (Mysql, "mysql://u:secret@[::1", "']'"),
            (Mysql, "mysql://u:secret@h#frag", "'#'"),
        ] {
            let refused = url(engine, text).expect_err(text);
            assert!(refused.contains(why), "{text}: {refused}");
            assert!(!refused.contains("secret"), "{refused}");
        }
    }
}

#[cfg(test)]
mod recorded_tests {
    use super::*;
    use crate::ServerStorage;
    use crate::credential::CredentialRef;

    fn storage(postgres: Option<&str>, credential: Option<&str>) -> ServerStorage {
        ServerStorage {
            files_root: "/srv/a".into(),
            mail_root: "/srv/b".into(),
            postgres_url: postgres.map(str::to_owned),
            postgres_credential: credential.map(|c| CredentialRef::new(c).expect("valid")),
            ..ServerStorage::default()
        }
    }

    #[test]
    fn a_recorded_storage_holds_references_and_no_password() {
        let ok = storage(
            Some("postgres://ferry@db/postgres?prefix=p_"),
            Some("postgres_db_5432_ferry"),
        );
        assert_eq!(
            check_recorded_databases("storage", &ok),
            Ok(("p_".to_owned(), String::new()))
        );
        let with_password = storage(Some("postgres://ferry:hunter2@db/postgres"), None);
        let refused = check_recorded_databases("storage", &with_password)
            .expect_err("a password")
            .to_string();
        assert!(refused.starts_with("storage.postgres_url"), "{refused}");
        assert!(refused.contains("postgres_credential"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
        let orphan = storage(None, Some("postgres_db_5432_ferry"));
        let refused = check_recorded_databases("source", &orphan)
            .expect_err("no url")
            .to_string();
        assert!(refused.contains("source.postgres_credential"), "{refused}");
        // A password in a URL is fine where nothing is recorded.
        assert!(
            parse_database_url(
                "u",
                DatabaseEngine::Postgres,
                "postgres://ferry:hunter2@db/postgres"
            )
            .is_ok()
        );
    }
}
