//! `ferry token …` and how the CLI finds its token.
//!
//! `ferry token create` is the host operator's: it writes `ApiTokenIssued` to the
//! event log itself (where `ferry up`'s settings say it is), acting as
//! `system:host-operator`, so that the first support token needs no token. The
//! token is saved in the token directory (a file per name, mode 0600, in a
//! directory of mode 0700) or printed once; ferry keeps only its hash. `ferry token
//! list|revoke` and `ferry whoami` go through the API like every other command.
//!
//! The CLI reads its token from `--as <name>` (a saved token), `FERRY_TOKEN_FILE`,
//! or the environment variable `FERRY_TOKEN`: never from the command line, where
//! other users of the machine could read it.

use crate::cli::{ClientArgs, TokenCommand};
use crate::client::Api;
use crate::render::{named, show, table};
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Duration, Utc};
use ferry_access::routes::{Revoked, TokenList, WhoAmI};
use ferry_events::Actor;
use ferry_infra::config::LogArgs;
use ferry_infra::event_log::EventLog;
use reqwest::Method;
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Who `ferry token create` records as having issued a token.
pub const HOST_OPERATOR: &str = "host-operator";

/// A token to issue.
#[derive(Debug, Clone)]
pub struct Create {
    /// Who it acts as.
    pub holder: Actor,
    /// What it is for.
    pub label: String,
    /// Days until it expires.
    pub days: u32,
    /// The name to save it under (the holder's by default).
    pub save: Option<String>,
    /// Print it instead of saving it.
    pub print: bool,
}

/// A token issued: its id, its text (shown once) and its expiry.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Its id.
    pub id: Uuid,
    /// The token.
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Issues a token to `holder` in the event log `log` describes, as the host's
/// operator.
pub async fn issue(
    log: &LogArgs,
    holder: Actor,
    label: &str,
    days: u32,
) -> anyhow::Result<IssuedToken> {
    // As the access service's NATS user: the only one that may write tokens.
    let identity = log
        .credentials
        .credentials()
        .load(ferry_infra::nats_users::NatsUser::Access)
        .context("the access service's NATS credentials")?;
    let event_log = EventLog::connect(&log.nats_url, &identity, log.settings())
        .await
        .context("connecting to the event log")?;
    let access = ferry_access::Access::new(event_log);
    let expires_at = access.log().clock().now() + Duration::days(i64::from(days));
    let issued = access
        .issue(&Actor::system(HOST_OPERATOR), holder, label, expires_at)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    access.log().client().flush().await.ok();
    Ok(IssuedToken {
        id: issued.token.id,
        token: issued.token.reveal(),
        expires_at,
    })
}

/// `ferry token create`.
pub async fn create(
    client: &ClientArgs,
    request: Create,
    log: &LogArgs,
    json: bool,
) -> anyhow::Result<()> {
    // Whose token it is comes first: a malformed holder is said as such, not as a
    // file name.
    ferry_access::domain::api_token::validate_holder(&request.holder)
        .map_err(|e| anyhow!("{}: {e}", request.holder))?;
    let name = save_name(&request)?;
    let issued = issue(log, request.holder.clone(), &request.label, request.days).await?;
    keep(client, &request, name, &issued, json)
}

/// The name a token is to be saved under (`None`: printed instead): `--save`'s, or
/// its holder's (`customer:c-42`; a user's `user:c-42_alice`, a file name holding no
/// `/`).
fn save_name(request: &Create) -> anyhow::Result<Option<String>> {
    let name = match (&request.save, request.print) {
        (_, true) => None,
        (Some(name), false) => Some(name.clone()),
        (None, false) => Some(request.holder.to_string().replace('/', "_")),
    };
    if let Some(name) = &name {
        check_profile(name)?;
    }
    Ok(name)
}

/// Saves the token just issued under `name`, or prints it once.
fn keep(
    client: &ClientArgs,
    request: &Create,
    name: Option<String>,
    issued: &IssuedToken,
    json: bool,
) -> anyhow::Result<()> {
    let Some(name) = name else {
        if json {
            outln!(
                "{}",
                json!({
                    "token_id": issued.id,
                    "token": issued.token,
                    "holder": request.holder.to_string(),
                    "expires_at": issued.expires_at,
                })
            );
        } else {
            outln!("{}", issued.token);
        }
        return Ok(());
    };
    let path = save(&client.token_dir, &name, &issued.token)?;
    if json {
        outln!(
            "{}",
            json!({
                "token_id": issued.id,
                "holder": request.holder.to_string(),
                "saved_in": path.display().to_string(),
                "expires_at": issued.expires_at,
            })
        );
    } else {
        outln!(
            "token {} for {} saved in {} (expires {}): ferry --as {name} …",
            issued.id,
            request.holder,
            path.display(),
            named(&issued.expires_at)
        );
    }
    Ok(())
}

/// A name a token is saved under: a file name of letters, digits, `:`, `.`, `_`,
/// `-` and `@`, not starting with a dot.
fn check_profile(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        bail!(
            "{name:?} cannot name a saved token: letters, digits, ':', '.', '_', '-', '@', not starting with '.'"
        )
    }
}

/// Writes `token` to `<dir>/<name>`, readable by its owner only, replacing a
/// token saved under that name (which stays valid until revoked).
fn save(dir: &Path, name: &str, token: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the token directory {}", dir.display()))?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.{}", Uuid::now_v7().simple()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("saving {}", path.display()))?;
    // A directory made earlier by hand may be open to others: say so.
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} is readable by other users; `chmod 700 {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(path)
}

/// The token the CLI uses: `--as <name>`'s saved token, else `FERRY_TOKEN_FILE`'s,
/// else `FERRY_TOKEN`.
pub fn read_token(client: &ClientArgs) -> anyhow::Result<String> {
    let from_file = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .with_context(|| format!("reading the token in {}", path.display()))
    };
    if let Some(name) = &client.profile {
        check_profile(name)?;
        let path = client.token_dir.join(name);
        if !path.exists() {
            bail!(
                "no token saved as {name:?} in {}: `ferry token create --customer <id>` or \
                 `--support <login>` makes one (where ferry's event log is)",
                client.token_dir.display()
            );
        }
        return from_file(&path);
    }
    if let Some(path) = &client.token_file {
        return from_file(path);
    }
    match std::env::var("FERRY_TOKEN") {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
        _ => bail!(
            "say who you are: --as <name> (a token saved by `ferry token create`), \
             FERRY_TOKEN_FILE or FERRY_TOKEN"
        ),
    }
}

/// `ferry token issue|list|revoke` and `ferry whoami`, through the API.
pub async fn run(
    api: &Api,
    client: &ClientArgs,
    command: Option<TokenCommand>,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        None => show(&api.fetch::<WhoAmI>("/whoami").await?, json, |me| {
            outln!("{}", me.actor);
            for scope in &me.grants {
                outln!("  may act on {scope}");
            }
        }),
        Some(TokenCommand::Issue {
            holder,
            label,
            days,
            save,
            print,
        }) => {
            let holder = ferry_infra::api::parse_person(&holder).map_err(|e| anyhow!(e))?;
            let request = Create {
                holder,
                label,
                days,
                save,
                print,
            };
            let name = save_name(&request)?;
            let answer = api
                .send::<ferry_access::routes::IssuedToken>(
                    Method::POST,
                    "/tokens",
                    Some(json!({
                        "holder": request.holder.to_string(),
                        "label": request.label,
                        "expires_in_days": request.days,
                    })),
                )
                .await?
                .read()?;
            let issued = IssuedToken {
                id: answer.token_id,
                token: answer.token,
                expires_at: answer.expires_at,
            };
            keep(client, &request, name, &issued, json)
        }
        Some(TokenCommand::List) => show(&api.fetch::<TokenList>("/tokens").await?, json, |list| {
            let rows = list.tokens.iter().map(|t| {
                vec![
                    t.token_id.to_string(),
                    t.holder.clone(),
                    t.label.clone(),
                    named(&t.expires_at),
                    match (&t.revoked_at, &t.revoked_by) {
                        (Some(at), Some(by)) => format!("revoked {} by {by}", named(at)),
                        _ => "-".into(),
                    },
                ]
            });
            table(
                &["ID", "HOLDER", "LABEL", "EXPIRES", "REVOKED"],
                rows.collect(),
            );
        }),
        Some(TokenCommand::Revoke { token, reason }) => {
            let answer = api
                .send::<Revoked>(
                    Method::POST,
                    &format!("/tokens/{token}/revocation"),
                    Some(json!({ "reason": reason })),
                )
                .await?;
            show(&answer, json, |revoked| {
                if revoked.changed {
                    outln!("token {token} revoked");
                } else {
                    outln!("token {token} was already revoked");
                }
            })
        }
        Some(TokenCommand::Create { .. }) => Err(anyhow!(
            "`ferry token create` writes to the event log, not through the API"
        )),
    }
}
