//! [`Chaos`]: random crashes, restarts, partitions and heals at given rates.

use crate::{ext::*, net, rand, task::JoinHandle, time::Duration};

/// A fault script drawn from the simulation's choice source: reproducible
/// under a seed, and explorable by the fuzzing and exploration engines.
///
/// Crashes and partitions arrive as Poisson processes at the given rates;
/// each crashed node restarts after an exponentially distributed downtime
/// (mean [`Chaos::downtime`]); each partition splits the nodes into two
/// random non-empty sides and heals after an exponentially distributed time
/// (mean [`Chaos::partition_duration`]).
///
/// ```
/// use bach::{ext::*, node::Chaos};
///
/// bach::sim(|| {
///     for name in ["a", "b", "c"] {
///         bach::node::host(name, || async { loop { 1.s().sleep().await } });
///     }
///     Chaos::new(&["a", "b", "c"])
///         .crash_rate(0.5)
///         .partition_rate(0.2)
///         .stop_after(60.s())
///         .spawn();
///     async { 90.s().sleep().await }.primary().spawn();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Chaos {
    nodes: Vec<String>,
    crash_rate: f64,
    downtime: Duration,
    partition_rate: f64,
    partition_duration: Duration,
    stop_after: Option<Duration>,
}

impl Chaos {
    /// Chaos over these nodes, with no fault enabled yet.
    pub fn new<N: AsRef<str>>(nodes: &[N]) -> Self {
        Self {
            nodes: nodes.iter().map(|n| n.as_ref().to_string()).collect(),
            crash_rate: 0.0,
            downtime: Duration::from_secs(5),
            partition_rate: 0.0,
            partition_duration: Duration::from_secs(10),
            stop_after: None,
        }
    }

    /// Crashes per simulated second, across all nodes. Panics if negative
    /// or not finite.
    pub fn crash_rate(mut self, per_second: f64) -> Self {
        assert!(
            per_second.is_finite() && per_second >= 0.0,
            "crash rate {per_second} must be >= 0"
        );
        self.crash_rate = per_second;
        self
    }

    /// Mean time a crashed node stays down before it restarts (default 5 s).
    pub fn downtime(mut self, mean: Duration) -> Self {
        self.downtime = mean;
        self
    }

    /// Partitions per simulated second. Panics if negative or not finite.
    pub fn partition_rate(mut self, per_second: f64) -> Self {
        assert!(
            per_second.is_finite() && per_second >= 0.0,
            "partition rate {per_second} must be >= 0"
        );
        self.partition_rate = per_second;
        self
    }

    /// Mean time a partition lasts before it heals (default 10 s).
    pub fn partition_duration(mut self, mean: Duration) -> Self {
        self.partition_duration = mean;
        self
    }

    /// Injects no new fault after this much simulated time (from
    /// [`Chaos::spawn`]); pending restarts and heals still happen.
    pub fn stop_after(mut self, duration: Duration) -> Self {
        self.stop_after = Some(duration);
        self
    }

    /// Starts the fault script as a background task on `main`. Panics
    /// outside a simulation, with no nodes, or on an unknown node.
    #[track_caller]
    pub fn spawn(self) -> JoinHandle<()> {
        assert!(!self.nodes.is_empty(), "Chaos needs at least one node");
        for name in &self.nodes {
            assert!(
                crate::group::Group::lookup(name).is_some(),
                "Chaos: there is no node called `{name}`"
            );
        }
        async move { self.run().await }
            .group("main")
            .spawn_named("chaos")
    }

    async fn run(self) {
        let total = self.crash_rate + self.partition_rate;
        if total == 0.0 {
            return;
        }
        let start = crate::time::Instant::now();
        loop {
            exponential(1.0 / total).sleep().await;
            if self.stop_after.is_some_and(|limit| start.elapsed() > limit) {
                return;
            }
            if rand::gen_bool(self.crash_rate / total) {
                self.crash_one();
            } else {
                self.partition();
            }
        }
    }

    fn crash_one(&self) {
        let up: Vec<&String> = self
            .nodes
            .iter()
            .filter(|n| !super::is_crashed(n))
            .collect();
        if up.is_empty() {
            return;
        }
        let victim = (*rand::pick(&up)).clone();
        crate::trace::note(format!("chaos: crash {victim}"));
        super::crash(&victim);
        let downtime = exponential(self.downtime.as_secs_f64());
        async move {
            downtime.sleep().await;
            crate::trace::note(format!("chaos: restart {victim}"));
            super::restart(&victim);
        }
        .group("main")
        .spawn();
    }

    fn partition(&self) {
        if self.nodes.len() < 2 {
            return;
        }
        let mut nodes = self.nodes.clone();
        rand::shuffle(&mut nodes);
        let split = 1 + rand::choose(nodes.len() - 1);
        let (a, b) = nodes.split_at(split);
        crate::trace::note(format!("chaos: partition {a:?} | {b:?}"));
        net::partition(a, b);
        let lasts = exponential(self.partition_duration.as_secs_f64());
        async move {
            lasts.sleep().await;
            crate::trace::note("chaos: heal");
            net::heal();
        }
        .group("main")
        .spawn();
    }
}

/// An exponentially distributed duration with the given mean (seconds).
fn exponential(mean_secs: f64) -> Duration {
    let u: f64 = rand::gen();
    Duration::from_secs_f64(-(1.0 - u).ln() * mean_secs)
}
