//! Lines of the transit pool's and the data mover's events: transit servers, queues
//! and transfers.

use ferry_events::{
    TransferEvent, TransferKind, TransferPhase, TransitQueueEvent, TransitServerEvent,
};

use super::{Narration, Narrator, TransferNote, accounts, bytes, count, duration};

pub(super) fn queue(configuration: &str, event: &TransitQueueEvent) -> Narration {
    use TransitQueueEvent as E;
    Narration::says(match event {
        E::TransitRequestQueued(e) => format!(
            "{} queued for a {configuration} transit server",
            e.client_server_id
        ),
        E::TransitRequestServed(e) => format!(
            "the {configuration} queue served the request with {}",
            e.transit_server_id
        ),
        E::TransitRequestWithdrawn(e) => {
            format!("request left the {configuration} queue: {}", e.reason)
        }
        E::TransitServerAvailable(e) => format!(
            "{} available in the {configuration} queue",
            e.transit_server_id
        ),
        E::TransitServerWithdrawn(e) => format!(
            "{} withdrawn from the {configuration} queue: {}",
            e.transit_server_id, e.reason
        ),
        E::TransitAssignmentEnded(e) => format!(
            "assignment of {} ended in the {configuration} queue",
            e.transit_server_id
        ),
    })
}

fn kind_name(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::PreCopy => "pre-copy",
        TransferKind::Cutover => "cutover",
        TransferKind::Relocation => "relocation",
        TransferKind::Rollback => "rollback",
        TransferKind::TestCopy => "test copy",
        TransferKind::ServiceMigration => "service migration",
        TransferKind::Wipe => "wipe",
    }
}

fn phase_name(phase: TransferPhase) -> &'static str {
    match phase {
        TransferPhase::Files => "files",
        TransferPhase::Mails => "mails",
        TransferPhase::Databases => "databases",
        TransferPhase::FinalSync => "final sync",
        TransferPhase::Verifying => "verification",
        TransferPhase::Erasing => "erasure",
        TransferPhase::Switching => "traffic switch",
    }
}

impl Narrator {
    pub(super) fn transit(&mut self, id: &str, event: &TransitServerEvent) -> Narration {
        use TransitServerEvent as E;
        Narration::says(match event {
            E::TransitServerAdded(e) => format!(
                "transit server {id} ({}, {}) joined the pool",
                e.configuration, e.infrastructure_version
            ),
            E::TransitServerReserved(e) => {
                self.transit_of.insert(e.migration_id, id.to_owned());
                format!("transit server {id} reserved for {}", e.client_server_id)
            }
            E::TransitInstallationStarted(e) => format!(
                "installation of {id} on {} started (about {})",
                e.infrastructure_version,
                duration(e.expected_duration_ms)
            ),
            E::TransitInstallationCompleted(_) => format!("installation of {id} completed"),
            E::TransitInstallationFailed(e) => {
                format!("installation of {id} failed: {}", e.reason)
            }
            E::TransitServerLent(_) => format!("transit server {id} lent: the loan starts"),
            E::TransitServerReleased(_) => {
                format!("transit server {id} released: the loan ends")
            }
            E::TransitServerWipeStarted(_) => format!("wipe of {id} started"),
            E::TransitServerWiped(_) => format!("{id} wiped"),
            E::TransitServerTakenOutOfService(e) => {
                format!("{id} taken out of service: {}", e.reason)
            }
            E::TransitServerReturnedToService(_) => format!("{id} back in service"),
        })
    }

    pub(super) fn transfer(&mut self, id: &str, event: &TransferEvent) -> Narration {
        use TransferEvent as E;
        if let E::TransferScheduled(e) = event {
            self.transfers.insert(
                id.to_owned(),
                TransferNote {
                    kind: e.kind,
                    accounts: e.accounts.iter().map(|a| a.account_id.clone()).collect(),
                },
            );
        }
        let what = match self.transfers.get(id) {
            Some(note) if note.accounts.is_empty() => kind_name(note.kind).to_owned(),
            Some(note) => format!("{} of {}", kind_name(note.kind), accounts(&note.accounts)),
            None => format!("transfer {id}"),
        };
        let line = match event {
            E::TransferScheduled(e) => format!(
                "{what} scheduled from {} to {}",
                e.source.server_id, e.destination.server_id
            ),
            E::TransferStarted(_) => format!("{what} started"),
            E::DowntimeEstimated(e) => format!(
                "account {} expected down about {} ({})",
                e.account_id,
                duration(e.estimated_downtime_ms),
                match e.measured_cutovers {
                    0 => "no cutover measured yet: the priors alone".to_owned(),
                    n => format!(
                        "fitted on {}",
                        count(usize::try_from(n).unwrap_or(usize::MAX), "measured cutover")
                    ),
                }
            ),
            E::TransferProgressed(e) => {
                let mut line = format!(
                    "{what}: {} {} of {}",
                    phase_name(e.phase),
                    bytes(e.bytes_done),
                    bytes(e.bytes_total)
                );
                // Schema version 1 did not count the bytes copied.
                if e.run_id.is_some() {
                    line.push_str(&format!(", {} copied so far", bytes(e.bytes_copied)));
                }
                line
            }
            E::AccountFrozen(e) => format!("account {} frozen: its downtime starts", e.account_id),
            E::AccountUnfrozen(e) => format!("account {} serving again", e.account_id),
            E::TransferVerified(e) => format!(
                "{what} verified: {}, {} checked",
                count(e.files_checked as usize, "file"),
                count(e.databases.len(), "database")
            ),
            E::TransferCompleted(e) => {
                let mut line = format!(
                    "{what} completed: {} in {}",
                    bytes(e.bytes_copied),
                    duration(e.duration_ms)
                );
                if let Some(downtime) = e.downtime_ms {
                    line.push_str(&format!(", {} of downtime", duration(downtime)));
                }
                return Narration::with_downtime(line, e.downtime_ms);
            }
            E::TransferFailed(e) => {
                format!("{what} failed during {}: {}", phase_name(e.phase), e.reason)
            }
            E::TransferCancelled(e) => format!("{what} cancelled: {}", e.reason),
        };
        Narration::says(line)
    }
}
