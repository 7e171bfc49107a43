//! ferry billing service, pure domain (being built).
