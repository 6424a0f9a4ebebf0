//! Model checking, side by side with AnySystem's model checker (the
//! `anysystem` crate, 0.3, from crates.io).
//!
//! The model is the *retrying* ping-pong, written once per crate with the
//! same handlers: a client process on `client-node` gets a local PING,
//! sends PING to `server` and arms timer `retry` (3 s); on the first PONG
//! it cancels the timer and emits the PONG as a local message; when the
//! timer fires it resends PING and re-arms the timer. The server on
//! `server-node` echoes PONG to the sender. The network may drop and
//! duplicate every message (bach: `set_drop_rate(0.3)`,
//! `set_duplication_rate(0.3)`; AnySystem: `set_drop_rate(0.3)`,
//! `set_dupl_rate(0.3)`). Goal: the client emitted a local PONG. Both
//! checkers search depth first with visited-state pruning (bach:
//! `Visited::Auto`, the default, which prunes here since every task is a
//! process task; AnySystem: `Dfs` with
//! `VisitedStates::Partial`, its default, a set of state hashes).
//!
//! **Depth.** Both searches stop a path at the same `max_depth`, but the
//! two checkers count steps differently. bach's depth counts deliveries and
//! timer firings; a fault is decided when the message is sent (a branch
//! within the step) and is not a step of its own. AnySystem's
//! `McState::depth`, which the prune here compares, also counts each drop
//! and each duplication as a step, so at the same number its paths carry
//! fewer deliveries and timer firings when faults happen. (Pruning
//! AnySystem by deliveries and timer firings alone, counted from the
//! trace, makes the protocol depths equal but its search explodes: about
//! 4 s and 10^5 unique states at depth 4, well beyond the time budget at depth 6.)
//! bach's fault budgets are set to [`FAULT_BUDGET`], which cannot bind: a
//! path of depth `d` sends at most `d + 1` messages, so it can spend at
//! most `d + 1` drops and `2(d + 1)` duplicates (both checkers deliver a
//! message at most three times: AnySystem's `DUPL_COUNT` is 2).
//!
//! **States.** The two fingerprints differ. bach hashes what determines
//! the future: process states, local outboxes, named timers, the multiset
//! of messages in flight, pending timers relative to now. AnySystem hashes
//! its pending-event table as stored (event ids, the id counter, the
//! dependency resolver, each copy's remaining duplicate count) with the
//! process states and outboxes, so the same situation reached along
//! different paths is often a new state; and a drop or duplication is a
//! transition that yields a state of its own. Its unique-state counts are
//! therefore much larger for the same model. bach prunes a state met again
//! only if it was met before with at least as many drops and duplicates
//! left and at least as many steps left before `max_depth`, so it explores
//! some states again (with other budgets left, even though
//! [`FAULT_BUDGET`] never binds, or nearer the root) and sees every state
//! within the bound (its unique states count fingerprints once).
//!
//! **Counts.** bach's report gives states examined (step boundaries whose
//! properties were evaluated and fingerprint looked up, replayed prefixes
//! not counted; a boundary where the goal holds ends the path before the
//! lookup and counts too, as AnySystem counts the transition into a goal
//! state), unique fingerprints and paths. AnySystem's `McStats` has no
//! state count, so it is measured: unique states are the calls of the
//! invariant (it runs once per state not seen before, the initial one and
//! goal states included); states examined are the transitions tried (each
//! builds, hashes and looks up a state) plus the initial state, counted
//! through the client's state `Hash`; paths are the leaves of the search
//! tree (goal reached, depth limit, or a transition into a visited state),
//! as bach counts them.
//!
//! **Copies.** Both models' processes can be copied: AnySystem requires
//! it (its processes are `Clone` and restore states through `set_state`);
//! bach's implement `Process::clone_process`, which lets its depth-first
//! search save the system at each step and resume a backtracked path from
//! the nearest saved state instead of re-running the setup and the prefix.
//! The paths, states and counts are the same as with re-running
//! (`tests/model_checking.rs` checks it); only the time differs.
//!
//! One criterion iteration is one complete model-checking run (system set
//! up included). Before the timed runs, each depth prints the counts and
//! the single-run rates of both checkers.
//!
//! **Parallel.** `model_check_parallel` runs bach's breadth-first search
//! (`par_run_with`) on the same model at depth [`PARALLEL_DEPTH`] on one
//! thread and on two; both report exactly the same counts (checked), so
//! the time ratio is the parallel speed-up.
//!
//! `cargo bench --bench model_check` prints everything.

use criterion::{criterion_group, Criterion, SamplingMode};
use std::time::Duration;

/// Depth limits benchmarked (see the module docs for what each counts).
const DEPTHS: [u32; 3] = [6, 8, 10];

/// Depth of the parallel breadth-first comparison (a few thousand
/// executions, so that each level has work for both threads).
const PARALLEL_DEPTH: u32 = 10;

/// bach's drop and duplicate budgets: more than a path of the deepest
/// depth can spend (see the module docs), so only the depth bounds it.
const FAULT_BUDGET: u32 = 4 * (DEPTHS[DEPTHS.len() - 1] + 1);

/// What one model-checking run explored.
struct Stats {
    states: u64,
    unique_states: u64,
    paths: u64,
    goals: u64,
    elapsed: Duration,
}

impl Stats {
    fn line(&self, tool: &str, depth: u32) -> String {
        format!(
            "model_check depth {depth} {tool:>9}: {} states examined, {} unique, {} paths \
             ({} goal), {:.2?}, {:.0} states/s",
            self.states,
            self.unique_states,
            self.paths,
            self.goals,
            self.elapsed,
            self.states as f64 / self.elapsed.as_secs_f64().max(1e-9),
        )
    }
}

mod ours {
    use super::{Stats, FAULT_BUDGET};
    use bach::{
        check::{self, Explorer},
        process::{self, Context, Message, Process},
        Simulation,
    };
    use std::time::{Duration, Instant};

    #[derive(Clone)]
    pub struct PingClient {
        done: bool,
    }

    impl Process for PingClient {
        fn on_local_message(&mut self, msg: Message, ctx: &mut Context) {
            ctx.send(msg, "server");
            ctx.set_timer("retry", Duration::from_secs(3));
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
            Some(self.done.to_string())
        }
        fn clone_process(&self) -> Option<Self> {
            Some(self.clone())
        }
    }

    #[derive(Clone)]
    pub struct PongServer;

    impl Process for PongServer {
        fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
            ctx.send(Message::new("PONG", msg.data()), from);
        }
        fn clone_process(&self) -> Option<Self> {
            Some(self.clone())
        }
    }

    fn setup(sim: &mut Simulation) {
        sim.add_process("client", "client-node", PingClient { done: false });
        sim.add_process("server", "server-node", PongServer);
        sim.set_drop_rate(0.3);
        sim.set_duplication_rate(0.3);
        sim.send_local("client", Message::new("PING", "hi"));
        sim.enter(|| {
            check::goal("pong received", || {
                !process::local_outbox("client").is_empty()
            })
        });
    }

    /// The model checker both searches use, bounded at `depth`.
    fn explorer(depth: u32) -> Explorer {
        Explorer::model_checking()
            .max_drops(FAULT_BUDGET)
            .max_duplicates(FAULT_BUDGET)
            .max_depth(depth)
            .progress(false)
    }

    /// What a complete search that reached the goal explored.
    fn stats(report: &bach::check::Report, depth: u32, elapsed: Duration) -> Stats {
        assert!(report.complete(), "{report}");
        assert!(report.outcome("goal reached") > 0, "{report}");
        assert!(report.max_depth() <= depth, "{report}");
        Stats {
            states: report.states(),
            unique_states: report.unique_states(),
            paths: report.paths(),
            goals: report.outcome("goal reached"),
            elapsed,
        }
    }

    /// Breadth-first search of the same model on `threads` threads.
    pub fn check_parallel(depth: u32, threads: usize) -> Stats {
        let started = Instant::now();
        let report = explorer(depth).threads(threads).par_run_with(setup);
        stats(&report, depth, started.elapsed())
    }

    pub fn check(depth: u32) -> Stats {
        let started = Instant::now();
        let report = explorer(depth).run_with(setup);
        stats(&report, depth, started.elapsed())
    }
}

mod theirs {
    use super::Stats;
    use anysystem::{
        mc::{strategies::Dfs, McState, ModelChecker, StrategyConfig},
        Context, Message, Process, ProcessState, System,
    };
    use std::{
        cell::Cell,
        hash::{Hash, Hasher},
        rc::Rc,
        time::Instant,
    };

    thread_local! {
        /// How often the client's state was hashed (see `check`).
        static HASHES: Cell<u64> = const { Cell::new(0) };
    }

    /// The client's state, as AnySystem stores and hashes it. Hashing it
    /// counts, to recover how many states the checker looked up.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct ClientState {
        done: bool,
    }

    impl Hash for ClientState {
        fn hash<H: Hasher>(&self, hasher: &mut H) {
            HASHES.with(|n| n.set(n.get() + 1));
            self.done.hash(hasher);
        }
    }

    #[derive(Clone)]
    pub struct PingClient {
        done: bool,
    }

    impl Process for PingClient {
        fn on_local_message(&mut self, msg: Message, ctx: &mut Context) -> Result<(), String> {
            ctx.send(msg, "server".to_string());
            ctx.set_timer("retry", 3.0);
            Ok(())
        }
        fn on_message(&mut self, msg: Message, _: String, ctx: &mut Context) -> Result<(), String> {
            if !self.done {
                self.done = true;
                ctx.cancel_timer("retry");
                ctx.send_local(msg);
            }
            Ok(())
        }
        fn on_timer(&mut self, _: String, ctx: &mut Context) -> Result<(), String> {
            ctx.send(Message::new("PING", "hi"), "server".to_string());
            ctx.set_timer("retry", 3.0);
            Ok(())
        }
        fn state(&self) -> Result<Rc<dyn ProcessState>, String> {
            Ok(Rc::new(ClientState { done: self.done }))
        }
        fn set_state(&mut self, state: Rc<dyn ProcessState>) -> Result<(), String> {
            self.done = state
                .downcast_ref::<ClientState>()
                .ok_or("not a client state")?
                .done;
            Ok(())
        }
    }

    #[derive(Clone)]
    pub struct PongServer;

    impl Process for PongServer {
        fn on_message(
            &mut self,
            msg: Message,
            from: String,
            ctx: &mut Context,
        ) -> Result<(), String> {
            ctx.send(Message::new("PONG".to_string(), msg.data), from);
            Ok(())
        }
        fn on_local_message(&mut self, _: Message, _: &mut Context) -> Result<(), String> {
            Ok(())
        }
        fn on_timer(&mut self, _: String, _: &mut Context) -> Result<(), String> {
            Ok(())
        }
    }

    fn pong_received(state: &McState) -> bool {
        !state.node_states["client-node"].proc_states["client"]
            .local_outbox
            .is_empty()
    }

    pub fn check(depth: u32) -> Stats {
        let started = Instant::now();
        let mut sys = System::new(0);
        sys.add_node("client-node");
        sys.add_node("server-node");
        sys.add_process(
            "client",
            Box::new(PingClient { done: false }),
            "client-node",
        );
        sys.add_process("server", Box::new(PongServer), "server-node");
        sys.network().set_drop_rate(0.3);
        sys.network().set_dupl_rate(0.3);

        let unique = Rc::new(Cell::new(0u64));
        let goals = Rc::new(Cell::new(0u64));
        let pruned = Rc::new(Cell::new(0u64));
        let config = StrategyConfig::default()
            .invariant({
                let unique = unique.clone();
                Box::new(move |_: &McState| {
                    unique.set(unique.get() + 1);
                    Ok(())
                })
            })
            .goal({
                let goals = goals.clone();
                Box::new(move |state: &McState| {
                    pong_received(state).then(|| {
                        goals.set(goals.get() + 1);
                        "pong received".to_string()
                    })
                })
            })
            .prune({
                let pruned = pruned.clone();
                Box::new(move |state: &McState| {
                    (state.depth >= u64::from(depth)).then(|| {
                        pruned.set(pruned.get() + 1);
                        "depth limit".to_string()
                    })
                })
            });
        HASHES.with(|n| n.set(0));
        let result = ModelChecker::new(&sys).run_with_change::<Dfs>(config, |mc| {
            mc.send_local_message("client-node", "client", Message::new("PING", "hi"));
        });
        let elapsed = started.elapsed();
        if let Err(err) = result {
            panic!("AnySystem model checking failed: {}", err.message());
        }
        // Client state hashes: one for the local message, one marking the
        // initial state visited, then per transition one when the event is
        // applied (its random seed) and one visited lookup, plus one more
        // marking each new state. The invariant ran on the initial state
        // and on each new one. Hence transitions = (hashes - 1 - unique) / 2.
        let hashes = HASHES.with(Cell::get);
        let unique = unique.get();
        assert_eq!((hashes - 1 - unique) % 2, 0, "hash accounting changed");
        let transitions = (hashes - 1 - unique) / 2;
        let revisits = transitions - (unique - 1);
        Stats {
            states: transitions + 1,
            unique_states: unique,
            paths: goals.get() + pruned.get() + revisits,
            goals: goals.get(),
            elapsed,
        }
    }
}

fn model_check(c: &mut Criterion) {
    for depth in DEPTHS {
        eprintln!("{}", ours::check(depth).line("bach", depth));
        eprintln!("{}", theirs::check(depth).line("anysystem", depth));
        let mut group = c.benchmark_group(format!("model_check/depth_{depth}"));
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("bach", |b| b.iter(|| ours::check(depth)));
        group.bench_function("anysystem", |b| b.iter(|| theirs::check(depth)));
        group.finish();
    }
}

fn model_check_parallel(c: &mut Criterion) {
    let depth = PARALLEL_DEPTH;
    let one = ours::check_parallel(depth, 1);
    let two = ours::check_parallel(depth, 2);
    assert_eq!(
        (one.states, one.unique_states, one.paths, one.goals),
        (two.states, two.unique_states, two.paths, two.goals),
        "parallel search must report what the one-thread search reports"
    );
    eprintln!("{}", one.line("bfs 1 thr", depth));
    eprintln!("{}", two.line("bfs 2 thr", depth));
    let mut group = c.benchmark_group(format!("model_check_parallel/depth_{depth}"));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    for threads in [1, 2] {
        group.bench_function(format!("bach_bfs_{threads}_threads"), |b| {
            b.iter(|| ours::check_parallel(depth, threads))
        });
    }
    group.finish();
}

criterion_group!(benches, model_check, model_check_parallel);

#[path = "common/count.rs"]
mod count;

fn main() {
    if count::run(&[
        ("model_check_depth_8", &|| {
            ours::check(8);
        }),
        ("model_check_parallel_bfs_1", &|| {
            ours::check_parallel(PARALLEL_DEPTH, 1);
        }),
    ]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
