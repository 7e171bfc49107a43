//! ferry accounts service: owns client servers and their accounts (aggregate
//! `server`), the catalogue of target infrastructure versions
//! (`target_infrastructure`), required migrations through the eight steps
//! (`migration`) and optional single-service migrations (`optional_migration`).

pub mod domain;
