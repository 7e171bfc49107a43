//! The live set of zones the DNS server answers from. Writers compile a zone
//! outside any lock and swap it in with one map insert, so the running server
//! sees an update at once and a query never waits for more than that insert.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use hickory_server::proto::rr::LowerName;

use super::zone::{ServedZone, SkippedRecord, Zone, ZoneError, parse_host_name};

/// A cheaply clonable, thread-safe handle on the zones served; every clone sees
/// the same zones. Updates apply to a running server immediately.
#[derive(Debug, Clone, Default)]
pub struct ZoneStore {
    zones: Arc<RwLock<HashMap<LowerName, Arc<ServedZone>>>>,
}

impl ZoneStore {
    /// An empty store: every query is refused until zones are upserted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `zone`, replacing the zone of the same domain if any.
    ///
    /// Records that cannot be served (hostile or broken data: an A value that is
    /// not an IPv4 address, a name outside the zone, a CNAME beside other
    /// records...) are dropped, the rest of the zone is served; they are
    /// returned, and logged in one warning per update. Fails, leaving the store
    /// unchanged, only when the domain itself is not a valid name.
    pub fn upsert(&self, zone: Zone) -> Result<Vec<SkippedRecord>, ZoneError> {
        let (served, skipped) = ServedZone::compile(zone)?;
        if let Some(first) = skipped.first() {
            tracing::warn!(
                zone = %served.zone.domain,
                serial = served.zone.serial,
                skipped = skipped.len(),
                first_name = %first.record.name,
                first_kind = ?first.record.kind,
                first_reason = %first.reason,
                "DNS zone update: records that cannot be served were dropped"
            );
        }
        let key = LowerName::new(&served.origin);
        // The replaced zone is freed after the lock is released.
        let replaced = self.write().insert(key, Arc::new(served));
        drop(replaced);
        Ok(skipped)
    }

    /// Stops serving the zone of `domain` (with or without trailing dot, any
    /// case): its names are refused from now on. Returns whether it was served.
    pub fn remove(&self, domain: &str) -> bool {
        match parse_host_name(domain) {
            Ok(name) => {
                let removed = self.write().remove(&LowerName::new(&name));
                removed.is_some()
            }
            Err(_) => false,
        }
    }

    /// The zone of `domain` as served (normalised, without the records that
    /// were dropped), if it is served.
    pub fn get(&self, domain: &str) -> Option<Arc<Zone>> {
        let name = parse_host_name(domain).ok()?;
        self.read()
            .get(&LowerName::new(&name))
            .map(|served| Arc::clone(&served.zone))
    }

    /// How many zones are served.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no zone is served.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The served zone that is authoritative for `name`: the one with the
    /// longest origin that `name` is in (`shop.example` before `example`).
    pub(crate) fn zone_for(&self, name: &LowerName) -> Option<Arc<ServedZone>> {
        let zones = self.read();
        if let Some(zone) = zones.get(name) {
            return Some(Arc::clone(zone));
        }
        let mut ancestor = name.base_name();
        loop {
            if let Some(zone) = zones.get(&ancestor) {
                return Some(Arc::clone(zone));
            }
            if ancestor.is_root() {
                return None;
            }
            ancestor = ancestor.base_name();
        }
    }

    // No code panics while holding the lock, and every write is a single map
    // operation, so a poisoned lock still guards a consistent map.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<LowerName, Arc<ServedZone>>> {
        self.zones.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<LowerName, Arc<ServedZone>>> {
        self.zones.write().unwrap_or_else(PoisonError::into_inner)
    }
}
