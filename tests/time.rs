//! Simulated time: sleeps, deadlines, timeouts and intervals.

use bach::{
    ext::*,
    time::{self, interval, sleep, sleep_until, timeout, Instant, MissedTickBehavior},
    Simulation,
};
use futures::StreamExt;
use std::{cell::RefCell, pin::pin, rc::Rc, time::Duration};

fn at(d: Duration) -> Instant {
    Instant::from_duration(d)
}

#[test]
fn sleep_completes_exactly_at_its_deadline() {
    bach::sim(|| {
        async {
            let start = Instant::now();
            sleep(1500.ms()).await;
            assert_eq!(Instant::now(), start + 1500.ms());
            sleep(Duration::ZERO).await;
            assert_eq!(Instant::now(), start + 1500.ms());
            1.ns().sleep().await;
            assert_eq!(Instant::now(), at(1500.ms() + 1.ns()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn sleep_measures_from_creation_not_first_poll() {
    bach::sim(|| {
        async {
            let early = sleep(1.s());
            5.s().sleep().await;
            let before = Instant::now();
            early.await; // created at t=0, due at t=1: already complete
            assert_eq!(Instant::now(), before);
            assert_eq!(before, at(5.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn sleep_until_and_reset() {
    bach::sim(|| {
        async {
            sleep_until(at(2.s())).await;
            assert_eq!(Instant::now(), at(2.s()));
            // A deadline in the past completes at once.
            sleep_until(at(1.s())).await;
            assert_eq!(Instant::now(), at(2.s()));
            let mut s = pin!(sleep(10.s()));
            assert_eq!(s.deadline(), at(12.s()));
            s.as_mut().reset(at(3.s()));
            s.await;
            assert_eq!(Instant::now(), at(3.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn dropped_sleeps_cancel_their_timers() {
    let mut sim = Simulation::new();
    sim.enter(|| {
        async {
            for _ in 0..100 {
                drop(sleep(1.s()));
                let _unpolled = sleep(2.s());
            }
            // Polled once, then dropped: its timer is removed.
            let mut s = Box::pin(sleep(3.s()));
            assert!(futures::poll!(s.as_mut()).is_pending());
        }
        .spawn();
    });
    assert!(sim.step());
    assert_eq!(sim.pending_timers(), 0);
    assert!(!sim.step());
    assert_eq!(sim.elapsed(), Duration::ZERO);
}

#[test]
fn many_timers_fire_in_deadline_order_then_fifo() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    bach::sim(move || {
        // Same deadlines from different insertion times, and across levels.
        let delays = [5u64, 1, 3_600_000, 64, 5, 4096, 1, 262_144, 3];
        for (i, ms) in delays.into_iter().enumerate() {
            let o = o.clone();
            async move {
                ms.ms().sleep().await;
                o.borrow_mut().push((Instant::now(), i));
            }
            .spawn();
        }
    });
    let order = order.borrow();
    let times: Vec<_> = order
        .iter()
        .map(|(t, _)| t.elapsed_since_start().as_millis() as u64)
        .collect();
    assert_eq!(times, [1, 1, 3, 5, 5, 64, 4096, 262_144, 3_600_000]);
    let ids: Vec<_> = order.iter().map(|(_, i)| *i).collect();
    assert_eq!(ids, [1, 6, 8, 0, 4, 3, 5, 7, 2]);
}

#[test]
fn timeout_returns_the_output_when_the_future_wins() {
    bach::sim(|| {
        async {
            let result = timeout(2.s(), async {
                1.s().sleep().await;
                42
            })
            .await;
            assert_eq!(result, Ok(42));
            assert_eq!(Instant::now(), at(1.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn timeout_elapses_and_drops_the_future() {
    bach::sim(|| {
        async {
            let dropped = Rc::new(RefCell::new(false));
            struct Flag(Rc<RefCell<bool>>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    *self.0.borrow_mut() = true;
                }
            }
            let flag = Flag(dropped.clone());
            let result = timeout(2.s(), async move {
                let _flag = flag;
                10.s().sleep().await;
            })
            .await;
            let error = result.unwrap_err();
            assert_eq!(error.to_string(), "deadline has elapsed");
            assert_eq!(Instant::now(), at(2.s()));
            assert!(*dropped.borrow());
            let io: std::io::Error = error.into();
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        }
        .primary()
        .spawn();
    });
}

#[test]
fn timeout_at_the_same_instant_prefers_the_output() {
    bach::sim(|| {
        async {
            let result = time::timeout_at(at(1.s()), async { 1.s().sleep().await }).await;
            assert_eq!(result, Ok(()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn interval_ticks_on_schedule_first_tick_immediately() {
    bach::sim(|| {
        async {
            let mut ticks = interval(250.ms());
            let mut seen = Vec::new();
            for _ in 0..4 {
                seen.push(ticks.tick().await.elapsed_since_start());
            }
            assert_eq!(seen, [0.ms(), 250.ms(), 500.ms(), 750.ms()]);
            assert_eq!(Instant::now(), at(750.ms()));
            let next = ticks.next().await.unwrap();
            assert_eq!(next, at(1.s()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn interval_missed_tick_behaviours() {
    fn run(behavior: MissedTickBehavior) -> Vec<u64> {
        let out = Rc::new(RefCell::new(Vec::new()));
        let o = out.clone();
        bach::sim(move || {
            async move {
                let mut ticks = interval(100.ms());
                ticks.set_missed_tick_behavior(behavior);
                ticks.tick().await; // t = 0
                350.ms().sleep().await; // busy: misses 100, 200, 300
                for _ in 0..4 {
                    let t = ticks.tick().await;
                    o.borrow_mut().push((
                        t.elapsed_since_start().as_millis() as u64,
                        Instant::now().elapsed_since_start().as_millis() as u64,
                    ));
                }
            }
            .primary()
            .spawn();
        });
        let v = out.borrow().iter().map(|(_, now)| *now).collect();
        v
    }
    // Burst: the three missed ticks fire at once, then back on schedule.
    assert_eq!(run(MissedTickBehavior::Burst), [350, 350, 350, 400]);
    // Delay: one late tick, then every 100 ms from it.
    assert_eq!(run(MissedTickBehavior::Delay), [350, 450, 550, 650]);
    // Skip: one late tick, then the next multiple of the period.
    assert_eq!(run(MissedTickBehavior::Skip), [350, 400, 500, 600]);
}

#[test]
#[should_panic(expected = "non-zero period")]
fn interval_rejects_a_zero_period() {
    bach::sim(|| {
        let _ = interval(Duration::ZERO);
    });
}

#[test]
fn sleep_ext_and_literals() {
    bach::sim(|| {
        async {
            assert_eq!(1.s(), Duration::from_secs(1));
            assert_eq!(2.ms(), Duration::from_millis(2));
            assert_eq!(3.us(), Duration::from_micros(3));
            assert_eq!(4.ns(), Duration::from_nanos(4));
            1.us().sleep().await;
            assert_eq!(Instant::now(), at(1.us()));
        }
        .primary()
        .spawn();
    });
}

#[test]
fn hours_of_idle_simulated_time_cost_nothing() {
    let mut sim = Simulation::new();
    sim.run(|| {
        async {
            for _ in 0..1000 {
                3600.s().sleep().await;
            }
        }
        .primary()
        .spawn();
    });
    assert_eq!(sim.elapsed(), Duration::from_secs(3600 * 1000));
}

#[test]
fn instant_display_and_outside_use() {
    assert_eq!(at(1250.ms()).to_string(), "0:00:01.250000000");
    assert_eq!(format!("{:#}", at(1250.ms())), "1.25");
    assert_eq!(Instant::try_now(), None);
    bach::sim(|| assert_eq!(Instant::try_now(), Some(Instant::ZERO)));
}
