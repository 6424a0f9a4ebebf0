//! Depth-first enumeration of the choice tree
//! ([`Strategy::Dfs`](crate::check::Strategy::Dfs)): the stack of choices
//! made, each execution replaying a prefix and changing its last choice.
//! The checkpointed search resumes it mid-path, and `run_from` starts it
//! below a fixed path.

use super::Scheduler;

#[derive(Clone, Copy, Debug)]
struct Frame {
    chosen: u64,
    options: u64,
}

/// Depth-first enumeration of the whole choice tree (stateless: each
/// execution replays the prefix to the next unexplored branch). Random
/// words come from one fixed seed, so only discrete choices branch.
pub(crate) struct Dfs {
    seed: u64,
    stack: Vec<Frame>,
    cursor: usize,
    /// Frames replayed from earlier executions (the last one is the branch
    /// this execution takes).
    prefix: usize,
    /// Frames that are never backtracked (a fixed starting path).
    floor: usize,
    started: bool,
}

impl Dfs {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            stack: Vec::new(),
            cursor: 0,
            prefix: 0,
            floor: 0,
            started: false,
        }
    }

    /// Depth-first search below a fixed path: `prefix` (`(chosen,
    /// options)` per choice) is replayed by every execution, never varied.
    pub(crate) fn below(seed: u64, prefix: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let stack: Vec<Frame> = prefix
            .into_iter()
            .map(|(chosen, options)| Frame { chosen, options })
            .collect();
        Self {
            seed,
            floor: stack.len(),
            stack,
            cursor: 0,
            prefix: 0,
            started: false,
        }
    }
}

impl Dfs {
    /// How many choices the current execution replays: the choice at
    /// `prefix() - 1` is the one [`Scheduler::next_execution`] changed.
    pub(crate) fn prefix(&self) -> usize {
        self.prefix
    }

    /// How many choices the current execution has made.
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// Continues the current execution from a saved state that had made
    /// `cursor` choices of its prefix.
    pub(crate) fn resume_at(&mut self, cursor: usize) {
        debug_assert!(cursor < self.prefix.max(1));
        self.cursor = cursor;
    }
}

impl Scheduler for Dfs {
    fn next_execution(&mut self) -> bool {
        self.cursor = 0;
        if !self.started {
            self.started = true;
            self.prefix = self.floor;
            return true;
        }
        while self.stack.len() > self.floor {
            let frame = self.stack.last_mut().expect("above the floor");
            if frame.chosen + 1 < frame.options {
                frame.chosen += 1;
                self.prefix = self.stack.len();
                return true;
            }
            self.stack.pop();
        }
        false
    }

    fn choose(&mut self, options: usize) -> usize {
        let options = options as u64;
        let at = self.cursor;
        self.cursor += 1;
        match self.stack.get(at) {
            Some(frame) => {
                assert_eq!(
                    frame.options, options,
                    "depth-first exploration replayed a prefix and reached a choice among {options} \
                     where the earlier execution had {} options: the body is nondeterministic \
                     (see Simulation::check_determinism)",
                    frame.options
                );
                frame.chosen as usize
            }
            None => {
                self.stack.push(Frame { chosen: 0, options });
                0
            }
        }
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Dfs draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.cursor < self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `dfs` over a fixed tree shape: `shape[i]` options at depth i.
    fn leaves(shape: &[usize]) -> Vec<Vec<usize>> {
        let mut dfs = Dfs::new(0);
        let mut seen = Vec::new();
        while dfs.next_execution() {
            seen.push(shape.iter().map(|&n| dfs.choose(n)).collect());
        }
        seen
    }

    #[test]
    fn dfs_enumerates_every_leaf_once_in_order() {
        let seen = leaves(&[2, 3]);
        assert_eq!(
            seen,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
    }

    #[test]
    fn dfs_handles_trees_whose_shape_depends_on_choices() {
        let mut dfs = Dfs::new(0);
        let mut seen = Vec::new();
        while dfs.next_execution() {
            let first = dfs.choose(2);
            let path = if first == 0 {
                vec![first, dfs.choose(3)]
            } else {
                vec![first]
            };
            seen.push(path);
        }
        assert_eq!(seen, vec![vec![0, 0], vec![0, 1], vec![0, 2], vec![1]]);
    }
}
