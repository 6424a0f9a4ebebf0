//! A steady stream through a bounded `bach::sync::mpsc` channel allocates
//! nothing. Its own test binary: the allocation counter is process-wide.

use bach::ext::*;
use bach_workspace::alloc_counter::{allocations, Counting};
use std::{cell::Cell, rc::Rc};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn channel_send_and_recv_allocate_nothing_in_steady_state() {
    let window = Rc::new(Cell::new(None));
    let w = window.clone();
    bach::sim(move || {
        let (tx, mut rx) = bach::sync::mpsc::channel::<u64>(64);
        async move {
            for i in 0..3000u64 {
                tx.send(i).await.unwrap();
                if i % 100 == 0 {
                    1.us().sleep().await; // let the buffer drain now and then
                }
            }
        }
        .spawn();
        async move {
            let mut start = 0;
            let mut expected = 0;
            while let Some(value) = rx.recv().await {
                assert_eq!(value, expected);
                expected += 1;
                if value == 1000 {
                    start = allocations();
                }
                if value == 2000 {
                    w.set(Some(allocations() - start));
                }
            }
            assert_eq!(expected, 3000);
        }
        .primary()
        .spawn();
    });
    assert_eq!(
        window.get(),
        Some(0),
        "allocations between message 1000 and 2000"
    );
}
