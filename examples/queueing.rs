//! M/M/1 and M/M/c queues, simulated for a million customers each and
//! checked against queueing theory.
//!
//! Customers arrive as a Poisson process (exponential inter-arrival times,
//! rate λ) into an unbounded FIFO queue built from `bach::queue`; `c`
//! server tasks take customers from it and serve each for an exponential
//! time (rate μ per server). The example prints the simulated mean sojourn
//! time (time in system: waiting plus service), the mean wait in queue
//! (recorded by the queue's `sojourn()` wrapper), the time-averaged queue
//! length and the servers' utilisation next to the closed forms —
//! M/M/1: W = 1/(μ−λ), ρ = λ/μ; M/M/c: Erlang C — and exits non-zero if
//! the mean sojourn time or the utilisation is off by 2% or more.
//!
//! The run is seeded, so the output is the same every time:
//!
//! ```text
//! cargo run --release --example queueing
//! ```

use bach::{
    ext::*,
    queue, rand,
    time::{Duration, Instant},
    Simulation,
};
use std::{cell::Cell, io::Write, rc::Rc};

/// Customers per model.
const CUSTOMERS: u64 = 1_000_000;
/// Largest relative error the example accepts.
const TOLERANCE: f64 = 0.02;
/// Time unit of the rates below.
const UNIT: Duration = Duration::from_millis(1);

struct Model {
    name: &'static str,
    /// λ: arrivals per time unit.
    arrival_rate: f64,
    /// μ: services per time unit, per server.
    service_rate: f64,
    /// c: number of servers.
    servers: u32,
}

impl Model {
    /// ρ = λ / (c μ).
    fn utilisation(&self) -> f64 {
        self.arrival_rate / (self.servers as f64 * self.service_rate)
    }

    /// Erlang C: the probability that an arriving customer has to wait.
    fn wait_probability(&self) -> f64 {
        let a = self.arrival_rate / self.service_rate; // offered load
        let rho = self.utilisation();
        let mut term = 1.0; // a^k / k!
        let mut sum = 0.0;
        for k in 0..self.servers {
            sum += term;
            term *= a / (k as f64 + 1.0);
        }
        // `term` is now a^c / c!.
        let waiting = term / (1.0 - rho);
        waiting / (sum + waiting)
    }

    /// Wq = C(c, a) / (c μ − λ), in time units.
    fn mean_wait(&self) -> f64 {
        self.wait_probability() / (self.servers as f64 * self.service_rate - self.arrival_rate)
    }

    /// W = Wq + 1/μ (for M/M/1 this is 1/(μ − λ)).
    fn mean_sojourn(&self) -> f64 {
        self.mean_wait() + 1.0 / self.service_rate
    }
}

struct Measured {
    mean_sojourn: f64,
    mean_wait: f64,
    mean_queue_len: f64,
    utilisation: f64,
}

/// An exponentially distributed duration with `rate` per time unit, drawn
/// from the simulation's seeded choice source.
fn exponential(rate: f64) -> Duration {
    let uniform: f64 = rand::gen();
    UNIT.mul_f64(-(1.0 - uniform).ln() / rate)
}

fn simulate(model: &Model, seed: u64) -> Measured {
    let served = Rc::new(Cell::new(0u64));
    let busy = Rc::new(Cell::new(Duration::ZERO));
    let total_sojourn = Rc::new(Cell::new(Duration::ZERO));
    let mut sim = Simulation::new().seed(seed);
    let queue_metrics = sim.run(|| {
        let queue = queue::unbounded().sojourn().span(model.name);
        let metrics = queue.metrics().clone();
        let (arrivals, waiting) = queue.channel();

        let arrival_rate = model.arrival_rate;
        async move {
            for _ in 0..CUSTOMERS {
                exponential(arrival_rate).sleep().await;
                arrivals.send(Instant::now()).await.unwrap();
            }
            // Dropping the sender closes the queue: servers drain and stop.
        }
        .spawn_named("arrivals");

        for server in 0..model.servers {
            let mut waiting = waiting.clone();
            let (served, busy, total_sojourn) =
                (served.clone(), busy.clone(), total_sojourn.clone());
            let (service_rate, name) = (model.service_rate, model.name);
            async move {
                while let Some(arrived) = waiting.recv().await {
                    let service = exponential(service_rate);
                    service.sleep().await;
                    busy.set(busy.get() + service);
                    total_sojourn.set(total_sojourn.get() + arrived.elapsed());
                    served.set(served.get() + 1);
                    report_progress(name, served.get());
                }
            }
            .primary()
            .spawn_named(format!("server {server}"));
        }
        metrics
    });
    eprintln!();
    assert_eq!(served.get(), CUSTOMERS);
    let elapsed = sim.elapsed().as_secs_f64();
    let unit = UNIT.as_secs_f64();
    Measured {
        mean_sojourn: total_sojourn.get().as_secs_f64() / CUSTOMERS as f64 / unit,
        mean_wait: queue_metrics.sojourn().mean.as_secs_f64() / unit,
        mean_queue_len: queue_metrics.mean_len(),
        utilisation: busy.get().as_secs_f64() / (elapsed * model.servers as f64),
    }
}

/// A progress line on stderr, updated every 5%.
fn report_progress(name: &str, served: u64) {
    let step = CUSTOMERS / 20;
    if served.is_multiple_of(step) {
        let percent = served * 100 / CUSTOMERS;
        eprint!("\r  {name}: {percent:>3}% of {CUSTOMERS} customers served");
        let _ = std::io::stderr().flush();
    }
}

fn compare(what: &str, simulated: f64, theory: f64, checked: bool) -> bool {
    let error = (simulated - theory) / theory;
    let ok = error.abs() < TOLERANCE;
    let verdict = match (checked, ok) {
        (false, _) => "",
        (true, true) => "ok",
        (true, false) => "OFF BY MORE THAN 2%",
    };
    println!(
        "  {what:<24} simulated {simulated:>9.4}   theory {theory:>9.4}   error {:>+6.2}%  {verdict}",
        error * 100.0
    );
    !checked || ok
}

fn main() {
    let models = [
        Model {
            name: "M/M/1",
            arrival_rate: 0.7,
            service_rate: 1.0,
            servers: 1,
        },
        Model {
            name: "M/M/4",
            arrival_rate: 2.8,
            service_rate: 1.0,
            servers: 4,
        },
    ];
    let mut all_ok = true;
    for (index, model) in models.iter().enumerate() {
        println!(
            "{}: λ = {}/ms, μ = {}/ms per server, c = {}, ρ = {:.2}, {} customers",
            model.name,
            model.arrival_rate,
            model.service_rate,
            model.servers,
            model.utilisation(),
            CUSTOMERS
        );
        let measured = simulate(model, 42 + index as u64);
        let theory_wait = model.mean_wait();
        all_ok &= compare(
            "mean sojourn time (ms)",
            measured.mean_sojourn,
            model.mean_sojourn(),
            true,
        );
        all_ok &= compare(
            "utilisation",
            measured.utilisation,
            model.utilisation(),
            true,
        );
        compare(
            "mean wait in queue (ms)",
            measured.mean_wait,
            theory_wait,
            false,
        );
        compare(
            "mean queue length",
            measured.mean_queue_len,
            model.arrival_rate * theory_wait, // Little: Lq = λ Wq
            false,
        );
    }
    if !all_ok {
        eprintln!("simulation and theory disagree by 2% or more");
        std::process::exit(1);
    }
}
