//! One direction of a link between two nodes: its configuration and how it
//! turns a packet into a delay (or a fault).
//!
//! A [`LinkConfig`] describes what a packet experiences going from one node to
//! another: it waits in a drop-tail queue while the link serialises the
//! packets ahead of it (only if `bandwidth_bits_per_sec` is set), then travels
//! for a sampled [`Latency`] plus jitter, and may be lost, corrupted or
//! duplicated on the way. The [network](crate::Network) keeps one default
//! config for every link never configured and an override per configured
//! directed link; it consults the config on each non-loopback send. This
//! module holds no state and never draws a decision outside the calls that
//! [`Network::send`](crate::Network::send) documents.
//!
//! ```
//! use std::time::Duration;
//! use bach_net::{Latency, LinkConfig};
//!
//! let wan = LinkConfig::default()
//!     .latency(Latency::Uniform { min: Duration::from_millis(20), max: Duration::from_millis(40) })
//!     .loss_probability(0.01)
//!     .bandwidth_bits_per_sec(Some(10_000_000));
//! wan.validate().unwrap();
//! ```

use std::f64::consts::TAU;
use std::io;
use std::time::Duration;

use crate::decide::Decisions;

/// The largest UDP payload an IPv4 datagram can carry, in bytes: the upper
/// bound for [`LinkConfig::mtu`] and the limit for loopback traffic.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// How long a packet travels on a link after it has been serialised.
///
/// Every sample is a whole number of nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always exactly this long. Consumes no decision.
    Fixed(Duration),
    /// Uniform over `min ..= max` in nanosecond steps. Consumes one
    /// `below` decision (none if `min == max`).
    Uniform {
        /// The shortest delay.
        min: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// Pareto (heavy tailed) with scale `min` and tail index `shape`, capped
    /// at `max`: most packets take about `min`, a few take far longer. The
    /// smaller `shape`, the heavier the tail (the uncapped mean is infinite
    /// for `shape <= 1`). Consumes one `unit` decision.
    Pareto {
        /// The scale: the smallest possible delay.
        min: Duration,
        /// The tail index, greater than 0.
        shape: f64,
        /// The cap: longer samples are cut to this.
        max: Duration,
    },
    /// Normal around `mean` with standard deviation `std_dev`, cut at zero.
    /// Consumes two `unit` decisions (Box–Muller).
    Normal {
        /// The mean delay.
        mean: Duration,
        /// The standard deviation.
        std_dev: Duration,
    },
}

impl Default for Latency {
    /// `Fixed(1 ms)`.
    fn default() -> Self {
        Latency::Fixed(Duration::from_millis(1))
    }
}

impl From<Duration> for Latency {
    /// A fixed latency.
    fn from(latency: Duration) -> Self {
        Latency::Fixed(latency)
    }
}

impl Latency {
    /// Draws one delay from `d`.
    ///
    /// Total for any value, even one that fails [`validate`](Self::validate):
    /// `min > max` yields `min` for `Uniform`, and out-of-range floats
    /// saturate instead of panicking.
    #[inline]
    pub fn sample<D: Decisions + ?Sized>(&self, d: &mut D) -> Duration {
        Duration::from_nanos(self.sample_nanos(d))
    }

    /// [`Latency::sample`] in nanoseconds.
    #[inline]
    pub(crate) fn sample_nanos<D: Decisions + ?Sized>(&self, d: &mut D) -> u64 {
        match *self {
            Latency::Fixed(latency) => nanos(latency),
            Latency::Uniform { min, max } => {
                let min = nanos(min);
                let span = nanos(max).saturating_sub(min);
                min.saturating_add(d.below(span.saturating_add(1)))
            }
            Latency::Pareto { min, shape, max } => {
                // Inverse CDF on (0, 1]: `1 - unit` never hits 0, so no infinity.
                let u = 1.0 - d.unit();
                let x = nanos(min) as f64 * u.powf(-1.0 / shape);
                // `as` saturates and maps NaN to 0, so bad shapes cannot panic.
                x.min(nanos(max) as f64) as u64
            }
            Latency::Normal { mean, std_dev } => {
                let u1 = 1.0 - d.unit();
                let u2 = d.unit();
                let z = (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos();
                (nanos(mean) as f64 + z * nanos(std_dev) as f64).max(0.0) as u64
            }
        }
    }

    /// Checks the parameters; fails with `InvalidInput` naming the bad value.
    pub fn validate(&self) -> io::Result<()> {
        match *self {
            Latency::Fixed(latency) => fits("latency", latency),
            Latency::Uniform { min, max } => {
                fits("latency min", min)?;
                fits("latency max", max)?;
                if min > max {
                    return Err(invalid(format!(
                        "latency: uniform min {min:?} exceeds max {max:?}"
                    )));
                }
                Ok(())
            }
            Latency::Pareto { min, shape, max } => {
                fits("latency min", min)?;
                fits("latency max", max)?;
                if min.is_zero() {
                    return Err(invalid(
                        "latency: pareto min must be positive, got 0ns (it is the scale)".into(),
                    ));
                }
                if !(shape.is_finite() && shape > 0.0) {
                    return Err(invalid(format!(
                        "latency: pareto shape must be a positive number, got {shape}"
                    )));
                }
                if min > max {
                    return Err(invalid(format!(
                        "latency: pareto min {min:?} exceeds max {max:?}"
                    )));
                }
                Ok(())
            }
            Latency::Normal { mean, std_dev } => {
                fits("latency mean", mean)?;
                fits("latency std_dev", std_dev)
            }
        }
    }
}

/// The configuration of one direction of a link.
///
/// Fields are public for reading and struct-update syntax; the same-named
/// builder methods set them fluently. Checks happen in
/// [`validate`](Self::validate), which [`Network`](crate::Network) runs on
/// every config it is given through its validating setters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Travel time after serialisation, sampled per copy. Default `Fixed(1 ms)`.
    pub latency: Latency,
    /// Extra delay drawn uniformly from `[0, jitter]` per copy; nonzero jitter
    /// reorders packets. Default 0.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a packet is lost after leaving the queue. Default 0.
    pub loss_probability: f64,
    /// Probability in `[0, 1]` that a delivered packet arrives twice (the copy
    /// samples its own latency and jitter). Default 0.
    pub duplicate_probability: f64,
    /// Probability in `[0, 1]` that a delivered copy has a payload bit
    /// flipped (see [`corrupt`]). Default 0.
    pub corrupt_probability: f64,
    /// Serialisation rate in bits per second; packets queue behind each other.
    /// `None` is infinitely fast (no queueing). Default `None`.
    pub bandwidth_bits_per_sec: Option<u64>,
    /// Drop-tail queue size in bytes of payload not yet serialised, including
    /// the arriving packet; used only with a bandwidth. Default 65 536.
    pub queue_capacity_bytes: usize,
    /// Largest UDP payload in bytes (not the IP MTU); larger sends fail with
    /// `InvalidInput`. Default 65 507, the IPv4 UDP maximum; 1472 models Ethernet.
    pub mtu: usize,
    /// Whether the link exists in the topology; `false` drops every packet
    /// (`LinkDisabled`). Unlike `Network::set_link_enabled`, `heal` does not
    /// change it. Default `true`.
    pub enabled: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            jitter: Duration::ZERO,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            corrupt_probability: 0.0,
            bandwidth_bits_per_sec: None,
            queue_capacity_bytes: 64 * 1024,
            mtu: MAX_UDP_PAYLOAD,
            enabled: true,
        }
    }
}

impl LinkConfig {
    /// Sets [`latency`](Self::latency); a `Duration` means a fixed latency.
    #[must_use]
    pub fn latency(mut self, latency: impl Into<Latency>) -> Self {
        self.latency = latency.into();
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`loss_probability`](Self::loss_probability).
    #[must_use]
    pub fn loss_probability(mut self, p: f64) -> Self {
        self.loss_probability = p;
        self
    }

    /// Sets [`duplicate_probability`](Self::duplicate_probability).
    #[must_use]
    pub fn duplicate_probability(mut self, p: f64) -> Self {
        self.duplicate_probability = p;
        self
    }

    /// Sets [`corrupt_probability`](Self::corrupt_probability).
    #[must_use]
    pub fn corrupt_probability(mut self, p: f64) -> Self {
        self.corrupt_probability = p;
        self
    }

    /// Sets [`bandwidth_bits_per_sec`](Self::bandwidth_bits_per_sec).
    #[must_use]
    pub fn bandwidth_bits_per_sec(mut self, bandwidth: Option<u64>) -> Self {
        self.bandwidth_bits_per_sec = bandwidth;
        self
    }

    /// Sets [`queue_capacity_bytes`](Self::queue_capacity_bytes).
    #[must_use]
    pub fn queue_capacity_bytes(mut self, capacity: usize) -> Self {
        self.queue_capacity_bytes = capacity;
        self
    }

    /// Sets [`mtu`](Self::mtu).
    #[must_use]
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets [`enabled`](Self::enabled).
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Checks every field; fails with `InvalidInput` naming the first bad
    /// field and its value, e.g. `loss_probability must be within 0..=1, got 1.5`.
    pub fn validate(&self) -> io::Result<()> {
        self.latency.validate()?;
        fits("jitter", self.jitter)?;
        probability("loss_probability", self.loss_probability)?;
        probability("duplicate_probability", self.duplicate_probability)?;
        probability("corrupt_probability", self.corrupt_probability)?;
        if self.bandwidth_bits_per_sec == Some(0) {
            return Err(invalid(
                "bandwidth_bits_per_sec must be positive, got 0 (use None for unlimited)".into(),
            ));
        }
        if !(1..=MAX_UDP_PAYLOAD).contains(&self.mtu) {
            return Err(invalid(format!(
                "mtu must be within 1..={MAX_UDP_PAYLOAD} bytes, got {}",
                self.mtu
            )));
        }
        Ok(())
    }

    /// Draws the travel time of one copy, in nanoseconds: latency plus
    /// jitter, in that order.
    #[inline(always)]
    pub(crate) fn sample_delay_nanos<D: Decisions + ?Sized>(&self, d: &mut D) -> u64 {
        if let (Latency::Fixed(latency), Duration::ZERO) = (self.latency, self.jitter) {
            // The common case draws nothing.
            return nanos(latency);
        }
        let latency = self.latency.sample_nanos(d);
        let jitter = d.below(nanos(self.jitter).saturating_add(1));
        latency.saturating_add(jitter)
    }

    /// How long the link needs to serialise `len` payload bytes, rounded up to
    /// whole nanoseconds (zero without a bandwidth).
    #[inline]
    pub fn serialization_delay(&self, len: usize) -> Duration {
        match self.bandwidth_bits_per_sec {
            None => Duration::ZERO,
            Some(bandwidth) => {
                let bits = len as u128 * 8 * 1_000_000_000;
                let bandwidth = u128::from(bandwidth.max(1));
                let nanos = bits.div_ceil(bandwidth);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    /// How many payload bytes a link with this config still has to serialise
    /// if it is busy for `remaining` more time (fluid model, rounded down).
    #[inline]
    pub(crate) fn backlog_bytes(&self, remaining: Duration) -> u128 {
        match self.bandwidth_bits_per_sec {
            None => 0,
            Some(bandwidth) => remaining.as_nanos() * u128::from(bandwidth) / 8_000_000_000,
        }
    }
}

/// Flips one payload bit chosen with one `below` decision from `d`, and returns
/// its index (bit `i` is bit `i % 8` of byte `i / 8`), or `None` for an empty
/// payload, which consumes no decision.
///
/// The runtime calls this on copies whose [`Delivery`](crate::Delivery) says
/// `corrupted`.
#[inline]
pub fn corrupt<D: Decisions + ?Sized>(payload: &mut [u8], d: &mut D) -> Option<usize> {
    if payload.is_empty() {
        return None;
    }
    let bits = (payload.len() as u64).saturating_mul(8);
    let bit = d.below(bits) as usize;
    payload[bit / 8] ^= 1 << (bit % 8);
    Some(bit)
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (~584 years).
#[inline]
pub(crate) fn nanos(duration: Duration) -> u64 {
    // In u64 arithmetic (not `as_nanos`'s u128): it runs per packet.
    duration
        .as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|nanos| nanos.checked_add(u64::from(duration.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

fn fits(field: &str, value: Duration) -> io::Result<()> {
    if value.as_nanos() > u128::from(u64::MAX) {
        return Err(invalid(format!(
            "{field} must be below 584 years (nanosecond timestamps), got {value:?}"
        )));
    }
    Ok(())
}

fn probability(field: &str, p: f64) -> io::Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(invalid(format!("{field} must be within 0..=1, got {p}")));
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Seeded;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nanos_are_exact_and_saturate() {
        assert_eq!(nanos(Duration::new(1, 500_000_000)), 1_500_000_000);
        assert_eq!(nanos(Duration::from_nanos(u64::MAX)), u64::MAX);
        assert_eq!(nanos(Duration::from_nanos(u64::MAX) + MS), u64::MAX);
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }

    fn samples(latency: Latency, n: usize) -> Vec<f64> {
        let mut d = Seeded::new(3);
        (0..n)
            .map(|_| latency.sample(&mut d).as_nanos() as f64)
            .collect()
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = LinkConfig::default();
        assert_eq!(config.latency, Latency::Fixed(MS));
        assert_eq!(config.jitter, Duration::ZERO);
        assert_eq!(config.loss_probability, 0.0);
        assert_eq!(config.bandwidth_bits_per_sec, None);
        assert_eq!(config.queue_capacity_bytes, 65_536);
        assert_eq!(config.mtu, 65_507);
        assert!(config.enabled);
        config.validate().unwrap();
    }

    #[test]
    fn fixed_latency_is_exact_and_consumes_nothing() {
        let mut d = Seeded::new(1);
        let latency = Latency::from(Duration::from_micros(250));
        for _ in 0..10 {
            assert_eq!(latency.sample(&mut d), Duration::from_micros(250));
        }
        assert_eq!(d.consumed(), 0);
    }

    #[test]
    fn uniform_latency_stays_in_range_and_covers_it() {
        let xs = samples(
            Latency::Uniform {
                min: 2 * MS,
                max: 4 * MS,
            },
            50_000,
        );
        let (lo, hi) = (2e6, 4e6);
        assert!(xs.iter().all(|&x| (lo..=hi).contains(&x)));
        assert!(xs.iter().any(|&x| x < lo + 2e4) && xs.iter().any(|&x| x > hi - 2e4));
        assert!((mean(&xs) - 3e6).abs() < 1e4, "mean {}", mean(&xs));
    }

    #[test]
    fn pareto_latency_respects_bounds_and_moments() {
        let (min, shape, max) = (1e6_f64, 1.5_f64, 50e6_f64);
        let xs = samples(
            Latency::Pareto {
                min: MS,
                shape,
                max: 50 * MS,
            },
            200_000,
        );
        assert!(xs.iter().all(|&x| (min..=max).contains(&x)));
        // Moments of min(X, max) for X ~ Pareto(min, shape):
        // E[Y] = min + min^a (max^(1-a) - min^(1-a)) / (1-a)
        // E[Y^2] = min^2 + 2 min^a (max^(2-a) - min^(2-a)) / (2-a)
        let a = shape;
        let m1 = min + min.powf(a) * (max.powf(1.0 - a) - min.powf(1.0 - a)) / (1.0 - a);
        let m2 =
            min * min + 2.0 * min.powf(a) * (max.powf(2.0 - a) - min.powf(2.0 - a)) / (2.0 - a);
        let got_m1 = mean(&xs);
        let got_m2 = xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64;
        assert!((got_m1 / m1 - 1.0).abs() < 0.02, "mean {got_m1} vs {m1}");
        assert!((got_m2 / m2 - 1.0).abs() < 0.05, "E[x^2] {got_m2} vs {m2}");
        // Heavy tail: some samples hit the cap, the median stays near min.
        assert!(xs.contains(&max));
        let below_2min = xs.iter().filter(|&&x| x < 2.0 * min).count() as f64 / xs.len() as f64;
        assert!((below_2min - (1.0 - 0.5_f64.powf(a))).abs() < 0.01);
    }

    #[test]
    fn normal_latency_has_its_mean_and_deviation() {
        let xs = samples(
            Latency::Normal {
                mean: 10 * MS,
                std_dev: MS,
            },
            100_000,
        );
        let m = mean(&xs);
        let sd = (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!((m - 10e6).abs() < 2e4, "mean {m}");
        assert!((sd - 1e6).abs() < 2e4, "std_dev {sd}");
    }

    #[test]
    fn serialization_delay_is_exact() {
        let config = LinkConfig::default().bandwidth_bits_per_sec(Some(8_000_000));
        assert_eq!(config.serialization_delay(1000), MS);
        // 1 byte at 3 bit/s is 8/3 s, rounded up to whole nanoseconds.
        let slow = LinkConfig::default().bandwidth_bits_per_sec(Some(3));
        assert_eq!(
            slow.serialization_delay(1),
            Duration::from_nanos(2_666_666_667)
        );
        assert_eq!(
            LinkConfig::default().serialization_delay(1000),
            Duration::ZERO
        );
    }

    #[test]
    fn validate_names_field_and_value() {
        let cases = [
            (
                LinkConfig::default().loss_probability(1.5),
                "loss_probability must be within 0..=1, got 1.5",
            ),
            (
                LinkConfig::default().duplicate_probability(-0.1),
                "duplicate_probability must be within 0..=1, got -0.1",
            ),
            (
                LinkConfig::default().corrupt_probability(f64::NAN),
                "corrupt_probability must be within 0..=1, got NaN",
            ),
            (
                LinkConfig::default().bandwidth_bits_per_sec(Some(0)),
                "bandwidth_bits_per_sec must be positive, got 0",
            ),
            (
                LinkConfig::default().mtu(0),
                "mtu must be within 1..=65507 bytes, got 0",
            ),
            (LinkConfig::default().mtu(70_000), "got 70000"),
            (
                LinkConfig::default().latency(Latency::Uniform {
                    min: 5 * MS,
                    max: 2 * MS,
                }),
                "uniform min 5ms exceeds max 2ms",
            ),
            (
                LinkConfig::default().latency(Latency::Pareto {
                    min: MS,
                    shape: 0.0,
                    max: 2 * MS,
                }),
                "pareto shape must be a positive number, got 0",
            ),
            (
                LinkConfig::default().latency(Latency::Pareto {
                    min: Duration::ZERO,
                    shape: 1.0,
                    max: 2 * MS,
                }),
                "pareto min must be positive",
            ),
            (
                LinkConfig::default().jitter(Duration::MAX),
                "jitter must be below 584 years",
            ),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(expected), "{err} vs {expected}");
        }
    }

    #[test]
    fn corrupt_flips_exactly_one_bit_deterministically() {
        let original = [0u8; 64];
        let mut a = original;
        let mut b = original;
        let bit = corrupt(&mut a, &mut Seeded::new(5)).unwrap();
        assert_eq!(corrupt(&mut b, &mut Seeded::new(5)), Some(bit));
        assert_eq!(a, b);
        let flipped: u32 = a.iter().map(|byte| byte.count_ones()).sum();
        assert_eq!(flipped, 1);
        assert_eq!(a[bit / 8], 1 << (bit % 8));

        let mut d = Seeded::new(5);
        assert_eq!(corrupt(&mut [], &mut d), None);
        assert_eq!(d.consumed(), 0);
    }

    #[test]
    fn sampling_never_panics_on_unvalidated_configs() {
        bolero::check!()
            .with_type::<(u64, u64, f64, u8, u64)>()
            .for_each(|&(a, b, shape, kind, seed)| {
                let (a, b) = (Duration::from_nanos(a), Duration::from_nanos(b));
                let latency = match kind % 4 {
                    0 => Latency::Fixed(a),
                    1 => Latency::Uniform { min: a, max: b },
                    2 => Latency::Pareto {
                        min: a,
                        shape,
                        max: b,
                    },
                    _ => Latency::Normal {
                        mean: a,
                        std_dev: b,
                    },
                };
                let config = LinkConfig::default().latency(latency).jitter(b);
                config.sample_delay_nanos(&mut Seeded::new(seed));
            });
    }
}
