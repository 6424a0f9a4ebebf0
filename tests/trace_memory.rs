//! Trace memory stays flat: ten million recorded events with the default
//! ring size use no more memory than the ring holds. (Its own binary: the
//! byte counter is process-wide.)

use bach::{ext::*, Simulation};
use bach_workspace::alloc_counter::{live_bytes, Counting};
use std::{cell::Cell, rc::Rc};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn ten_million_events_keep_memory_flat() {
    const ITERATIONS: u64 = 5_000_000; // a timer set and a timer fired each
    let samples = Rc::new(Cell::new((0u64, 0u64)));
    let s = samples.clone();
    let mut sim = Simulation::new().record_trace(true);
    sim.run(move || {
        async move {
            for i in 0..ITERATIONS {
                if i == ITERATIONS / 10 {
                    s.set((live_bytes(), 0)); // the ring is full by now
                }
                1.ns().sleep().await;
            }
            s.set((s.get().0, live_bytes()));
        }
        .primary()
        .spawn();
    });
    let (early, late) = samples.get();
    let events = sim.trace_overwritten() + sim.trace().len() as u64;
    assert!(events >= 10_000_000, "{events} events recorded");
    assert_eq!(sim.trace().len(), 65_536, "the default ring size");
    assert!(
        late <= early + 4096,
        "memory grew from {early} to {late} bytes over {events} events"
    );
}
