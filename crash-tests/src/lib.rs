//! Crash-safety tests of `host-runtime`'s queues; everything is in `tests/`. See the crate's
//! manifest for why they live apart from `host-runtime`.

#![deny(unsafe_code)]
