//! Linearizability checking (`bach::check::linearizability`) on generated
//! histories, with one thread and with all threads; side by side with
//! Porcupine through `benches/porcupine/run.sh`.
//!
//! The histories come from the unit tests' generator
//! (`bach/src/check/linearizability/generate.rs`, included below): clients
//! run operations one after another against a real object, each operation
//! taking effect at one instant inside its interval, about one in two
//! hundred never returning (taking effect or not). They are linearizable by
//! construction, except where a stale read is injected.
//!
//! * `register_16_clients`: 1,000 operations (half reads, 40% writes, 10%
//!   compare-and-swaps) by 16 clients on one register: one partition with
//!   about 8 operations in flight at a time. The hard shape: the search is
//!   exponential in that number.
//! * `kv_10k_100_keys`: 10,000 operations (half gets, 40% puts, 10%
//!   compare-and-swaps) by 16 clients over 100 keys: 100 partitions.
//! * `kv_10k_stale_read`: the same with one get, in the second half,
//!   returning a value overwritten before it was called: not linearizable.
//!   The checker stops at the failing partition with the lowest position.
//!
//! One criterion iteration is one complete check (validation, partitioning,
//! search). Equal times are read as Porcupine reads them (closed intervals,
//! `Ties::Concurrent`), so both checkers answer the same question.
//!
//! `BENCH_EXPORT=<dir> cargo bench --bench linearizability` runs no
//! criterion: it writes each history as `<dir>/<name>.json` for
//! `benches/porcupine`, then times bach the way that program times
//! Porcupine (one untimed check, then checks until at least 5 runs and 1 s,
//! at most 100; the median) and prints `<name> <threads> <median ns>
//! <verdict> <runs>` per history and thread count.

use bach::check::linearizability::{
    check_operations,
    models::{self, KeyValue, KvInput, KvOutput, Register, RegisterInput, RegisterOutput},
    CheckResult, Operation, Options, Ties,
};
use criterion::{criterion_group, Criterion, SamplingMode};
use serde_json::{json, Value};
use std::{
    path::Path,
    time::{Duration, Instant},
};

#[path = "../bach/src/check/linearizability/generate.rs"]
mod generate;

/// A named history and what it is a history of.
struct Case {
    name: &'static str,
    history: History,
}

enum History {
    Register(generate::RegisterHistory),
    Kv(generate::KvHistory),
}

fn cases() -> Vec<Case> {
    let mut stale = generate::kv(3, 10_000, 100, 16);
    generate::inject_stale_read(&mut stale)
        .expect("the generated history has a read to make stale");
    vec![
        Case {
            name: "register_16_clients",
            history: History::Register(generate::register(1, 1_000, 16)),
        },
        Case {
            name: "kv_10k_100_keys",
            history: History::Kv(generate::kv(3, 10_000, 100, 16)),
        },
        Case {
            name: "kv_10k_stale_read",
            history: History::Kv(stale),
        },
    ]
}

/// Checks a case's history with `threads` threads (`0`: all).
fn check(case: &Case, threads: usize) -> CheckResult {
    let options = Options::new().threads(threads).ties(Ties::Concurrent);
    let result = match &case.history {
        History::Register(history) => check_operations(&Register::new(0), history, options),
        History::Kv(history) => check_operations(&KeyValue::new(), history, options),
    };
    result.expect("generated histories are well formed")
}

fn verdict(result: &CheckResult) -> &'static str {
    match result {
        CheckResult::Linearizable => "linearizable",
        CheckResult::NotLinearizable(_) => "not-linearizable",
        CheckResult::Unknown { .. } => "unknown",
    }
}

fn linearizability(c: &mut Criterion) {
    for case in cases() {
        let expected = !case.name.contains("stale");
        assert_eq!(check(&case, 1).is_linearizable(), expected, "{}", case.name);
        let mut group = c.benchmark_group(format!("linearizability/{}", case.name));
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        for (label, threads) in [("1_thread", 1), ("all_threads", 0)] {
            group.bench_function(label, |b| b.iter(|| check(&case, threads)));
        }
        group.finish();
    }
}

criterion_group!(benches, linearizability);

fn main() {
    if let Ok(dir) = std::env::var("BENCH_EXPORT") {
        export(Path::new(&dir));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// Writes every history for Porcupine and times bach on each.
fn export(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for case in cases() {
        let path = dir.join(format!("{}.json", case.name));
        std::fs::write(&path, to_json(&case).to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        let counts: &[usize] = if threads == 1 { &[1] } else { &[1, threads] };
        for &threads in counts {
            let (median, runs, result) = time(|| check(&case, threads));
            println!(
                "{} {threads} {} {} {runs}",
                case.name,
                median.as_nanos(),
                verdict(&result)
            );
        }
    }
}

/// The median time of `check`: one untimed run, then runs until at least 5
/// and 1 s, at most 100.
fn time(check: impl Fn() -> CheckResult) -> (Duration, usize, CheckResult) {
    let result = check();
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 100 && (times.len() < 5 || started.elapsed() < Duration::from_secs(1)) {
        let run = Instant::now();
        std::hint::black_box(check());
        times.push(run.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times.len(), result)
}

/// A history in the form `benches/porcupine/main.go` reads.
fn to_json(case: &Case) -> Value {
    let (model, operations) = match &case.history {
        History::Register(history) => ("register", history.iter().map(register_json).collect()),
        History::Kv(history) => ("kv", history.iter().map(kv_json).collect::<Vec<_>>()),
    };
    json!({ "model": model, "operations": operations })
}

fn register_json(op: &Operation<RegisterInput<u64>, RegisterOutput<u64>>) -> Value {
    let mut value = common_json(op);
    match &op.input {
        RegisterInput::Read => value["op"] = json!("read"),
        RegisterInput::Write(v) => (value["op"], value["value"]) = (json!("write"), json!(v)),
        RegisterInput::Cas { expected, new } => {
            (value["op"], value["expected"], value["value"]) =
                (json!("cas"), json!(expected), json!(new))
        }
    }
    match &op.output {
        Some(RegisterOutput::Read(v)) => value["out"] = json!(v),
        Some(RegisterOutput::Cas(ok)) => value["ok"] = json!(ok),
        Some(RegisterOutput::Write) | None => {}
    }
    value
}

fn kv_json(op: &Operation<KvInput<u64, u64>, KvOutput<u64>>) -> Value {
    let mut value = common_json(op);
    value["key"] = json!(op.input.key());
    match &op.input {
        KvInput::Get(_) => value["op"] = json!("get"),
        KvInput::Put(_, v) => (value["op"], value["value"]) = (json!("put"), json!(v)),
        KvInput::Cas { expected, new, .. } => {
            (value["op"], value["expected"], value["value"]) =
                (json!("cas"), json!(expected), json!(new))
        }
    }
    match &op.output {
        Some(KvOutput::Get(v)) => value["out"] = json!(v),
        Some(KvOutput::Cas(ok)) => value["ok"] = json!(ok),
        Some(KvOutput::Put) | None => {}
    }
    value
}

/// The fields every operation has.
fn common_json<I, O>(op: &Operation<I, O>) -> Value {
    json!({ "client": op.client, "call": op.call, "ret": op.ret })
}
