//! The pure deciders and the policy of the network service: no I/O, no clock, no
//! randomness.
