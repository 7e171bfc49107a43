//! ferry notifications service, pure domain (being built).
