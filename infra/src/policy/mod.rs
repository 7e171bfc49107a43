//! The edge of `ferry_core::policy`: a service's policy run against the log.
//!
//! For a policy `P` over its view `V`, a service runs three things:
//! - the view's projection ([`view::ViewProjection`]), keeping `V` in PostgreSQL;
//! - a reactor ([`PolicyReactor`], durable consumer `P::NAME`) reading the events of
//!   `V::AGGREGATES`: for the event at sequence `s` it waits until the view's
//!   checkpoint is at least `s` (so the view has folded the event, maybe later ones
//!   too), reads the entries the policy asks for, and runs the commands it returns
//!   through the service's [`Execute`]; what fails is parked ([`parked`]). Events
//!   are handled in lanes ([`Policy::lane`], [`crate::reactor::run_in_lanes`]): a
//!   lane's in log order, each after the view has folded what the previous one
//!   appended to the view's aggregates; lanes (migrations, for a policy that says
//!   so) side by side;
//! - the timers ([`run_timers`]): the view's entries whose due time has come fire
//!   [`Policy::on_due`]. Due times live in the view, so they survive restarts;
//!   an entry fires again (same command ids) until an event moves or removes it.
//!
//! Emits and consumes no event type of its own.

pub mod parked;
pub mod routes;
pub mod view;

use crate::event_log::{EventLog, Recorded};
use crate::reactor::{Effect, ReactionError, Reactor};
use ferry_core::policy::{Entries, Policy, View};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use view::ViewReader;

/// How a service carries out the commands of its policy `P`: its command handlers.
pub trait Execute<C>: Send + Sync + 'static {
    /// Runs one command and says what it appended. A refusal by a decider is not an
    /// error of the reaction (see [`crate::reactor::command_outcome`]).
    fn execute<'a>(
        &'a self,
        command: &'a C,
    ) -> impl Future<Output = Result<Vec<Effect>, ReactionError>> + Send + 'a;
}

/// Policy `P` as a [`Reactor`], its commands run by `X`.
pub struct PolicyReactor<P: Policy, X> {
    view: ViewReader<P::View>,
    executor: X,
    /// Per lane, the log position of what the lane's last reaction
    /// appended to the view's aggregates: the lane's next reaction first waits for the
    /// view to fold it, so that it never decides on a view older than its own effects
    /// (an assignment ended right after its reservation was asked for must see the
    /// reservation).
    own_effects: std::sync::Mutex<HashMap<String, u64>>,
    shutdown: CancellationToken,
}

impl<P: Policy, X> PolicyReactor<P, X> {
    /// The reactor reading `view` (kept from `log`) and running its commands with
    /// `executor`.
    pub fn new(view: ViewReader<P::View>, executor: X, shutdown: CancellationToken) -> Self {
        Self {
            view,
            executor,
            own_effects: std::sync::Mutex::default(),
            shutdown,
        }
    }

    /// The position of the lane's own effects still to be waited for, taken.
    fn take_own_effects(&self, lane: &str) -> Option<u64> {
        self.own_effects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(lane)
    }

    /// Notes what the lane's reaction appended that the view will fold.
    fn note_own_effects(&self, lane: &str, effects: &[Effect]) {
        let folded = effects
            .iter()
            .filter(|e| <P::View as View>::AGGREGATES.contains(&e.aggregate_type))
            .map(|e| e.version)
            .max();
        if let Some(version) = folded {
            self.keep_own_effects(lane, version);
        }
    }

    fn keep_own_effects(&self, lane: &str, version: u64) {
        let mut own = self
            .own_effects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if own.len() >= OWN_EFFECTS_KEPT {
            // Lanes that ended (a migration over) leave their last effects here: those
            // the view has folded need no waiting.
            let folded = self.view.folded_here().unwrap_or(0);
            own.retain(|_, at| *at > folded);
        }
        let at = own.entry(lane.to_owned()).or_default();
        *at = (*at).max(version);
    }
}

/// Lanes whose own effects are remembered before the folded ones are forgotten.
const OWN_EFFECTS_KEPT: usize = 4096;

/// The entries a reaction to `event` reads from the view, round after round
/// ([`ferry_core::policy::ReadRounds`]).
pub async fn read_entries<P: Policy>(
    view: &ViewReader<P::View>,
    event: &ferry_events::Envelope,
) -> Result<Entries<<P::View as View>::Entry>, ReactionError> {
    let mut rounds = ferry_core::policy::ReadRounds::<P>::new(event);
    while let Some(keys) = rounds.next_keys() {
        rounds.found(view.entries(&keys).await?);
    }
    Ok(rounds.into_read())
}

impl<P: Policy, X: Execute<P::Command>> Reactor for PolicyReactor<P, X> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        log.filters_for(<P::View as View>::AGGREGATES)
    }

    fn process(&self, event: &Recorded) -> String {
        P::process(&event.envelope)
    }

    fn lane(&self, event: &Recorded) -> String {
        P::lane(&event.envelope)
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let lane = P::lane(&recorded.envelope);
        let own = self.take_own_effects(&lane);
        let newest = recorded.sequence.max(own.unwrap_or(0));
        if let Err(e) = self.view.wait_for(newest, &self.shutdown).await {
            // Still to be waited for when the event is tried again.
            if let Some(own) = own {
                self.keep_own_effects(&lane, own);
            }
            return Err(e);
        }
        self.decide_and_run(recorded).await
    }

    async fn react_again(&self, recorded: &Recorded, log: &EventLog) -> Result<(), ReactionError> {
        // Later than its event: the view first catches up with the whole log, so
        // that the reaction sees what the retries before it caused.
        self.view.wait_caught_up(log, &self.shutdown).await?;
        self.decide_and_run(recorded).await
    }
}

impl<P: Policy, X: Execute<P::Command>> PolicyReactor<P, X> {
    /// Reads what the policy asks for, decides, and runs the commands.
    async fn decide_and_run(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let entries = read_entries::<P>(&self.view, &recorded.envelope).await?;
        let commands = P::react(&recorded.envelope, &entries)
            .map_err(|missing| ReactionError::Failed(format!("a fact is missing: {missing}")))?;
        let lane = P::lane(&recorded.envelope);
        for command in commands {
            tracing::debug!(reactor = P::NAME, ?command, "issuing");
            let effects = self.executor.execute(&command).await?;
            self.note_own_effects(&lane, &effects);
        }
        Ok(())
    }
}

/// Events a policy reacts to at once, across lanes (migrations).
const LANES_IN_FLIGHT: usize = 32;

/// What a policy runs on: the log, the database of its view and of the parked
/// reactions, and the board its view's runner reports to.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    /// The event log.
    pub log: EventLog,
    /// The database holding the view and the parked reactions.
    pub pool: deadpool_postgres::Pool,
    /// Where the view's runner reports its checkpoint (in this process).
    pub board: crate::projection::StatusBoard,
    /// Where failed reactions are parked.
    pub parked: parked::ParkedReactions,
}

/// Runs policy `P` until `shutdown`: its view's projection, its reactor and its
/// timers, commands carried out by `executor`. Returns when all three have stopped.
pub async fn run<P, X>(
    context: PolicyContext,
    executor: X,
    shutdown: CancellationToken,
) -> Result<(), crate::reactor::ReactorError>
where
    P: Policy,
    X: Execute<P::Command> + Clone,
{
    let projection = crate::projection::ProjectionRunner::new(
        std::sync::Arc::new(view::ViewProjection::<P::View>::default()),
        context.log.clone(),
        context.pool.clone(),
        crate::projection::RunnerSettings::default(),
        context.board.clone(),
    );
    let view = ViewReader::<P::View>::new(context.pool.clone(), context.board.clone());
    let reactor = PolicyReactor::<P, X>::new(view.clone(), executor.clone(), shutdown.clone());
    let (projected, reacted, _) = tokio::join!(
        projection.run(shutdown.clone()),
        crate::reactor::run_in_lanes(
            std::sync::Arc::new(reactor),
            context.log.clone(),
            context.parked.clone(),
            crate::reactor::ReactorSettings::default(),
            LANES_IN_FLIGHT,
            shutdown.clone(),
        ),
        run_timers::<P, X>(
            view,
            executor,
            TimerSettings {
                clock: context.log.clock().clone(),
                ..TimerSettings::default()
            },
            shutdown.clone()
        ),
    );
    if let Err(e) = projected {
        tracing::error!(policy = P::NAME, error = %e, "the view stopped");
    }
    reacted
}

/// How the timers look for due entries.
#[derive(Debug, Clone)]
pub struct TimerSettings {
    /// Longest sleep between two looks (a due time set by another process, a clock
    /// that jumped).
    pub poll: Duration,
    /// How long an entry fired and still due waits before it fires again.
    pub refire: Duration,
    /// What "now" is (the log's clock in a service).
    pub clock: crate::clock::Clock,
}

impl Default for TimerSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            refire: Duration::from_secs(30),
            clock: crate::clock::Clock::system(),
        }
    }
}

/// Fires policy `P`'s due entries until `shutdown`: each entry of the view whose due
/// time has come gives [`Policy::on_due`]'s commands, run by `executor`. An entry
/// still there after firing (its completion not yet folded, or refused) fires again
/// after `refire`; a failure is logged once per entry and retried the same way.
pub async fn run_timers<P: Policy, X: Execute<P::Command>>(
    view: ViewReader<P::View>,
    executor: X,
    settings: TimerSettings,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    // Keyed by entry and due time: an entry given a new due time (a wipe after an
    // installation) is a new timer and fires at once.
    let mut fired: HashMap<(String, Option<chrono::DateTime<chrono::Utc>>), tokio::time::Instant> =
        HashMap::new();
    let mut failing: HashMap<String, String> = HashMap::new();
    let mut changes = view.changes();
    loop {
        changes.borrow_and_update();
        let now = settings.clock.now();
        let mut sleep = settings.poll;
        match view.due(now, 100).await {
            Ok((due, next)) => {
                let due_timers: BTreeSet<(String, Option<chrono::DateTime<chrono::Utc>>)> = due
                    .iter()
                    .map(|(key, entry)| (key.clone(), <P::View as View>::due(entry)))
                    .collect();
                fired.retain(|timer, _| due_timers.contains(timer));
                failing.retain(|key, _| due_timers.iter().any(|(k, _)| k == key));
                for (key, entry) in &due {
                    let timer = (key.clone(), <P::View as View>::due(entry));
                    if fired
                        .get(&timer)
                        .is_some_and(|at| at.elapsed() < settings.refire)
                    {
                        continue;
                    }
                    fired.insert(timer, tokio::time::Instant::now());
                    for command in P::on_due(key, entry) {
                        match executor.execute(&command).await {
                            Ok(_) => {
                                failing.remove(key);
                            }
                            Err(error) => {
                                let error = error.to_string();
                                if failing.get(key) != Some(&error) {
                                    tracing::error!(timer = %key, policy = P::NAME, %error, "timer failed; firing again later");
                                }
                                failing.insert(key.clone(), error);
                            }
                        }
                    }
                }
                if let Some(next) = next {
                    let until = (next - now).to_std().unwrap_or_default();
                    sleep = sleep.min(until.max(Duration::from_millis(10)));
                }
            }
            Err(error) => {
                tracing::debug!(policy = P::NAME, %error, "cannot read due timers yet");
            }
        }
        // Until the next due time, the next poll, or a change of the view (a timer
        // set by an event just folded), whichever comes first.
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(sleep) => {}
            _ = changes.changed() => {}
        }
    }
}
