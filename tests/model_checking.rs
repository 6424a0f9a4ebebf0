//! Model checking (`Explorer::model_checking`) with AnySystem's semantics:
//! state counts for one forwarded message under each fault, crashes,
//! timers, ping-pong under loss, an exactly-once protocol under drop and
//! duplicate budgets, and invariants on async UDP code.

use bach::{
    check::{self, Explorer, Ordering, Strategy, Visited},
    ext::*,
    net::UdpSocket,
    process::{self, Context, Message, Process},
    Simulation,
};
use std::{
    cell::{Cell, RefCell},
    collections::BTreeSet,
    rc::Rc,
    time::Duration,
};

// ----- two nodes, one forwarded message -----

struct Forwarder;

impl Process for Forwarder {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "receiver");
    }
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
}

struct Receiver;

impl Process for Receiver {
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        ctx.send_local(msg);
    }
}

thread_local! {
    static MAX_DELIVERED: Cell<usize> = const { Cell::new(0) };
    static PAYLOADS: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

/// Sender on `n1` forwards one message to the receiver on `n2`; records
/// how often it arrived and with which data.
fn one_message(configure: impl Fn(&mut Simulation)) -> impl Fn(&mut Simulation) {
    move |sim: &mut Simulation| {
        sim.add_process("sender", "n1", Forwarder);
        sim.add_process("receiver", "n2", Receiver);
        configure(sim);
        sim.send_local("sender", Message::new("MSG", "hello"));
        sim.enter(|| {
            check::invariant("observe deliveries", || {
                let outbox = process::local_outbox("receiver");
                MAX_DELIVERED.with(|max| max.set(max.get().max(outbox.len())));
                PAYLOADS.with(|seen| {
                    seen.borrow_mut()
                        .extend(outbox.iter().map(|m| m.data().to_string()))
                });
                true
            })
        });
    }
}

fn reset_observations() {
    MAX_DELIVERED.with(|max| max.set(0));
    PAYLOADS.with(|seen| seen.borrow_mut().clear());
}

#[test]
fn delivery_only_has_two_states() {
    reset_observations();
    let report = Explorer::model_checking().run_with(one_message(|_| {}));
    assert_eq!(report.unique_states(), 2, "{report}");
    assert_eq!(MAX_DELIVERED.with(Cell::get), 1);
    assert!(report.complete());
}

#[test]
fn a_possible_drop_adds_one_state() {
    reset_observations();
    let report = Explorer::model_checking()
        .max_drops(1)
        .run_with(one_message(|sim| sim.set_drop_rate(0.5)));
    assert_eq!(report.unique_states(), 3, "{report}");
    // Without a budget the lossy link never loses anything.
    let report = Explorer::model_checking().run_with(one_message(|sim| sim.set_drop_rate(0.5)));
    assert_eq!(report.unique_states(), 2, "{report}");
}

#[test]
fn duplication_delivers_up_to_three_times() {
    reset_observations();
    let report = Explorer::model_checking()
        .max_duplicates(2)
        .run_with(one_message(|sim| sim.set_duplication_rate(0.5)));
    // One, two or three copies in flight, delivered one at a time:
    // (1 + 1) + (2 + 1) + (3 + 1) distinct states.
    assert_eq!(report.unique_states(), 9, "{report}");
    assert_eq!(MAX_DELIVERED.with(Cell::get), 3);
    // A budget of one duplicate: at most two deliveries.
    reset_observations();
    let report = Explorer::model_checking()
        .max_duplicates(1)
        .run_with(one_message(|sim| sim.set_duplication_rate(0.5)));
    assert_eq!(report.unique_states(), 5, "{report}");
    assert_eq!(MAX_DELIVERED.with(Cell::get), 2);
}

#[test]
fn corruption_delivers_two_distinct_payloads() {
    reset_observations();
    Explorer::model_checking()
        .max_corruptions(1)
        .run_with(one_message(|sim| sim.set_corruption_rate(0.5)));
    let payloads = PAYLOADS.with(|seen| seen.borrow().clone());
    assert_eq!(payloads.len(), 2, "{payloads:?}");
    assert!(payloads.contains("hello"));
}

#[test]
fn a_crashed_receiver_gets_nothing() {
    reset_observations();
    let report = Explorer::model_checking().run_with(one_message(|sim| sim.crash_node("n2")));
    assert_eq!(MAX_DELIVERED.with(Cell::get), 0, "{report}");
}

// ----- timers -----

struct DoubleTimer;

impl Process for DoubleTimer {
    fn on_local_message(&mut self, _: Message, ctx: &mut Context) {
        ctx.set_timer("t", Duration::from_secs(1));
        ctx.set_timer("t", Duration::from_secs(2));
    }
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        ctx.send_local(Message::new("FIRED", name));
    }
}

#[test]
fn setting_a_timer_twice_fires_it_once() {
    let report = Explorer::model_checking().run_with(|sim| {
        sim.add_process("p", "n1", DoubleTimer);
        sim.send_local("p", Message::new("START", ""));
        sim.enter(|| {
            check::invariant("fires at most once", || {
                process::local_outbox("p").len() <= 1
            });
            check::goal("fired", || process::local_outbox("p").len() == 1);
        });
    });
    assert_eq!(report.outcome("goal reached"), 1, "{report}");
}

// ----- ping-pong -----

#[derive(Clone)]
struct PingClient {
    retry: bool,
    done: bool,
}

impl Process for PingClient {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "server");
        if self.retry {
            ctx.set_timer("retry", Duration::from_secs(3));
        }
    }
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        if !self.done {
            self.done = true;
            ctx.cancel_timer("retry");
            ctx.send_local(msg);
        }
    }
    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        ctx.send(Message::new("PING", "hi"), "server");
        ctx.set_timer("retry", Duration::from_secs(3));
    }
    fn state(&self) -> Option<String> {
        Some(format!("{}", self.done))
    }
}

#[derive(Clone)]
struct PongServer;

impl Process for PongServer {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        ctx.send(Message::new("PONG", msg.data()), from);
    }
}

fn ping_pong(retry: bool) -> impl Fn(&mut Simulation) {
    move |sim: &mut Simulation| {
        sim.add_process("client", "client-node", PingClient { retry, done: false });
        sim.add_process("server", "server-node", PongServer);
        sim.set_drop_rate(0.3);
        sim.send_local("client", Message::new("PING", "hi"));
        sim.enter(|| {
            check::goal("pong received", || {
                !process::local_outbox("client").is_empty()
            })
        });
    }
}

#[test]
fn the_basic_client_fails_under_loss() {
    let failure = Explorer::model_checking()
        .max_drops(1)
        .try_run_with(ping_pong(false))
        .expect_err("a lost PING leaves nothing to do");
    assert!(
        failure.message().contains("nothing left to do"),
        "{failure}"
    );
    let trace = failure.trace().join("\n");
    let local = trace.find(">>>").expect("the local PING in the trace");
    let send = trace.find("-->").expect("the send in the trace");
    let dropped = trace.find("--x").expect("the drop in the trace");
    assert!(local < send && send < dropped, "{trace}");
}

#[test]
fn the_retrying_client_passes_at_depth_seven() {
    let report = Explorer::model_checking()
        .max_drops(1)
        .max_depth(7)
        .run_with(ping_pong(true));
    assert!(report.outcome("goal reached") > 0, "{report}");
    assert!(report.max_depth() <= 7);
    // Breadth-first finds the same verdict.
    Explorer::model_checking()
        .strategy(Strategy::Bfs)
        .max_drops(1)
        .max_depth(7)
        .run_with(ping_pong(true));
}

#[test]
fn bfs_reports_a_shortest_counterexample() {
    let dfs = Explorer::model_checking()
        .max_drops(2)
        .try_run_with(ping_pong(false))
        .unwrap_err();
    let bfs = Explorer::model_checking()
        .strategy(Strategy::Bfs)
        .max_drops(2)
        .try_run_with(ping_pong(false))
        .unwrap_err();
    assert!(bfs.trace().len() <= dfs.trace().len());
    assert!(bfs.message().contains("nothing left to do"), "{bfs}");
}

// ----- exactly-once delivery -----

#[derive(Clone)]
struct Sender {
    acked: bool,
}

impl Process for Sender {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "receiver");
        ctx.set_timer("resend", Duration::from_secs(2));
    }
    fn on_message(&mut self, _: Message, _: &str, ctx: &mut Context) {
        self.acked = true;
        ctx.cancel_timer("resend");
    }
    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        if !self.acked {
            ctx.send(Message::new("MSG", "1:hello"), "receiver");
            ctx.set_timer("resend", Duration::from_secs(2));
        }
    }
    fn state(&self) -> Option<String> {
        Some(self.acked.to_string())
    }
}

#[derive(Clone)]
struct OnceReceiver {
    dedup: bool,
    seen: BTreeSet<String>,
}

impl Process for OnceReceiver {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let id = msg.data().split(':').next().unwrap_or_default().to_string();
        if !self.dedup || self.seen.insert(id) {
            ctx.send_local(msg.clone());
        }
        ctx.send(Message::new("ACK", msg.data()), from);
    }
    fn state(&self) -> Option<String> {
        Some(format!("{:?}", self.seen))
    }
}

fn exactly_once(dedup: bool) -> impl Fn(&mut Simulation) {
    exactly_once_copying(dedup, false)
}

/// [`exactly_once`], with processes that copy themselves when `copying`.
fn exactly_once_copying(dedup: bool, copying: bool) -> impl Fn(&mut Simulation) {
    move |sim: &mut Simulation| {
        add(sim, "sender", "a", Sender { acked: false }, copying);
        add(
            sim,
            "receiver",
            "b",
            OnceReceiver {
                dedup,
                seen: BTreeSet::new(),
            },
            copying,
        );
        sim.set_drop_rate(0.1);
        sim.set_duplication_rate(0.1);
        sim.send_local("sender", Message::new("MSG", "1:hello"));
        sim.enter(|| {
            check::invariant("delivered at most once", || {
                process::local_outbox("receiver").len() <= 1
            });
            check::goal("delivered and acknowledged", || {
                process::local_outbox("receiver").len() == 1
                    && process::state_of("sender").as_deref() == Some("true")
            });
        });
    }
}

#[test]
fn exactly_once_holds_with_one_drop_and_one_duplicate() {
    let report = Explorer::model_checking()
        .max_drops(1)
        .max_duplicates(1)
        .max_depth(12)
        .run_with(exactly_once(true));
    assert!(report.outcome("goal reached") > 0, "{report}");
}

#[test]
fn a_receiver_without_deduplication_delivers_twice() {
    let failure = Explorer::model_checking()
        .max_drops(1)
        .max_duplicates(1)
        .max_depth(12)
        .try_run_with(exactly_once(false))
        .expect_err("a duplicate is delivered twice");
    assert!(
        failure
            .message()
            .contains("invariant `delivered at most once` violated"),
        "{failure}"
    );
    // The trace shows the message handed to the receiver twice.
    let receipts = failure
        .trace()
        .iter()
        .filter(|line| line.contains("receiver <-- sender  MSG 1:hello"))
        .count();
    assert_eq!(receipts, 2, "{failure}");
    // With messages delivered before timers fire, the second copy can only
    // come from the network duplicating the datagram.
    let failure = Explorer::model_checking()
        .max_duplicates(1)
        .ordering(Ordering::MessagesFirst)
        .max_depth(12)
        .try_run_with(exactly_once(false))
        .expect_err("a network duplicate is delivered twice");
    let trace = failure.trace().join("\n");
    assert!(trace.contains("duplicate"), "{trace}");
}

// ----- async UDP code -----

/// A client sends one request and waits for the reply, retrying on a
/// timeout; the server counts requests it applied.
fn udp_counter(dedup: bool) -> impl Fn() {
    move || {
        let applied = Rc::new(Cell::new(0u32));
        let server_applied = applied.clone();
        async move {
            let socket = UdpSocket::bind("server:9000").await.unwrap();
            let mut seen = BTreeSet::new();
            let mut buf = [0u8; 16];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                let id = buf[..len].to_vec();
                if !dedup || seen.insert(id.clone()) {
                    server_applied.set(server_applied.get() + 1);
                    check::state("applied", &server_applied.get());
                }
                socket.send_to(&id, from).await.unwrap();
            }
        }
        .group("server")
        .spawn();
        async move {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            let mut buf = [0u8; 16];
            loop {
                socket.send_to(b"req-1", "server:9000").await.unwrap();
                match bach::time::timeout(1.s(), socket.recv_from(&mut buf)).await {
                    Ok(_) => break,
                    Err(_) => continue,
                }
            }
        }
        .group("client")
        .primary()
        .spawn();
        check::invariant("applied at most once", move || applied.get() <= 1);
        bach::net::set_default_link(
            bach::net::default_link()
                .loss_probability(0.1)
                .duplicate_probability(0.1),
        )
        .unwrap();
    }
}

#[test]
fn invariants_on_async_udp_code() {
    let report = Explorer::model_checking()
        .max_drops(1)
        .max_depth(10)
        .visited(Visited::Off)
        .run(udp_counter(true));
    assert!(report.outcome("completed") > 0, "{report}");
    let failure = Explorer::model_checking()
        .max_drops(1)
        .max_duplicates(1)
        .max_depth(10)
        .try_run(udp_counter(false))
        .expect_err("a duplicated request is applied twice");
    assert!(
        failure.message().contains("applied at most once"),
        "{failure}"
    );
    // The token replays the violation exactly.
    let replayed = std::panic::catch_unwind(|| {
        let mut sim = Simulation::new().replay(failure.token());
        sim.run(udp_counter(false));
    })
    .expect_err("the replay violates the invariant again");
    let message = replayed
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("invariant `applied at most once` violated"),
        "{message}"
    );
    assert!(
        message.contains(&format!("replaying BACH_REPLAY={}", failure.token())),
        "{message}"
    );
}

#[test]
fn messages_first_ordering_and_fingerprints_cut_the_search() {
    let normal = Explorer::model_checking()
        .max_drops(1)
        .max_depth(7)
        .run_with(ping_pong(true));
    let messages_first = Explorer::model_checking()
        .max_drops(1)
        .max_depth(7)
        .ordering(Ordering::MessagesFirst)
        .run_with(ping_pong(true));
    assert!(
        messages_first.paths() <= normal.paths(),
        "{messages_first} vs {normal}"
    );
    let unpruned = Explorer::model_checking()
        .max_drops(1)
        .max_depth(7)
        .visited(Visited::Off)
        .run_with(ping_pong(true));
    assert!(normal.paths() < unpruned.paths(), "{normal} vs {unpruned}");
}

// ----- collected states and a second stimulus -----

struct Pinger {
    waiting: bool,
}

impl Process for Pinger {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        self.waiting = true;
        ctx.send(msg, "server");
        ctx.set_timer("retry", Duration::from_secs(3));
    }
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        if self.waiting {
            self.waiting = false;
            ctx.cancel_timer("retry");
            ctx.send_local(msg);
        }
    }
    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        if self.waiting {
            ctx.send(Message::new("PING", "again"), "server");
            ctx.set_timer("retry", Duration::from_secs(3));
        }
    }
    fn state(&self) -> Option<String> {
        Some(self.waiting.to_string())
    }
}

fn pinger(sim: &mut Simulation) {
    sim.add_process("client", "client-node", Pinger { waiting: false });
    sim.add_process("server", "server-node", PongServer);
    sim.set_drop_rate(0.3);
    sim.send_local("client", Message::new("PING", "first"));
}

#[test]
fn collected_states_continue_with_a_new_stimulus() {
    let first = Explorer::model_checking()
        .max_drops(1)
        .max_depth(8)
        .collect(|| process::local_outbox("client").len() == 1)
        .run_with(pinger);
    assert!(!first.collected().is_empty(), "{first}");
    assert_eq!(first.outcome("collected"), first.collected().len() as u64);
    let second = Explorer::model_checking()
        .max_drops(1)
        .max_depth(16)
        .run_from(first.collected(), pinger, || {
            process::send_local("client", Message::new("PING", "second"));
            check::goal("second pong", || process::local_outbox("client").len() == 2);
        });
    assert!(second.outcome("goal reached") > 0, "{second}");
    // A goal that nothing can reach is a liveness violation once the
    // system goes quiet, found from the collected states.
    let failure = Explorer::model_checking()
        .max_drops(1)
        .max_depth(16)
        .try_run_from(first.collected(), pinger, || {
            check::goal("a third pong", || {
                process::local_outbox("client").len() == 3
            });
        })
        .expect_err("nobody sends a third pong");
    assert!(
        failure.message().contains("nothing left to do"),
        "{failure}"
    );
    // Different budgets cannot continue from these states.
    let mismatch = std::panic::catch_unwind(|| {
        Explorer::model_checking().run_from(first.collected(), pinger, || {})
    })
    .expect_err("budgets must match");
    let message = mismatch
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("same max_drops"), "{message}");
}

// ----- checkpoints -----

/// `P`, copying itself for the explorer's checkpoints.
#[derive(Clone)]
struct Copying<P>(P);

impl<P: Process + Clone> Process for Copying<P> {
    fn on_start(&mut self, ctx: &mut Context) {
        self.0.on_start(ctx)
    }
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        self.0.on_message(msg, from, ctx)
    }
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        self.0.on_local_message(msg, ctx)
    }
    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        self.0.on_timer(name, ctx)
    }
    fn state(&self) -> Option<String> {
        self.0.state()
    }
    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Adds `process`, wrapped so that it copies itself when `copying`.
fn add<P: Process + Clone>(
    sim: &mut Simulation,
    name: &str,
    node: &str,
    process: P,
    copying: bool,
) {
    if copying {
        sim.add_process(name, node, Copying(process));
    } else {
        sim.add_process(name, node, process);
    }
}

/// The retrying ping-pong under drops and duplicates, as in the bench.
fn retrying_ping_pong_copying(copying: bool) -> impl Fn(&mut Simulation) {
    move |sim: &mut Simulation| {
        let client = PingClient {
            retry: true,
            done: false,
        };
        add(sim, "client", "client-node", client, copying);
        add(sim, "server", "server-node", PongServer, copying);
        sim.set_drop_rate(0.3);
        sim.set_duplication_rate(0.3);
        sim.send_local("client", Message::new("PING", "hi"));
        sim.enter(|| {
            check::goal("pong received", || {
                !process::local_outbox("client").is_empty()
            })
        });
    }
}

#[test]
fn checkpoints_explore_exactly_what_re_running_explores() {
    // Processes that copy themselves let depth-first search resume paths
    // from saved states; everything it reports must stay the same.
    for depth in [4, 6, 8, 10] {
        let explorer = || {
            Explorer::model_checking()
                .max_drops(44)
                .max_duplicates(44)
                .max_depth(depth)
                .progress(false)
        };
        let rerun = explorer().run_with(retrying_ping_pong_copying(false));
        let resumed = explorer().run_with(retrying_ping_pong_copying(true));
        assert_eq!(summary(&resumed), summary(&rerun), "depth {depth}");
        assert_eq!(resumed.executions(), rerun.executions(), "depth {depth}");
        assert_eq!(rerun.resumed(), 0, "{rerun}");
        // Most paths continue from a saved state (not those that change a
        // choice made by the setup itself, before the first step).
        assert!(
            resumed.resumed() * 10 >= resumed.executions() * 9,
            "{resumed}"
        );
    }
    let explorer = || {
        Explorer::model_checking()
            .max_drops(1)
            .max_duplicates(1)
            .max_depth(12)
            .progress(false)
    };
    let rerun = explorer().run_with(exactly_once_copying(true, false));
    let resumed = explorer().run_with(exactly_once_copying(true, true));
    assert_eq!(summary(&resumed), summary(&rerun));
    assert!(resumed.resumed() > 0, "{resumed}");
    // Without fingerprints every path is explored: the same count too.
    let explorer = || {
        Explorer::model_checking()
            .max_drops(1)
            .max_duplicates(1)
            .max_depth(6)
            .visited(Visited::Off)
            .progress(false)
    };
    let rerun = explorer().run_with(exactly_once_copying(true, false));
    let resumed = explorer().run_with(exactly_once_copying(true, true));
    assert_eq!(summary(&resumed), summary(&rerun));
}

/// On its message, crashes node `n2` (where the receiver runs).
#[derive(Clone)]
struct Crasher;

impl Process for Crasher {
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {
        bach::node::crash("n2");
    }
}

/// Sends `MSG` to the receiver and `KILL` to the crasher.
#[derive(Clone)]
struct TwoSends;

impl Process for TwoSends {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "receiver");
        ctx.send(Message::new("KILL", ""), "crasher");
    }
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
}

#[derive(Clone)]
struct Keeper;

impl Process for Keeper {
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        ctx.send_local(msg);
    }
}

#[test]
fn a_crash_during_a_path_falls_back_to_re_running() {
    // A handler crashes a node: its tasks are gone, so checkpoints saved
    // before the crash no longer fit; those paths re-run from the start,
    // and the search reports exactly what re-running reports.
    let system = |copying: bool| {
        move |sim: &mut Simulation| {
            add(sim, "sender", "n1", TwoSends, copying);
            add(sim, "receiver", "n2", Keeper, copying);
            add(sim, "crasher", "n3", Crasher, copying);
            sim.set_drop_rate(0.3);
            sim.set_duplication_rate(0.3);
            sim.send_local("sender", Message::new("MSG", "hello"));
        }
    };
    let explorer = || {
        Explorer::model_checking()
            .max_drops(1)
            .max_duplicates(1)
            .progress(false)
    };
    let rerun = explorer().run_with(system(false));
    let resumed = explorer().run_with(system(true));
    assert_eq!(summary(&resumed), summary(&rerun));
    assert!(resumed.resumed() > 0, "{resumed}");
    assert!(resumed.resumed() < resumed.executions(), "{resumed}");
}

#[test]
fn a_violation_found_from_a_checkpoint_has_the_same_token_and_trace() {
    let explorer = || {
        Explorer::model_checking()
            .max_drops(1)
            .max_duplicates(1)
            .max_depth(12)
    };
    let rerun = explorer()
        .try_run_with(exactly_once_copying(false, false))
        .expect_err("a duplicate is delivered twice");
    let resumed = explorer()
        .try_run_with(exactly_once_copying(false, true))
        .expect_err("a duplicate is delivered twice");
    assert_eq!(resumed.execution(), rerun.execution());
    assert_eq!(resumed.token(), rerun.token());
    assert_eq!(resumed.trace(), rerun.trace());
    assert_eq!(resumed.message(), rerun.message());
    // The trace (the token replayed on a fresh simulation) shows the
    // message handed to the receiver twice.
    let receipts = resumed
        .trace()
        .iter()
        .filter(|line| line.contains("receiver <-- sender  MSG 1:hello"))
        .count();
    assert_eq!(receipts, 2, "{resumed}");
}

// ----- visited states and the fault budgets left -----

/// At 1 s sends `HELLO` to the server.
#[derive(Clone)]
struct Greeter;

impl Process for Greeter {
    fn on_start(&mut self, ctx: &mut Context) {
        ctx.set_timer("greet", Duration::from_secs(1));
    }
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
    fn on_timer(&mut self, _: &str, ctx: &mut Context) {
        ctx.send(Message::new("HELLO", ""), "server");
    }
    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// At 2 s crashes the greeter's node; a second later sends `REQ` to the
/// server, once.
#[derive(Clone)]
struct Requester;

impl Process for Requester {
    fn on_start(&mut self, ctx: &mut Context) {
        ctx.set_timer("crash", Duration::from_secs(2));
    }
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        if name == "crash" {
            bach::node::crash("greeter-node");
            ctx.set_timer("ask", Duration::from_secs(1));
        } else {
            ctx.send(Message::new("REQ", ""), "server");
        }
    }
    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// Reports every message it gets as a local message.
#[derive(Clone)]
struct Listener;

impl Process for Listener {
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        ctx.send_local(msg);
    }
    fn clone_process(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// The server must hear from someone; every link may lose messages.
///
/// Depth first, the greeter's timer fires first: its `HELLO` either
/// arrives (the goal) or is dropped, and then the requester crashes the
/// greeter's node. That is state S (greeter down, `ask` pending, nothing
/// in flight), first reached with the drop spent: its `REQ` always
/// arrives. Later the crash timer fires first and reaches S again with
/// the drop unspent; only from there can `REQ` be lost, leaving the
/// server without a word.
fn a_drop_on_the_way(sim: &mut Simulation) {
    sim.add_process("greeter", "greeter-node", Greeter);
    sim.add_process("requester", "requester-node", Requester);
    sim.add_process("server", "server-node", Listener);
    sim.set_drop_rate(0.5);
    sim.enter(|| {
        check::goal("the server heard from someone", || {
            !process::local_outbox("server").is_empty()
        })
    });
}

#[test]
fn a_state_reached_again_with_a_drop_left_is_explored_again() {
    let failure = Explorer::model_checking()
        .max_drops(1)
        .try_run_with(a_drop_on_the_way)
        .expect_err("REQ is lost after the crash, with the drop unspent");
    assert!(
        failure.message().contains("nothing left to do"),
        "{failure}"
    );
    // The failing path crashes the greeter before it greets, then loses
    // the request.
    let trace = failure.trace().join("\n");
    let crash = trace.find("crash").expect("the crash in the trace");
    let lost = trace.find("--x").expect("the drop in the trace");
    assert!(crash < lost, "{trace}");
    assert!(!trace.contains("HELLO"), "{trace}");
    // Breadth first finds it too, on any thread count.
    let bfs = || {
        Explorer::model_checking()
            .strategy(Strategy::Bfs)
            .max_drops(1)
    };
    let sequential = bfs().try_run_with(a_drop_on_the_way).unwrap_err();
    let parallel = bfs()
        .threads(2)
        .try_par_run_with(a_drop_on_the_way)
        .unwrap_err();
    assert_eq!(parallel.token(), sequential.token());
    // Without the drop budget nothing is lost, and the goal is always
    // reached.
    let report = Explorer::model_checking().run_with(a_drop_on_the_way);
    assert!(report.complete(), "{report}");
}

#[test]
fn pruning_by_fault_budgets_left_gives_the_same_report_every_run() {
    // Fingerprints met again with other budgets left (several budget
    // vectors kept per fingerprint): every search reports the same counts
    // on every run, and the parallel search what the sequential one does.
    let explorer = || {
        Explorer::model_checking()
            .max_drops(2)
            .max_duplicates(2)
            .max_depth(8)
            .progress(false)
    };
    let runs = |search: &dyn Fn() -> bach::check::Report| {
        let (first, second) = (search(), search());
        assert_eq!(summary(&first), summary(&second));
        assert_eq!(first.executions(), second.executions());
        first
    };
    let resumed = runs(&|| explorer().run_with(retrying_ping_pong_copying(true)));
    let rerun = runs(&|| explorer().run_with(retrying_ping_pong_copying(false)));
    assert_eq!(summary(&resumed), summary(&rerun));
    assert!(resumed.outcome("visited state") > 0, "{resumed}");
    let bfs = || explorer().strategy(Strategy::Bfs);
    let sequential = runs(&|| bfs().run_with(retrying_ping_pong));
    let parallel = runs(&|| bfs().threads(2).par_run_with(retrying_ping_pong));
    assert_eq!(summary(&parallel), summary(&sequential));
}

// ----- parallel breadth-first search -----

fn summary(report: &bach::check::Report) -> String {
    format!(
        "paths {} states {} unique {} depth {} outcomes {:?} complete {}",
        report.paths(),
        report.states(),
        report.unique_states(),
        report.max_depth(),
        report.outcomes(),
        report.complete()
    )
}

fn retrying_ping_pong(sim: &mut Simulation) {
    retrying_ping_pong_copying(false)(sim)
}

#[test]
fn parallel_bfs_reports_exactly_what_sequential_bfs_reports() {
    let explorer = || {
        Explorer::model_checking()
            .strategy(Strategy::Bfs)
            .max_drops(1)
            .max_duplicates(1)
            .max_depth(7)
            .progress(false)
    };
    let sequential = explorer().run_with(retrying_ping_pong);
    for threads in [1, 2, 3] {
        let parallel = explorer().threads(threads).par_run_with(retrying_ping_pong);
        assert_eq!(
            summary(&parallel),
            summary(&sequential),
            "{threads} threads"
        );
    }
    assert!(sequential.outcome("goal reached") > 0, "{sequential}");
    // Without fingerprints too.
    let unpruned = || explorer().visited(Visited::Off).max_depth(5);
    let sequential = unpruned().run_with(retrying_ping_pong);
    let parallel = unpruned().threads(2).par_run_with(retrying_ping_pong);
    assert_eq!(summary(&parallel), summary(&sequential));
    assert!(sequential.states() > 0);
    // The same violation, found at the same execution, on any thread count.
    let failing = |threads| {
        Explorer::model_checking()
            .strategy(Strategy::Bfs)
            .max_drops(1)
            .threads(threads)
            .try_par_run_with(ping_pong(false))
            .unwrap_err()
    };
    let reference = Explorer::model_checking()
        .strategy(Strategy::Bfs)
        .max_drops(1)
        .try_run_with(ping_pong(false))
        .unwrap_err();
    for threads in [1, 2] {
        let failure = failing(threads);
        assert_eq!(failure.token(), reference.token());
        assert_eq!(failure.execution(), reference.execution());
        assert_eq!(failure.trace(), reference.trace());
    }
}

/// Parallel speed-up of breadth-first model checking on this machine
/// (`cargo test --release --test model_checking -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn parallel_speed_up() {
    for depth in [7, 8] {
        let explorer = |threads| {
            Explorer::model_checking()
                .strategy(Strategy::Bfs)
                .max_drops(2)
                .max_duplicates(2)
                .visited(Visited::Off)
                .max_depth(depth)
                .progress(false)
                .threads(threads)
        };
        let one = explorer(1).par_run_with(retrying_ping_pong);
        let two = explorer(2).par_run_with(retrying_ping_pong);
        println!(
            "depth {depth}: 1 thread {:.2?} ({:.0} states/s), 2 threads {:.2?} ({:.0} states/s), speed-up {:.2}x; {}",
            one.elapsed(),
            one.states_per_second(),
            two.elapsed(),
            two.states_per_second(),
            one.elapsed().as_secs_f64() / two.elapsed().as_secs_f64(),
            two
        );
    }
}

#[test]
#[ignore = "a profiling loop"]
fn profile_loop() {
    for _ in 0..200 {
        Explorer::model_checking()
            .max_drops(1)
            .max_duplicates(1)
            .max_depth(8)
            .progress(false)
            .run_with(retrying_ping_pong);
    }
}

/// Never answers.
#[derive(Clone)]
struct Silent;

impl Process for Silent {
    fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
}

#[test]
fn a_liveness_violation_exactly_at_the_depth_bound_is_reported() {
    // A PING to a server that never answers: one event (its delivery) and
    // the path has nothing left to do without the goal. A bound of one
    // step must report it, as a bound of two does.
    let setup = |sim: &mut Simulation| {
        sim.add_process(
            "client",
            "client-node",
            PingClient {
                retry: false,
                done: false,
            },
        );
        sim.add_process("server", "server-node", Silent);
        sim.send_local("client", Message::new("PING", "hi"));
        sim.enter(|| check::goal("answered", || !process::local_outbox("client").is_empty()));
    };
    for depth in [1, 2, 5] {
        let failure = Explorer::model_checking()
            .max_depth(depth)
            .progress(false)
            .try_run_with(setup)
            .expect_err("the unanswered PING is a liveness violation");
        assert!(
            failure.message().contains("nothing left to do")
                && failure.message().contains("after 1 step:"),
            "max_depth({depth}): {failure}"
        );
    }
    // A path the bound cuts while events are pending is still reported
    // as cut: the PONG is in flight after one step.
    let report = Explorer::model_checking()
        .max_depth(1)
        .progress(false)
        .run_with(ping_pong(false));
    assert!(report.to_string().contains("depth limit"), "{report}");
}

#[test]
fn a_failure_says_how_long_the_search_took_to_find_it() {
    for explorer in [
        Explorer::model_checking().max_drops(1),
        Explorer::model_checking()
            .max_drops(1)
            .strategy(bach::check::Strategy::Bfs),
    ] {
        let failure = explorer
            .progress(false)
            .try_run_with(ping_pong(false))
            .expect_err("a lost PING leaves nothing to do");
        assert!(failure.execution() >= 1);
        assert!(failure.states() >= 1, "{failure}");
        let text = failure.to_string();
        assert!(
            text.contains(&format!("found after {} execution", failure.execution()))
                && text.contains(&format!("{} state", failure.states())),
            "{text}"
        );
    }
}

// ----- pruning and async tasks' own state -----

/// A client sends `a` and `b` at once; the server task remembers the
/// arrival order in a local (invisible to fingerprints) and, a millisecond
/// after the second arrival, fails if `b` came first. Both orders reach
/// the same network, timers and processes after the second arrival.
fn arrival_order_checked_later() {
    arrival_order(false)
}

/// [`arrival_order_checked_later`], the server reporting its order with
/// `check::state` when `declare`.
fn arrival_order(declare: bool) {
    async move {
        let socket = UdpSocket::bind("server:9000").await.unwrap();
        let mut order = Vec::new();
        if declare {
            check::state("order", &order);
        }
        let mut buf = [0u8; 4];
        while order.len() < 2 {
            let (len, _) = socket.recv_from(&mut buf).await.unwrap();
            order.push(buf[..len].to_vec());
            if declare {
                check::state("order", &order);
            }
        }
        1.ms().sleep().await;
        assert_ne!(order, [b"b".to_vec(), b"a".to_vec()], "b arrived before a");
    }
    .group("server")
    .primary()
    .spawn();
    async {
        let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        socket.send_to(b"a", "server:9000").await.unwrap();
        socket.send_to(b"b", "server:9000").await.unwrap();
    }
    .group("client")
    .spawn();
}

#[test]
fn pruning_is_off_where_fingerprints_miss_async_tasks_state() {
    // By default the server's locals keep pruning off: the second order is
    // explored and fails.
    let failure = Explorer::model_checking()
        .try_run(arrival_order_checked_later)
        .expect_err("the default search explores both arrival orders");
    assert!(
        failure.message().contains("b arrived before a"),
        "{failure}"
    );

    // Forced fingerprints prune the second order at the shared state, and
    // the report says the search may be unsound.
    let forced = Explorer::model_checking()
        .visited(Visited::Fingerprints)
        .try_run(arrival_order_checked_later)
        .expect("forced pruning cuts the failing order");
    assert!(forced.pruning_may_be_unsound(), "{forced}");
    assert!(
        forced.to_string().contains("pruning may be unsound"),
        "{forced}"
    );
    assert!(forced.outcome("visited state") > 0, "{forced}");
}

#[test]
fn declared_state_turns_pruning_back_on() {
    // With its state reported, the server's two orders have two
    // fingerprints: pruning is on, without a warning, and still finds it.
    let failure = Explorer::model_checking()
        .try_run(|| arrival_order(true))
        .expect_err("declared state keeps the orders apart");
    assert!(
        failure.message().contains("b arrived before a"),
        "{failure}"
    );
    let fixed = Explorer::model_checking()
        .max_depth(2)
        .try_run(|| arrival_order(true))
        .expect("within two deliveries nothing fails");
    assert_eq!(fixed.uncovered_states(), 0, "{fixed}");
    assert!(!fixed.pruning_may_be_unsound(), "{fixed}");
    assert!(!fixed.to_string().contains("pruning"), "{fixed}");
    // Undeclared, the same search says where pruning was off.
    let undeclared = Explorer::model_checking()
        .max_depth(2)
        .try_run(arrival_order_checked_later)
        .expect("within two deliveries nothing fails");
    assert!(undeclared.uncovered_states() > 0, "{undeclared}");
    assert!(
        undeclared.to_string().contains("pruning off at"),
        "{undeclared}"
    );
}

// ----- crashes and restarts as choices of the model checker -----

/// Keeps one value in memory (lost by a crash) and answers `SET`/`GET`.
#[derive(Clone, Default)]
struct Register {
    value: String,
}

impl Process for Register {
    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        match msg.tip() {
            "SET" => {
                self.value = msg.data().to_string();
                ctx.send(Message::new("ACK", ""), from);
            }
            "GET" => ctx.send(Message::new("VALUE", &self.value), from),
            _ => {}
        }
    }
    fn state(&self) -> Option<String> {
        Some(self.value.clone())
    }
}

/// Writes `1`, then (once acknowledged) reads it back and reports what it
/// read as a local message.
#[derive(Clone, Default)]
struct Writer {
    acknowledged: bool,
}

impl Process for Writer {
    fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
        ctx.send(msg, "register");
    }
    fn on_message(&mut self, msg: Message, _: &str, ctx: &mut Context) {
        match msg.tip() {
            "ACK" => {
                self.acknowledged = true;
                ctx.send(Message::new("GET", ""), "register");
            }
            "VALUE" => ctx.send_local(msg),
            _ => {}
        }
    }
    fn state(&self) -> Option<String> {
        Some(self.acknowledged.to_string())
    }
}

/// A register that forgets its value in a crash; the writer reads back
/// what it wrote.
fn crash_amnesia(sim: &mut Simulation) {
    sim.add_process("writer", "client", Writer::default());
    sim.add_process_factory("register", "server", Register::default);
    sim.send_local("writer", Message::new("SET", "1"));
    sim.enter(|| {
        check::invariant("reads its own write", || {
            process::local_outbox("writer")
                .iter()
                .all(|read| read.data() == "1")
        })
    });
}

#[test]
fn crashes_and_restarts_are_choices_within_their_budgets() {
    // Without crash budgets the register never forgets.
    let report = Explorer::model_checking().run_with(crash_amnesia);
    assert!(report.complete(), "{report}");
    // Crashing the server alone loses the reply, never a value: a crash
    // without a restart cannot break the invariant.
    let crashes_only = Explorer::model_checking()
        .max_crashes(1)
        .run_with(crash_amnesia);
    assert!(crashes_only.complete(), "{crashes_only}");
    assert!(
        crashes_only.states() > report.states(),
        "{crashes_only} vs {report}"
    );
    // A crash and a restart between the write and the read: the register
    // comes back from its factory, empty.
    let failure = Explorer::model_checking()
        .max_crashes(1)
        .max_restarts(1)
        .try_run_with(crash_amnesia)
        .expect_err("the checker crashes and restarts the server");
    assert!(
        failure.message().contains("reads its own write"),
        "{failure}"
    );
    let trace = failure.trace().join("\n");
    assert!(trace.contains("crash"), "{trace}");
    assert!(trace.contains("restart"), "{trace}");
    // Its token replays the crash and the restart.
    let replayed = std::panic::catch_unwind(|| {
        let mut sim = Simulation::new().replay(failure.token());
        crash_amnesia(&mut sim);
        sim.run(|| {});
    });
    assert!(replayed.is_err(), "the replay breaks the invariant again");
}

#[test]
fn a_process_factory_brings_processes_back_after_a_restart() {
    let mut sim = Simulation::new();
    sim.add_process("writer", "client", Writer::default());
    sim.add_process_factory("register", "server", Register::default);
    sim.send_local("writer", Message::new("SET", "1"));
    sim.run_until_idle();
    assert_eq!(sim.process_state("register").as_deref(), Some("1"));
    sim.crash_node("server");
    sim.recover_node("server");
    // Back, fresh from its factory.
    assert_eq!(sim.process_state("register").as_deref(), Some(""));
    sim.send_local("writer", Message::new("SET", "2"));
    sim.run_until_idle();
    assert_eq!(sim.process_state("register").as_deref(), Some("2"));
}

#[test]
fn a_depth_first_search_within_a_depth_bound_reaches_every_state_breadth_first_does() {
    // A state first met deep, with few steps left before the bound, does
    // not prune a later visit nearer the root: depth first then sees every
    // state within the bound, as breadth first does.
    for depth in [4, 6, 8] {
        let explorer = |strategy| {
            Explorer::model_checking()
                .strategy(strategy)
                .max_drops(44)
                .max_duplicates(44)
                .max_depth(depth)
                .progress(false)
        };
        let dfs = explorer(Strategy::Dfs).run_with(retrying_ping_pong_copying(true));
        let bfs = explorer(Strategy::Bfs).run_with(retrying_ping_pong_copying(true));
        assert!(dfs.complete() && bfs.complete(), "{dfs}\n{bfs}");
        assert_eq!(
            dfs.unique_states(),
            bfs.unique_states(),
            "depth {depth}:\n{dfs}\n{bfs}"
        );
    }
}
