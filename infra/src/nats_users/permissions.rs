//! The NATS users' permissions as nats-server configuration: the text of
//! `deploy/nats/permissions.conf`, which `scripts/stack` (the local stack) and
//! `scripts/stack nats-credentials` (docker-compose) put inside the server's
//! `authorization` block, beside the users' public keys. A test keeps the file equal
//! to [`render`] (`FERRY_BLESS=1` rewrites it).
//!
//! Each service user may publish `*.events.<aggregate_type>.*` for the aggregate
//! types its service writes, **whatever the subject prefix**: the prefix token is a
//! wildcard, and so is the stream name in the JetStream API subjects. One server
//! configuration then serves every stream and prefix ferry is configured with: the
//! tests give each test its own stream and prefix on one server, and a deployment may
//! change `FERRY_SUBJECT_PREFIX` or `FERRY_STREAM` without regenerating the server's
//! configuration. What a service may write is still only its own aggregates, under
//! any prefix, which is what matters: no credential of one service can append an
//! event to another's aggregate.
//!
//! Reading is granted on the whole stream (consumers, direct gets, stream info): the
//! services react to one another's events by design, and JetStream carries a
//! consumer's or a batched direct get's subject filter in the request's body, where
//! subject permissions cannot see it.

use super::NatsUser;

/// The JetStream API a service uses to read the log, on any stream: stream info
/// (the log's last sequence), durable and ordered consumers (created, read, looked at,
/// reset), direct gets (loads, the version of a subject), acknowledgements and flow
/// control replies.
const READ_API: &[(&str, &str)] = &[
    (
        "$JS.API.STREAM.INFO.*",
        "stream info: the log's last sequence",
    ),
    (
        "$JS.API.CONSUMER.CREATE.*",
        "ordered consumers, unnamed (replays, the network's live follow)",
    ),
    (
        "$JS.API.CONSUMER.CREATE.*.>",
        "named consumers (projections, reactors)",
    ),
    ("$JS.API.CONSUMER.INFO.*.*", "a consumer's lag"),
    ("$JS.API.CONSUMER.MSG.NEXT.*.*", "pulling from a consumer"),
    (
        "$JS.API.CONSUMER.DELETE.*.*",
        "a projection's consumer reset for a rebuild",
    ),
    ("$JS.API.DIRECT.GET.*", "loads: batched direct gets"),
    (
        "$JS.API.DIRECT.GET.*.>",
        "the last message of a subject (an aggregate's version)",
    ),
    ("$JS.ACK.>", "acknowledging delivered messages"),
    ("$JS.FC.>", "flow control of ordered push consumers"),
];

/// The name of a user's permissions variable in the configuration, e.g.
/// `PERMISSIONS_DATA_MOVER`.
pub fn variable(user: NatsUser) -> String {
    format!(
        "PERMISSIONS_{}",
        user.name().replace('-', "_").to_uppercase()
    )
}

/// `deploy/nats/permissions.conf`.
pub fn render() -> String {
    let mut out = String::from(
        "# ferry's NATS users' permissions: one variable per user, put inside the
# server's `authorization` block beside the users' nkeys (scripts/stack writes
# both; see README, Security). Generated from ferry_infra::nats_users (a test
# checks this file is current; FERRY_BLESS=1 cargo test -p ferry-infra rewrites it).
#
# Subjects of events: <prefix>.events.<aggregate_type>.<aggregate_id>. The prefix
# and the stream name are wildcards, so one configuration serves every stream and
# subject prefix ferry is configured with (each test has its own); a service may
# still publish only its own aggregates' subjects, under any prefix. Reading is
# granted on the whole stream: JetStream carries a consumer's filter in the
# request's body, out of reach of subject permissions. Each user receives its
# answers on its own inbox prefix, which no other user may subscribe to.
",
    );
    for user in NatsUser::ALL {
        out.push('\n');
        out.push_str(&user_block(*user));
    }
    out
}

fn user_block(user: NatsUser) -> String {
    let name = variable(user);
    if user == NatsUser::Setup {
        return format!(
            "# setup: creates and updates the stream; the tests set up theirs with it.\n\
             {name} = {{\n  publish: {{ allow: [\">\"] }}\n  subscribe: {{ allow: [\">\"] }}\n}}\n"
        );
    }
    let kinds = user.publishes();
    let mut allow: Vec<(String, String)> = kinds
        .iter()
        .map(|kind| (format!("*.events.{kind}.*"), format!("its {kind} events")))
        .collect();
    allow.extend(
        READ_API
            .iter()
            .map(|(subject, why)| ((*subject).to_owned(), (*why).to_owned())),
    );
    let what = if kinds.is_empty() {
        "publishes no event".to_owned()
    } else {
        let names: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        format!("publishes {}", names.join(", "))
    };
    let mut block = format!("# {user}: {what}.\n{name} = {{\n  publish: {{\n    allow: [\n");
    for (subject, why) in allow {
        block.push_str(&format!("      \"{subject}\", # {why}\n"));
    }
    block.push_str(&format!(
        "    ]\n  }}\n  subscribe: {{ allow: [\"{}.>\"] }}\n}}\n",
        user.inbox_prefix()
    ));
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed_file() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats/permissions.conf")
    }

    #[test]
    fn the_deployed_permissions_file_is_current() {
        let rendered = render();
        let path = deployed_file();
        if std::env::var_os("FERRY_BLESS").is_some() {
            std::fs::write(&path, &rendered).expect("deploy/nats/permissions.conf written");
        }
        let deployed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            deployed == rendered,
            "{} is not what ferry_infra::nats_users::permissions renders: \
             FERRY_BLESS=1 cargo test -p ferry-infra --lib nats_users rewrites it",
            path.display()
        );
    }

    #[test]
    fn a_service_may_publish_its_own_aggregates_only() {
        let text = user_block(NatsUser::Accounts);
        for own in [
            "server",
            "target_infrastructure",
            "migration",
            "optional_migration",
        ] {
            assert!(text.contains(&format!("\"*.events.{own}.*\"")), "{text}");
        }
        assert!(!text.contains("events.transfer"), "{text}");
        assert!(text.contains("\"_INBOX.accounts.>\""), "{text}");
        assert!(!user_block(NatsUser::Read).contains(".events."));
    }
}
