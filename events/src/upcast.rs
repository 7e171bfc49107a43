//! Upcasters: how payloads written under an older schema version are read today.
//!
//! Events in the log are never rewritten. When an event type's shape changes, its
//! schema version goes up by one and an [`Upcaster`] from the previous version is
//! registered in [`UPCASTERS`]. [`decode`](crate::decode) applies them in a chain
//! (v1 → v2 → … → current) on the payload as a [`serde_json::Value`], then
//! deserializes the result as the current version. Current-version payloads never go
//! through this module.

use serde_json::Value;

/// Turns a payload of version `from_version` into a payload of version
/// `from_version + 1`.
pub type Upcaster = fn(Value) -> Result<Value, UpcastError>;

/// Why an old payload could not be upcast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct UpcastError {
    /// What was wrong with the old payload.
    pub reason: String,
}

impl UpcastError {
    /// An upcast error with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        UpcastError {
            reason: reason.into(),
        }
    }
}

/// One step of an upcasting chain.
#[derive(Debug, Clone, Copy)]
pub struct UpcastStep {
    /// The event type it applies to.
    pub event_type: &'static str,
    /// The schema version it reads; it writes `from_version + 1`.
    pub from_version: u16,
    /// The conversion.
    pub upcaster: Upcaster,
}

/// Every registered upcaster, keyed by (event type, from version).
pub const UPCASTERS: &[UpcastStep] = &[
    UpcastStep {
        event_type: "LoanOpened",
        from_version: 1,
        upcaster: crate::loan::loan_opened_v1_to_v2,
    },
    UpcastStep {
        event_type: "LoanOpened",
        from_version: 2,
        upcaster: crate::loan::loan_opened_v2_to_v3,
    },
    UpcastStep {
        event_type: "ServerRegistered",
        from_version: 1,
        upcaster: crate::credential::server_registered_v1_to_v2,
    },
    UpcastStep {
        event_type: "ServerDetailsChanged",
        from_version: 1,
        upcaster: crate::credential::server_details_changed_v1_to_v2,
    },
    UpcastStep {
        event_type: "TransitServerAdded",
        from_version: 1,
        upcaster: crate::credential::transit_server_added_v1_to_v2,
    },
    UpcastStep {
        event_type: "TransferScheduled",
        from_version: 1,
        upcaster: crate::credential::transfer_scheduled_v1_to_v2,
    },
    UpcastStep {
        event_type: "TransitServerWipeStarted",
        from_version: 1,
        upcaster: crate::transit_server::wipe_started_v1_to_v2,
    },
    UpcastStep {
        event_type: "TransferProgressed",
        from_version: 1,
        upcaster: crate::transfer::progressed_v1_to_v2,
    },
    UpcastStep {
        event_type: "AccountTrafficSwitched",
        from_version: 1,
        upcaster: crate::account_traffic::switched_v1_to_v2,
    },
    UpcastStep {
        event_type: "MxRecordRemovalAdvised",
        from_version: 1,
        upcaster: crate::dns_zone::mx_advised_v1_to_v2,
    },
];

/// The upcaster reading `event_type` at `from_version`, if one is registered.
pub fn find_upcaster(event_type: &str, from_version: u16) -> Option<Upcaster> {
    UPCASTERS
        .iter()
        .find(|step| step.event_type == event_type && step.from_version == from_version)
        .map(|step| step.upcaster)
}

/// Why a chain of upcasters could not be applied.
#[derive(Debug)]
pub(crate) enum ChainError {
    /// No upcaster reads this version.
    Missing { from_version: u16 },
    /// The upcaster from this version refused the payload.
    Failed {
        from_version: u16,
        error: UpcastError,
    },
}

/// Upcasts `payload` of `event_type` from `from_version` to `to_version`.
pub(crate) fn upcast_chain(
    event_type: &str,
    from_version: u16,
    to_version: u16,
    mut payload: Value,
) -> Result<Value, ChainError> {
    for version in from_version..to_version {
        let upcaster = find_upcaster(event_type, version).ok_or(ChainError::Missing {
            from_version: version,
        })?;
        payload = upcaster(payload).map_err(|error| ChainError::Failed {
            from_version: version,
            error,
        })?;
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::Event;

    #[test]
    fn every_old_version_has_exactly_one_upcaster() {
        for (name, _, current) in Event::TYPES {
            for version in 1..*current {
                assert!(
                    find_upcaster(name, version).is_some(),
                    "{name} v{version} has no upcaster to v{}",
                    version + 1
                );
            }
        }
        let mut seen = HashSet::new();
        for step in UPCASTERS {
            assert!(
                seen.insert((step.event_type, step.from_version)),
                "two upcasters for {} v{}",
                step.event_type,
                step.from_version
            );
            let (_, current) = Event::find_type(step.event_type)
                .unwrap_or_else(|| panic!("upcaster for unknown type {}", step.event_type));
            assert!(
                step.from_version >= 1 && step.from_version < current,
                "upcaster for {} v{} but current is v{current}",
                step.event_type,
                step.from_version
            );
        }
    }
}
