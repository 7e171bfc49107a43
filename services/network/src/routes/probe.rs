//! Measuring each address's unavailability around a route change: TCP connects
//! to every address, from a chosen namespace (the "internet" side), started
//! before the change and kept up until the address answers again after it.
//!
//! Attempts start every [`ProbeSettings::interval`] whether or not the previous
//! one has finished, so a dropped SYN (waiting for its connect timeout) does not
//! blind the probe. An address is unavailable from the start of an attempt that
//! gets no answer (refused, or no answer within the connect timeout) to the start
//! of the next attempt that is answered; the figure is the sum of those spans up
//! to the first answer to an attempt started after the change completed, which
//! can only come from the new home: new connections follow the new route.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::{NamespaceName, RouteError, run_in_namespace};

/// How unavailability is measured.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeSettings {
    /// The namespace the probes connect from (the "internet" side of the
    /// router); `None`: the one ferry runs in.
    #[serde(default)]
    pub namespace: Option<NamespaceName>,
    /// The TCP port that answers on every rerouted address, on both homes.
    pub port: u16,
    /// Time between two attempts on one address: the resolution of the figure.
    #[serde(rename = "interval_ms", with = "millis")]
    pub interval: Duration,
    /// How long an attempt waits for an answer before counting as unanswered.
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// The longest a measure lasts: an address still not answering then is
    /// reported as not answering again, unavailable the whole time.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
}

impl ProbeSettings {
    /// Probes of `port` every 10 ms from `namespace`, 500 ms connect timeout, at
    /// most 3 minutes (the provider announces about a minute).
    pub fn new(namespace: Option<NamespaceName>, port: u16) -> Self {
        Self {
            namespace,
            port,
            interval: Duration::from_millis(10),
            connect_timeout: Duration::from_millis(500),
            timeout: Duration::from_secs(180),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// How long one address answered nowhere around a route change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddressUnavailability {
    /// The address.
    pub ip: IpAddr,
    /// The time it answered nowhere, in milliseconds.
    pub unavailable_ms: u64,
    /// Whether it answered after the change, before the timeout.
    pub answered_again: bool,
}

/// Runs `change` while probing `ips`; returns each address's unavailability,
/// or the change's error (the probes then stop).
pub(crate) async fn measure_around<C>(
    settings: &ProbeSettings,
    ips: &[IpAddr],
    change: C,
) -> Result<Vec<AddressUnavailability>, RouteError>
where
    C: Future<Output = Result<(), RouteError>>,
{
    let (baseline_sender, mut baseline) = mpsc::channel(ips.len().max(1));
    let (completed_sender, completed) = watch::channel(None);
    let probe_error = |source| RouteError::Probe {
        namespace: settings
            .namespace
            .as_ref()
            .map_or_else(|| "current".to_owned(), ToString::to_string),
        source,
    };
    let probes = {
        let settings = settings.clone();
        let ips = ips.to_vec();
        tokio::spawn(async move {
            let namespace = settings.namespace.clone();
            run_in_namespace(namespace.as_ref(), move || {
                probe_all(settings, ips, baseline_sender, completed)
            })
            .await
        })
    };
    // Wait for every address's first answer (or its absence), so that the probes
    // have seen the state before the change.
    let mut baselines = 0;
    while baselines < ips.len() && baseline.recv().await.is_some() {
        baselines += 1;
    }
    if baselines < ips.len() {
        // The probes ended before seeing every address: they could not run (no
        // change is made then), or their timeout is shorter than a connect (the
        // change is made, its addresses reported as not answering again).
        let unavailability = match probes.await {
            Ok(Ok(unavailability)) => unavailability,
            Ok(Err(error)) => return Err(probe_error(error)),
            Err(joined) => return Err(probe_error(std::io::Error::other(joined))),
        };
        change.await?;
        return Ok(unavailability);
    }
    if let Err(error) = change.await {
        drop(completed_sender);
        probes.abort();
        return Err(error);
    }
    // Ignored: no receiver left only means the probes already ended (failed).
    let _ = completed_sender.send(Some(Instant::now()));
    match probes.await {
        Ok(Ok(unavailability)) => Ok(unavailability),
        Ok(Err(error)) => Err(probe_error(error)),
        Err(joined) => Err(probe_error(std::io::Error::other(joined))),
    }
}

async fn probe_all(
    settings: ProbeSettings,
    ips: Vec<IpAddr>,
    baseline: mpsc::Sender<()>,
    completed: watch::Receiver<Option<Instant>>,
) -> Vec<AddressUnavailability> {
    let mut probes = JoinSet::new();
    for (index, ip) in ips.iter().enumerate() {
        let probe = probe_address(
            SocketAddr::new(*ip, settings.port),
            settings.clone(),
            baseline.clone(),
            completed.clone(),
        );
        probes.spawn(async move { (index, probe.await) });
    }
    drop(baseline);
    let mut results: Vec<Option<AddressUnavailability>> = vec![None; ips.len()];
    while let Some(joined) = probes.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = Some(result);
        }
    }
    ips.iter()
        .zip(results)
        .map(|(&ip, result)| {
            result.unwrap_or(AddressUnavailability {
                ip,
                unavailable_ms: millis(settings.timeout),
                answered_again: false,
            })
        })
        .collect()
}

async fn probe_address(
    address: SocketAddr,
    settings: ProbeSettings,
    baseline: mpsc::Sender<()>,
    mut completed: watch::Receiver<Option<Instant>>,
) -> AddressUnavailability {
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut attempts = JoinSet::new();
    let mut starts: Vec<Instant> = Vec::new();
    let mut answered: Vec<Option<bool>> = Vec::new();
    let mut baseline = Some(baseline);
    let mut recovered_at = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            _ = ticker.tick() => {
                // The change failed: its sender is gone without a completion.
                // (`has_changed` first: it must not run while a `borrow` is held.)
                if completed.has_changed().is_err() && completed.borrow().is_none() {
                    break;
                }
                let index = starts.len();
                starts.push(Instant::now());
                answered.push(None);
                let connect_timeout = settings.connect_timeout;
                attempts.spawn(async move {
                    let connect = tokio::time::timeout(connect_timeout, TcpStream::connect(address));
                    (index, matches!(connect.await, Ok(Ok(_))))
                });
            }
            Some(joined) = attempts.join_next() => {
                let Ok((index, ok)) = joined else { continue };
                answered[index] = Some(ok);
                if let Some(baseline) = baseline.take() {
                    // Ignored: the caller no longer waiting is fine.
                    let _ = baseline.send(()).await;
                }
                let change_completed = *completed.borrow_and_update();
                if ok && change_completed.is_some_and(|at| starts[index] >= at) {
                    recovered_at = Some(index);
                    break;
                }
            }
        }
    }
    // Attempts still pending when a later one was answered were lost: unanswered.
    let considered = recovered_at.map_or(starts.len(), |index| index + 1);
    let mut unavailable = Duration::ZERO;
    let mut outage_start = None;
    for (start, answered) in starts.iter().zip(&answered).take(considered) {
        match (answered == &Some(true), outage_start) {
            (false, None) => outage_start = Some(*start),
            (true, Some(since)) => {
                unavailable += start.duration_since(since);
                outage_start = None;
            }
            _ => {}
        }
    }
    if let Some(since) = outage_start {
        unavailable += since.elapsed();
    }
    AddressUnavailability {
        ip: address.ip(),
        unavailable_ms: millis(unavailable),
        answered_again: recovered_at.is_some(),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
