//! ferry notifications service.
pub use ferry_notifications_domain as domain;
pub mod templates;
