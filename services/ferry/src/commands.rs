//! The client subcommands: each is one or a few API calls, printed by [`crate::render`].

use crate::cli::{
    ClientArgs, Command, MigrationCommand, OptionalCommand, ReactionsCommand, TransitCommand,
};
use crate::client::Api;
use crate::fleet::{self, Fleet};
use crate::render;
use anyhow::anyhow;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// Runs a client subcommand against the API.
pub async fn run(args: &ClientArgs, command: Command) -> anyhow::Result<()> {
    let token = crate::token::read_token(args)?;
    let api = Api::new(&args.api, &token)?;
    let json = args.json;
    match command {
        Command::Up(_) | Command::Demo { .. } | Command::Log(_) => Err(anyhow!(
            "`ferry up` and `ferry demo` are not client commands"
        )),
        Command::Import { file } => {
            let fleet = Fleet::read(&file)?;
            let imported = fleet::import(&api, &fleet).await?;
            render::imported(&imported, json)
        }
        Command::Servers { step } => {
            let path = match step {
                Some(step) => format!("/servers?step={step}"),
                None => "/servers".to_owned(),
            };
            render::servers(&api.fetch(&path).await?, json)
        }
        Command::Server { server } => {
            render::server(&api.fetch(&format!("/servers/{server}")).await?, json)
        }
        Command::Compatibility { server, target } => render::compatibility(
            &api.fetch(&format!("/servers/{server}/compatibility?target={target}"))
                .await?,
            json,
        ),
        Command::Audit { server } => {
            render::audit(&api.fetch(&format!("/servers/{server}/audit")).await?, json)
        }
        Command::Estimate { server } => render::estimates(
            &api.fetch(&format!("/servers/{server}/downtime-estimates"))
                .await?,
            json,
        ),
        Command::Migration(command) => migration(&api, command, json).await,
        Command::Optional(command) => optional(&api, command, json).await,
        Command::Transit(command) => transit(&api, command, json).await,
        Command::Reactions(command) => reactions(&api, command, json).await,
        Command::Billing(command) => crate::billing::run(&api, command, json).await,
        Command::Outbox(command) => crate::outbox::run(&api, command, json).await,
        Command::Token(command) => crate::token::run(&api, args, Some(command), json).await,
        Command::Whoami => crate::token::run(&api, args, None, json).await,
        Command::Grant(command) => crate::grants::run(&api, command, json).await,
    }
}

async fn reactions(api: &Api, command: ReactionsCommand, json: bool) -> anyhow::Result<()> {
    let query = |reactor: Option<String>| match reactor {
        Some(reactor) => format!("?reactor={reactor}"),
        None => String::new(),
    };
    match command {
        ReactionsCommand::List { reactor } => render::parked(
            &api.fetch(&format!("/reactions/parked{}", query(reactor)))
                .await?,
            json,
        ),
        ReactionsCommand::Retry { reactor } => render::retry_requested(
            &api.send(
                Method::POST,
                &format!("/reactions/parked/retry{}", query(reactor)),
                None,
            )
            .await?,
            json,
        ),
    }
}

async fn migration(api: &Api, command: MigrationCommand, json: bool) -> anyhow::Result<()> {
    use MigrationCommand as M;
    let post = |path: String| (Method::POST, path, None);
    let (method, path, body) = match command {
        M::Show { migration } => {
            let id = resolve(api, &migration).await?;
            return render::migration(&api.fetch(&format!("/migrations/{id}")).await?, json);
        }
        M::Open { server, target } => {
            let reply = api
                .send(
                    Method::POST,
                    &format!("/servers/{server}/migrations"),
                    Some(json!({ "target_version": target })),
                )
                .await?;
            return render::opened(&reply, json);
        }
        M::Recheck { migration } => post(format!(
            "/migrations/{}/compatibility-check",
            resolve(api, &migration).await?
        )),
        M::Test {
            migration,
            account,
            discard,
        } => {
            let path = format!(
                "/migrations/{}/accounts/{account}/test",
                resolve(api, &migration).await?
            );
            (
                if discard {
                    Method::DELETE
                } else {
                    Method::POST
                },
                path,
                None,
            )
        }
        M::Ready {
            migration,
            account,
            withdraw,
        } => {
            let path = format!(
                "/migrations/{}/accounts/{account}/ready",
                resolve(api, &migration).await?
            );
            (
                if withdraw {
                    Method::DELETE
                } else {
                    Method::POST
                },
                path,
                None,
            )
        }
        M::RequestTransit { migration } => post(format!(
            "/migrations/{}/transit-request",
            resolve(api, &migration).await?
        )),
        M::RemoveLanguages { migration, restore } => {
            let path = format!(
                "/migrations/{}/obsolete-languages/removal",
                resolve(api, &migration).await?
            );
            (
                if restore {
                    Method::DELETE
                } else {
                    Method::POST
                },
                path,
                None,
            )
        }
        M::Move {
            migration,
            account,
            wait,
        } => return account_transfer(api, &migration, &account, "move", "moved", wait, json).await,
        M::Verify { migration, account } => post(format!(
            "/migrations/{}/accounts/{account}/verification",
            resolve(api, &migration).await?
        )),
        M::Rollback {
            migration,
            account,
            wait,
        } => {
            let what = ("rollback", "rolled back");
            return account_transfer(api, &migration, &account, what.0, what.1, wait, json).await;
        }
        M::RequestReinstall { migration } => post(format!(
            "/migrations/{}/reinstall-request",
            resolve(api, &migration).await?
        )),
        M::StartReinstall { migration } => post(format!(
            "/migrations/{}/reinstall",
            resolve(api, &migration).await?
        )),
        M::Reinstalled {
            migration,
            infrastructure_version,
        } => (
            Method::POST,
            format!(
                "/migrations/{}/reinstall/done",
                resolve(api, &migration).await?
            ),
            Some(json!({ "infrastructure_version": infrastructure_version })),
        ),
        M::Relocate {
            migration,
            account,
            wait,
        } => {
            let what = ("relocation", "relocated");
            return account_transfer(api, &migration, &account, what.0, what.1, wait, json).await;
        }
        M::RetryPreCopy { migration } => post(format!(
            "/migrations/{}/pre-copy/retry",
            resolve(api, &migration).await?
        )),
        M::Abort {
            migration,
            account,
            reason,
        } => (
            Method::POST,
            format!(
                "/migrations/{}/accounts/{account}/abort",
                resolve(api, &migration).await?
            ),
            Some(json!({ "reason": reason })),
        ),
        M::Cancel { migration, reason } => (
            Method::POST,
            format!(
                "/migrations/{}/cancellation",
                resolve(api, &migration).await?
            ),
            Some(json!({ "reason": reason })),
        ),
    };
    render::command(&api.send(method, &path, body).await?, json)
}

/// An account's move, rollback or relocation (`path` names it in the API: `move`,
/// `rollback`, `relocation`), followed to its end with `wait` (see [`crate::wait`]).
async fn account_transfer(
    api: &Api,
    migration: &str,
    account: &str,
    path: &str,
    done: &str,
    wait: bool,
    json: bool,
) -> anyhow::Result<()> {
    let migration_id = resolve(api, migration).await?;
    let before = if wait {
        Some(crate::wait::before(api, migration_id, account).await?)
    } else {
        None
    };
    let reply = api
        .send(
            Method::POST,
            &format!("/migrations/{migration_id}/accounts/{account}/{path}"),
            None,
        )
        .await?;
    render::command(&reply, json)?;
    let Some(before) = before else {
        return Ok(());
    };
    let outcome = crate::wait::until_ended(api, migration_id, account, &before).await?;
    crate::wait::report(account, done, &outcome)
}

async fn optional(api: &Api, command: OptionalCommand, json: bool) -> anyhow::Result<()> {
    match command {
        OptionalCommand::List { server } => render::optional_list(
            &api.fetch(&format!("/optional-migrations?server={server}"))
                .await?,
            json,
        ),
        OptionalCommand::Schedule {
            server,
            service,
            from,
            to,
            at,
        } => {
            let body = json!({
                "service": service, "from_version": from, "to_version": to, "scheduled_for": at,
            });
            let reply = api
                .send(
                    Method::POST,
                    &format!("/servers/{server}/optional-migrations"),
                    Some(body),
                )
                .await?;
            render::scheduled(&reply, json)
        }
        OptionalCommand::Apply { id } => render::command(
            &api.send(
                Method::POST,
                &format!("/optional-migrations/{id}/application"),
                None,
            )
            .await?,
            json,
        ),
        OptionalCommand::Cancel { id, reason } => render::command(
            &api.send(
                Method::POST,
                &format!("/optional-migrations/{id}/cancellation"),
                Some(json!({ "reason": reason })),
            )
            .await?,
            json,
        ),
    }
}

async fn transit(api: &Api, command: TransitCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TransitCommand::List => {
            render::transit_servers(&api.fetch("/transit-servers").await?, json)
        }
        TransitCommand::Queues => render::queues(&api.fetch("/transit-queues").await?, json),
        TransitCommand::OutOfService { id, reason } => render::changes(
            &api.send(
                Method::POST,
                &format!("/transit-servers/{id}/out-of-service"),
                Some(json!({ "reason": reason })),
            )
            .await?,
            json,
        ),
        TransitCommand::InService { id } => render::changes(
            &api.send(
                Method::POST,
                &format!("/transit-servers/{id}/in-service"),
                None,
            )
            .await?,
            json,
        ),
        TransitCommand::RetryInstall { id } => render::changes(
            &api.send(
                Method::POST,
                &format!("/transit-servers/{id}/installation/retry"),
                None,
            )
            .await?,
            json,
        ),
    }
}

/// A migration id as given, or the current migration of the server given.
pub(crate) async fn resolve(api: &Api, reference: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(id);
    }
    // From the command side: a migration opened a moment ago is there, whether or
    // not the read side has caught up.
    let current: ferry_accounts::routes::CurrentMigration = api
        .fetch(&format!("/servers/{reference}/current-migration"))
        .await?
        .read()?;
    Ok(current.migration_id)
}

/// Used by the render module's tests and by scripts: the value as pretty JSON.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
