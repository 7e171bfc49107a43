//! ferry notifications service (being built).
