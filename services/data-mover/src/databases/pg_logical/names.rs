//! The deterministic names of one copy's objects, found again by a later attempt.

use uuid::Uuid;

use crate::databases::endpoint::Endpoint;
use crate::databases::postgres::MAX_NAME;
use crate::databases::{CopySpec, DbError, check_name, staging_name};

/// The names of one copy's objects: publication, slot and subscription share one.
#[derive(Debug, Clone)]
pub(super) struct Names {
    /// `ferry_<hash>`: publication and slot at the source, subscription at the
    /// destination.
    pub(super) object: String,
    /// The staging database at the destination.
    pub(super) staging: String,
}

impl Names {
    pub(super) fn of(spec: &CopySpec) -> Result<Self, DbError> {
        check_name(&spec.database, MAX_NAME)?;
        check_name(&spec.destination_name, MAX_NAME)?;
        let (destination, _) = Endpoint::postgres(&spec.destination_url)?;
        let key = format!(
            "{}\n{}\n{}",
            destination.display(),
            spec.destination_name,
            spec.database
        );
        let hash = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()).simple();
        Ok(Self {
            // 38 bytes: within PostgreSQL's 63.
            object: format!("ferry_{hash}"),
            staging: staging_name(&spec.destination_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_short() -> Result<(), DbError> {
        let url = "postgres://postgres:secret@10.0.0.7:5432/postgres";
        let a = Names::of(&CopySpec::new(url, url, "shop").renamed("shop_copy"))?;
        let b = Names::of(&CopySpec::new(url, url, "shop").renamed("shop_copy"))?;
        let c = Names::of(&CopySpec::new(url, url, "shop").renamed("other"))?;
        assert_eq!(a.object, b.object);
        assert_ne!(a.object, c.object);
        assert!(a.object.starts_with("ferry_") && a.object.len() <= MAX_NAME);
        assert_eq!(a.staging, "shop_copy__ferry_incoming");
        Ok(())
    }
}
