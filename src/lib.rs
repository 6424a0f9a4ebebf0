//! Support code shared by bach's examples, integration tests and benches.
//!
//! The root package exists to own `examples/`, `tests/` and `benches/`; the
//! library users depend on is the `bach` crate.

pub mod alloc_counter;
