//! `ferry grant …`: the migration rights a customer grants its users, through the
//! API (`/customers/{customer_id}/users/{login}/grants`, `/customers/{customer_id}/grants`).

use crate::cli::GrantCommand;
use crate::client::Api;
use crate::render::{named, show, table};
use anyhow::{anyhow, bail};
use ferry_access::grant_routes::{GrantChanged, GrantList};
use ferry_access::routes::WhoAmI;
use ferry_events::{Actor, ActorRole};
use reqwest::Method;
use serde_json::json;

/// The user `text` names: `<customer id>/<login>` or `user:<customer id>/<login>`.
pub fn user_actor(text: &str) -> anyhow::Result<Actor> {
    let bare = text.strip_prefix("user:").unwrap_or(text);
    let actor = ferry_infra::api::parse_actor(&format!("user:{bare}")).map_err(|_| {
        anyhow!("{text:?} is not a customer's user: write <customer id>/<login>, e.g. c-42/alice")
    })?;
    ferry_access::domain::api_token::validate_holder(&actor).map_err(|e| anyhow!("{text}: {e}"))?;
    Ok(actor)
}

/// The path of `user`'s grants.
fn grants_path(user: &Actor) -> anyhow::Result<String> {
    match (user.customer_id(), user.login()) {
        (Some(customer), Some(login)) => Ok(format!("/customers/{customer}/users/{login}/grants")),
        _ => bail!("{user} is not a customer's user"),
    }
}

/// Runs a `ferry grant` subcommand.
pub async fn run(api: &Api, command: GrantCommand, json: bool) -> anyhow::Result<()> {
    match command {
        GrantCommand::Add {
            user,
            server,
            account,
        } => {
            let path = grants_path(&user_actor(&user)?)?;
            let body = json!({ "server_id": server, "account_id": account });
            let answer = api
                .send::<GrantChanged>(Method::POST, &path, Some(body))
                .await?;
            show(&answer, json, |changed| {
                if changed.changed {
                    outln!("{} may now act on {}", changed.user, changed.scope);
                } else {
                    outln!("{} could already act on {}", changed.user, changed.scope);
                }
            })
        }
        GrantCommand::Revoke {
            user,
            server,
            account,
        } => {
            let path = format!("{}/revocation", grants_path(&user_actor(&user)?)?);
            let body = json!({ "server_id": server, "account_id": account });
            let answer = api
                .send::<GrantChanged>(Method::POST, &path, Some(body))
                .await?;
            show(&answer, json, |changed| {
                if changed.changed {
                    outln!("{} may no longer act on {}", changed.user, changed.scope);
                } else {
                    outln!("{} held no grant on {}", changed.user, changed.scope);
                }
            })
        }
        GrantCommand::List { customer } => {
            let customer = match customer {
                Some(customer) => customer,
                None => {
                    let me = api.fetch::<WhoAmI>("/whoami").await?.read()?;
                    let actor = ferry_infra::api::parse_actor(&me.actor).map_err(|e| anyhow!(e))?;
                    match (actor.role, actor.customer_id()) {
                        (ActorRole::Customer | ActorRole::User, Some(id)) => id.to_owned(),
                        _ => bail!("say whose grants: --customer <id>"),
                    }
                }
            };
            let answer = api
                .fetch::<GrantList>(&format!("/customers/{customer}/grants"))
                .await?;
            show(&answer, json, |list| {
                let rows = list.grants.iter().map(|g| {
                    vec![
                        g.user.clone(),
                        g.scope.server_id.clone(),
                        g.scope.account_id.clone().unwrap_or_else(|| "(all)".into()),
                        named(&g.granted_at),
                        g.granted_by.clone(),
                    ]
                });
                table(
                    &["USER", "SERVER", "ACCOUNT", "SINCE", "GRANTED BY"],
                    rows.collect(),
                );
            })
        }
    }
}
