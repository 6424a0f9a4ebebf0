//! Per-node simulated storage: each node's durable disk, which survives
//! the node's crashes only as far as the node's code synced it.
//!
//! This file will host the user-facing API (a tokio-shaped `File`,
//! `create_dir_all`, `rename`, … over the current node's disk); today it
//! holds the disk model it will be built on ([`disk`]: the namespace, the
//! page cache, syncs, what a crash keeps, bit rot), a leaf that knows
//! nothing of a running simulation.

// Until the user-facing API uses the disk, only the unit tests do: this
// allowance goes when the API lands.
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

pub(crate) mod disk;
