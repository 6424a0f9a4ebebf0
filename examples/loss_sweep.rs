//! A Monte-Carlo sweep: how long does a stop-and-wait transfer take as the
//! network loses more packets? Simulation against theory, plotted to SVG.
//!
//! A client sends 200 numbered datagrams to `server:9000` over UDP, one at a
//! time: it waits up to 10 ms (the retransmission timeout) for the matching
//! acknowledgement and resends on timeout. Every link has a fixed 1 ms
//! latency and loses each packet with probability `p`. For each `p` the
//! example runs 100 seeded simulations and measures the simulated time the
//! transfer takes.
//!
//! An attempt succeeds when the datagram and its acknowledgement both
//! survive, with probability `q = (1 - p)²`, so a message needs `1/q`
//! attempts on average; each failed attempt costs the timeout and the
//! successful one a round trip:
//!
//! ```text
//! E[transfer] = N · ((1/q − 1) · RTO + RTT)
//! ```
//!
//! The example prints the simulated mean, its 5th and 95th percentiles and
//! the closed form for each loss rate, writes the plot to
//! `target/bach/loss_sweep.svg`, and exits non-zero if a simulated mean
//! misses the closed form by 3 % or more. Seeds are fixed, so the output is
//! the same on every run:
//!
//! ```text
//! cargo run --release --example loss_sweep
//! ```

use bach::{
    ext::*,
    net::{LinkConfig, UdpSocket},
    time::{timeout, Duration},
    Simulation,
};
use plotters::prelude::*;
use std::path::Path;

/// Messages per transfer.
const MESSAGES: u32 = 200;
/// Seeds per loss rate.
const SEEDS: u64 = 100;
/// One-way latency of every link.
const LATENCY: Duration = Duration::from_millis(1);
/// Retransmission timeout.
const RTO: Duration = Duration::from_millis(10);
/// Largest relative error of a simulated mean against the closed form.
const TOLERANCE: f64 = 0.03;

/// Runs one transfer and returns how long it took, in milliseconds.
fn transfer(loss: f64, seed: u64) -> f64 {
    let link = LinkConfig::default()
        .latency(LATENCY)
        .loss_probability(loss);
    let mut sim = Simulation::new().seed(seed).default_link(link);
    sim.run(|| {
        async {
            let socket = UdpSocket::bind("server:9000").await.unwrap();
            let mut buf = [0; 4];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                // Acknowledge every copy: the previous acknowledgement may
                // have been the one that was lost.
                socket.send_to(&buf[..len], from).await.unwrap();
            }
        }
        .group("server")
        .spawn();

        async {
            let socket = UdpSocket::bind("0.0.0.0:0").await.unwrap();
            socket.connect("server:9000").await.unwrap();
            for seq in 0..MESSAGES {
                let seq = seq.to_be_bytes();
                loop {
                    socket.send(&seq).await.unwrap();
                    let acked = async {
                        let mut ack = [0; 4];
                        loop {
                            let len = socket.recv(&mut ack).await.unwrap();
                            if ack[..len] == seq {
                                return;
                            }
                            // A late acknowledgement of an earlier copy.
                        }
                    };
                    if timeout(RTO, acked).await.is_ok() {
                        break;
                    }
                }
            }
        }
        .group("client")
        .primary()
        .spawn();
    });
    sim.elapsed().as_secs_f64() * 1e3
}

/// The closed-form expected transfer time, in milliseconds.
fn expected(loss: f64) -> f64 {
    let success = (1.0 - loss).powi(2);
    let rtt = 2.0 * LATENCY.as_secs_f64() * 1e3;
    let rto = RTO.as_secs_f64() * 1e3;
    f64::from(MESSAGES) * ((1.0 / success - 1.0) * rto + rtt)
}

struct Point {
    loss: f64,
    mean: f64,
    p5: f64,
    p95: f64,
    theory: f64,
}

fn measure(loss: f64) -> Point {
    let mut times: Vec<f64> = (0..SEEDS).map(|seed| transfer(loss, seed)).collect();
    times.sort_by(f64::total_cmp);
    let percentile = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Point {
        loss,
        mean: times.iter().sum::<f64>() / times.len() as f64,
        p5: percentile(0.05),
        p95: percentile(0.95),
        theory: expected(loss),
    }
}

fn plot(points: &[Point], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (720, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = points
        .iter()
        .map(|p| p.p95.max(p.theory))
        .fold(0.0, f64::max)
        * 1.1;
    let right = points.last().map_or(0.5, |p| p.loss);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "stop-and-wait: {MESSAGES} messages, RTO 10 ms, RTT 2 ms, {SEEDS} seeds per point"
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("loss probability per packet")
        .y_desc("transfer time (simulated ms)")
        .draw()?;
    let band: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.loss, p.p95))
        .chain(points.iter().rev().map(|p| (p.loss, p.p5)))
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15))))?
        .label("simulated 5th–95th percentile")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], BLUE.mix(0.15).filled()));
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.loss, p.mean)),
            &BLUE,
        ))?
        .label("simulated mean")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.loss, p.mean), 3, BLUE.filled())),
    )?;
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.loss, p.theory)),
            RED.stroke_width(1),
        ))?
        .label("closed form")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let losses: Vec<f64> = (0..=8).map(|i| f64::from(i) * 0.05).collect();
    // One thread per loss rate: simulations are independent and each is
    // deterministic on whatever thread it runs.
    let points: Vec<Point> = std::thread::scope(|scope| {
        let handles: Vec<_> = losses
            .iter()
            .map(|&loss| scope.spawn(move || measure(loss)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    println!("loss   simulated mean   [p5 .. p95]            closed form   error");
    let mut worst: f64 = 0.0;
    for p in &points {
        let error = (p.mean - p.theory) / p.theory;
        worst = worst.max(error.abs());
        println!(
            "{:.2}   {:>9.1} ms     [{:>7.1} .. {:>7.1}] ms   {:>8.1} ms   {:+.1}%",
            p.loss,
            p.mean,
            p.p5,
            p.p95,
            p.theory,
            error * 100.0
        );
    }

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bach");
    std::fs::create_dir_all(&dir).expect("create target/bach");
    let path = dir.join("loss_sweep.svg");
    plot(&points, &path).expect("write the plot");
    println!("plot: {}", path.display());

    if worst >= TOLERANCE {
        eprintln!(
            "a simulated mean is {:.1}% off the closed form (tolerance {:.0}%)",
            worst * 100.0,
            TOLERANCE * 100.0
        );
        std::process::exit(1);
    }
}
