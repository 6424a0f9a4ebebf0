//! The `tracing` feature: task spans carry task and node, and log lines can
//! carry simulated time.
#![cfg(feature = "tracing")]

use bach::ext::*;
use std::{
    io,
    sync::{Arc, Mutex},
};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_lines_carry_simulated_time_task_and_node() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_timer(bach::tracing::SimTime)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before the simulation");
        bach::sim(|| {
            async {
                1500.ms().sleep().await;
                tracing::info!(value = 7, "hello from a task");
            }
            .group("n1")
            .primary()
            .spawn_named("worker");
        });
    });
    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert!(
        lines[0].starts_with("- "),
        "outside a simulation: {}",
        lines[0]
    );
    let line = lines[1];
    assert!(line.starts_with("0:00:01.500000000 "), "{line}");
    assert!(
        line.contains(r#"task{id=0 name="worker" node="n1"}"#),
        "{line}"
    );
    assert!(line.contains("hello from a task value=7"), "{line}");
}
