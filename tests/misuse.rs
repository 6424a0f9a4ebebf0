//! The mistakes a newcomer is likely to make, and what bach tells them.
//!
//! Each test makes one mistake and checks that the error says what happened
//! and what to do about it — and that it arrives at once, not as a hang.

use bach::{ext::*, net::UdpSocket, Simulation};
use std::{
    any::Any,
    collections::HashMap,
    io::ErrorKind,
    panic::{catch_unwind, AssertUnwindSafe},
    task::{Poll, Waker},
};

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn panics(body: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(body)).expect_err("the mistake is reported");
    panic_message(payload)
}

#[test]
fn no_primary_task_and_a_loop_that_never_ends() {
    // Forgot `.primary()` on the client; the heartbeat loop keeps going.
    let message = panics(|| {
        bach::sim(|| {
            async {
                loop {
                    1.s().sleep().await;
                }
            }
            .group("heartbeat")
            .spawn();
        })
    });
    assert!(message.starts_with("no primary task"), "{message}");
    assert!(
        message.contains("after 86400s of simulated time"),
        "{message}"
    );
    assert!(message.contains("`.primary()`"), "{message}");
    assert!(message.contains("Simulation::time_limit"), "{message}");
}

#[test]
fn no_primary_task_with_a_time_limit_runs_to_the_limit_quietly() {
    // Setting a time limit is how to run a background-only simulation long.
    let mut sim = Simulation::new().time_limit(48 * 3600.s());
    let message = panics(|| {
        sim.run(|| {
            async {
                loop {
                    1.s().sleep().await;
                }
            }
            .spawn();
        })
    });
    assert!(
        message.starts_with("time limit of 172800s exceeded"),
        "{message}"
    );
}

#[test]
fn a_server_loop_marked_primary_is_a_deadlock_with_advice() {
    let message = panics(|| {
        bach::sim(|| {
            async {
                let socket = UdpSocket::bind("server:8080").await.unwrap();
                loop {
                    let mut buf = [0; 4];
                    socket.recv_from(&mut buf).await.unwrap();
                }
            }
            .group("server")
            .primary()
            .spawn();
        })
    });
    assert!(
        message.starts_with("deadlock at 0:00:00.000000000"),
        "{message}"
    );
    assert!(
        message.contains("blocked: task #0 on node `server`"),
        "{message}"
    );
    assert!(
        message.contains("A server loop that never ends should not be `.primary()`"),
        "{message}"
    );
}

#[test]
fn a_primary_future_that_was_never_spawned() {
    let message = panics(|| {
        // `.spawn()` forgotten: the closure returns the future instead of
        // running it, so the simulation waits for a task that does not exist.
        let _unspawned = bach::sim(|| async { 1.s().sleep().await }.group("client").primary());
    });
    assert!(message.contains("did you forget `.spawn()`?"), "{message}");
}

#[test]
fn forgetting_group_binds_on_the_wrong_node() {
    bach::sim(|| {
        async {}.group("server").spawn();
        // Meant to run on `server`, but runs on `main`.
        async {
            let err = UdpSocket::bind("server:8080").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
            let message = err.to_string();
            assert!(message.contains("on node `main`"), "{message}");
            assert!(message.contains("it belongs to node `server`"), "{message}");
            assert!(
                message.contains("spawn it with `.group(\"server\")`"),
                "{message}"
            );
        }
        .primary()
        .spawn();
    });
}

#[test]
fn a_host_that_no_task_created() {
    bach::sim(|| {
        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            // Typo: the node is `server`.
            let err = socket.send_to(b"ping", "sever:8080").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(
                err.to_string(),
                "unknown host `sever` (known: client, main, server); a node exists once a task \
                 is spawned on it with `.group(\"sever\")`"
            );
        }
        .group("client")
        .primary()
        .spawn();
        async {}.group("server").spawn();
    });
}

#[test]
fn sleeping_outside_a_simulation() {
    let message = panics(|| {
        drop(1.s().sleep());
    });
    assert_eq!(
        message,
        "`bach::time::sleep` was called outside a bach simulation. Run it inside \
         `bach::sim(|| ...)`, `Simulation::run`/`Simulation::enter`, or a task spawned there."
    );
    let message = panics(|| {
        bach::time::Instant::now();
    });
    assert!(
        message.starts_with("`bach::time::Instant::now` was called outside"),
        "{message}"
    );
}

#[test]
fn behaviour_that_depends_on_hash_map_order() {
    let message = panics(|| {
        Simulation::check_determinism(1, || {
            // A HashMap's iteration order differs from one map to the next.
            let peers: HashMap<String, u32> = (0..8).map(|i| (format!("peer{i}"), i)).collect();
            async move {
                let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
                for name in peers.keys() {
                    socket.send_to(b"hi", format!("{name}:1")).await.unwrap();
                }
            }
            .group("client")
            .primary()
            .spawn();
            for i in 0..8 {
                async move {
                    let socket = UdpSocket::bind(format!("peer{i}:1")).await.unwrap();
                    socket.recv_from(&mut [0; 2]).await.unwrap();
                }
                .group(format!("peer{i}"))
                .spawn();
            }
        })
    });
    assert!(
        message.starts_with("the simulation is nondeterministic (seed 1): the first difference"),
        "{message}"
    );
    assert!(message.contains("client   --> peer"), "{message}");
    assert!(
        message.contains("HashMap/HashSet iteration order"),
        "{message}"
    );
}

#[test]
fn a_waker_sent_to_an_os_thread() {
    let (tx, rx) = std::sync::mpsc::channel::<Waker>();
    let thread = std::thread::spawn(move || {
        let waker = rx.recv().unwrap();
        catch_unwind(AssertUnwindSafe(|| waker.wake())).map_err(panic_message)
    });
    let deadlock = panics(|| {
        bach::sim(|| {
            async move {
                std::future::poll_fn(|cx| {
                    let _ = tx.send(cx.waker().clone());
                    Poll::<()>::Pending
                })
                .await;
            }
            .primary()
            .spawn();
        })
    });
    assert!(deadlock.starts_with("deadlock"), "{deadlock}");
    let message = thread
        .join()
        .unwrap()
        .expect_err("waking from a thread panics");
    assert!(
        message
            .starts_with("a bach task waker was used on an OS thread that runs no bach simulation"),
        "{message}"
    );
    assert!(message.contains("use bach::sync channels"), "{message}");
}

#[test]
fn using_a_simulation_after_it_failed() {
    let mut sim = Simulation::new();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        sim.run(|| async { panic!("boom") }.primary().spawn())
    }));
    let message = panics(|| sim.run(|| {}));
    assert!(
        message.contains("this Simulation already failed"),
        "{message}"
    );
    assert!(message.contains("create a new Simulation"), "{message}");
}
