//! ferry billing service (being built).
