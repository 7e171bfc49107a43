//! What other aggregates tell about a migration: its transit server (reserved,
//! installed, lent, released), its queue (queued, served, withdrawn, assignment
//! ended) and its transfers (planned, progressing, ended).

use ferry_events::{TransferEvent, TransitQueueEvent, TransitServerEvent};
use uuid::Uuid;

use super::MigrationView;
use crate::view::At;
use crate::view::transfer::TransferView;

impl MigrationView {
    /// Folds an event of the transit server `transit_server_id` about this migration.
    pub fn apply_transit(&mut self, transit_server_id: &str, event: &TransitServerEvent, at: At) {
        let bound = self
            .transit
            .as_ref()
            .is_some_and(|t| t.transit_server_id == transit_server_id);
        let binds = matches!(event, TransitServerEvent::TransitServerReserved(_));
        // A late event of a server the migration no longer holds changes nothing.
        if bound || (binds && !self.state.is_final()) {
            self.assignment(transit_server_id).apply(event, at);
        }
    }

    /// Folds an event of the queue of `configuration` about this migration.
    pub fn apply_queue(&mut self, configuration: &str, event: &TransitQueueEvent, at: At) {
        match event {
            TransitQueueEvent::TransitRequestQueued(e) => {
                let queue = self.wait_in(configuration);
                queue.requested_at = Some(e.requested_at);
                queue.queued_at = Some(at.occurred_at);
            }
            TransitQueueEvent::TransitRequestServed(e) => {
                if let Some(queue) = self.queue.as_mut().filter(|q| q.is_waiting()) {
                    queue.served_at = Some(at.occurred_at);
                    queue.served_with = Some(e.transit_server_id.clone());
                }
            }
            TransitQueueEvent::TransitRequestWithdrawn(e) => {
                if let Some(queue) = self.queue.as_mut().filter(|q| q.is_waiting()) {
                    queue.withdrawn_at = Some(at.occurred_at);
                    queue.withdrawn_reason = Some(e.reason.clone());
                }
            }
            TransitQueueEvent::TransitAssignmentEnded(e) => {
                if let Some(transit) = self
                    .transit
                    .as_mut()
                    .filter(|t| t.transit_server_id == e.transit_server_id)
                {
                    transit.assignment_ended_at = Some(at.occurred_at);
                }
            }
            TransitQueueEvent::TransitServerAvailable(_)
            | TransitQueueEvent::TransitServerWithdrawn(_) => {}
        }
    }

    /// Folds an event of the migration's transfer `transfer_id`: the transfer in the
    /// list, and the account operation it performs.
    pub fn apply_transfer(&mut self, transfer_id: Uuid, event: &TransferEvent, at: At) {
        match self
            .transfers
            .iter_mut()
            .find(|t| t.transfer_id == transfer_id)
        {
            Some(transfer) => transfer.apply(event, at),
            None => {
                if let TransferEvent::TransferScheduled(e) = event {
                    self.transfers.push(TransferView::scheduled(e, at));
                } else {
                    return;
                }
            }
        }
        for account in &mut self.accounts {
            if let Some(operation) = account
                .operation
                .as_mut()
                .filter(|o| o.transfer.transfer_id == transfer_id)
            {
                operation.transfer.apply(event, at);
                // The data mover's fitted estimate replaces the rule of thumb.
                if let TransferEvent::DowntimeEstimated(e) = event
                    && e.account_id == account.account_id
                {
                    operation.estimated_downtime_ms = e.estimated_downtime_ms;
                }
            }
        }
    }
}
