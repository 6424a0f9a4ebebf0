//! The choice source every explored execution runs on: it forwards each
//! decision to the search's [`Scheduler`] and records it, so any execution
//! can be printed as a replay token.
//!
//! The explorer's engines and the fuzzer (`check::fuzz`) install one
//! [`RecordingSource`] per simulation; the [`Recording`] it fills is what a
//! [`Failure`](super::Failure)'s token and a [`Collected`](super::Collected)
//! state hold, and what [`replay`](super::replay) reads back.

use crate::{
    check::{
        strategy::Scheduler,
        token::{Entry, Recording},
    },
    executor::TaskId,
    rand::source::ChoiceSource,
};
use rand::{Rng as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

/// Random words drawn from a seed, and how many were drawn: values the
/// search did not branch on (a `bach::rand` draw, a link's loss or latency
/// decision), which a report counts against completeness.
#[derive(Clone, Debug)]
pub(crate) struct SeededWords {
    generator: Xoshiro256PlusPlus,
    pub(crate) drawn: u64,
}

/// The words one execution left to the seed, from its source's
/// [`RecordingSource::words`].
pub(crate) fn drawn(words: &RefCell<Option<SeededWords>>) -> u64 {
    words.borrow().as_ref().map_or(0, |words| words.drawn)
}

/// A choice source that forwards to a [`Scheduler`] and records every
/// decision, so any execution can be printed as a replay token.
pub(crate) struct RecordingSource {
    scheduler: Rc<RefCell<dyn Scheduler>>,
    recording: Rc<RefCell<Recording>>,
    /// Shared with [`RecordingSource::words`], so a checkpoint can save and
    /// restore the generator's position (and its count of words).
    words: Rc<RefCell<Option<SeededWords>>>,
    /// How to describe the execution in failure messages.
    label: Rc<str>,
    /// The number of the execution, appended to `label` when not 0 (set
    /// per path when one simulation runs many, see
    /// [`RecordingSource::execution`]).
    execution: Rc<Cell<u64>>,
}

impl RecordingSource {
    pub(crate) fn new(
        scheduler: Rc<RefCell<dyn Scheduler>>,
        interleavings: bool,
        reduction: bool,
        model: Option<(crate::net::choices::BudgetCounts, bool)>,
        label: Rc<str>,
    ) -> (Self, Rc<RefCell<Recording>>) {
        let words_seed = scheduler.borrow().words_seed();
        let recording = Rc::new(RefCell::new(Recording {
            interleavings,
            reduction,
            words_seed,
            model,
            stage: None,
            enumerate_values: false,
            // Room for a typical path's choices: grown once, not step by step.
            entries: Vec::with_capacity(32),
        }));
        let source = Self {
            scheduler,
            recording: recording.clone(),
            words: Rc::new(RefCell::new(words_seed.map(|seed| SeededWords {
                generator: Xoshiro256PlusPlus::seed_from_u64(seed),
                drawn: 0,
            }))),
            label,
            execution: Rc::new(Cell::new(0)),
        };
        (source, recording)
    }

    /// The generator of this source's random words (when drawn from a
    /// seed), shared.
    pub(crate) fn words(&self) -> Rc<RefCell<Option<SeededWords>>> {
        self.words.clone()
    }

    /// The number of the execution in failure messages, shared.
    pub(crate) fn execution(&self) -> Rc<Cell<u64>> {
        self.execution.clone()
    }

    /// [`RecordingSource::new`] for a path that gets a stimulus after `stage`
    /// events (recorded in the token).
    pub(crate) fn new_staged(
        stage: Option<u32>,
        scheduler: Rc<RefCell<dyn Scheduler>>,
        interleavings: bool,
        reduction: bool,
        model: Option<(crate::net::choices::BudgetCounts, bool)>,
        label: Rc<str>,
    ) -> (Self, Rc<RefCell<Recording>>) {
        let (source, recording) = Self::new(scheduler, interleavings, reduction, model, label);
        recording.borrow_mut().stage = stage;
        (source, recording)
    }

    fn record(&self, options: usize, chosen: usize) -> usize {
        assert!(
            chosen < options,
            "the scheduler chose {chosen} among {options} options"
        );
        self.recording.borrow_mut().entries.push(Entry::Choice {
            options: options as u64,
            chosen: chosen as u64,
        });
        chosen
    }
}

impl ChoiceSource for RecordingSource {
    fn choose(&mut self, options: usize) -> usize {
        if options <= 1 {
            return 0;
        }
        let chosen = self.scheduler.borrow_mut().choose(options);
        self.record(options, chosen)
    }

    fn schedule(&mut self, tasks: &[TaskId]) -> usize {
        let chosen = self.scheduler.borrow_mut().schedule(tasks);
        self.record(tasks.len(), chosen)
    }

    fn next_u64(&mut self) -> u64 {
        if let Some(words) = self.words.borrow_mut().as_mut() {
            words.drawn += 1;
            return words.generator.next_u64();
        }
        let word = self.scheduler.borrow_mut().next_u64();
        self.recording.borrow_mut().entries.push(Entry::Word(word));
        word
    }

    fn reproduce(&self) -> String {
        let token = self.recording.borrow().token();
        match self.execution.get() {
            0 => format!("{}; rerun with BACH_REPLAY={token}", self.label),
            n => format!(
                "{}, execution {n}; rerun with BACH_REPLAY={token}",
                self.label
            ),
        }
    }
}
