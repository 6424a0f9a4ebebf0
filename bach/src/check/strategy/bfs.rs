//! Breadth-first search over choice prefixes
//! ([`Strategy::Bfs`](crate::check::Strategy::Bfs)): [`Bfs`] queues
//! prefixes and runs each as one [`BfsNode`], which the parallel search
//! also runs on its own, one per node of a level.

use super::Scheduler;

/// One node of a parallel breadth-first search: replays `prefix`, records
/// how many options the first new choice had (the node's children), and
/// asks to stop at the next step boundary.
pub(crate) struct BfsNode {
    seed: u64,
    prefix: Vec<u32>,
    cursor: usize,
    pub(crate) children: Option<usize>,
    started: bool,
}

impl BfsNode {
    pub(crate) fn new(seed: u64, prefix: Vec<u32>) -> Self {
        Self {
            seed,
            prefix,
            cursor: 0,
            children: None,
            started: false,
        }
    }

    /// The child prefixes: one per option of the first new choice.
    pub(crate) fn children(&self) -> impl Iterator<Item = Vec<u32>> + '_ {
        (0..self.children.unwrap_or(0) as u32).map(|option| {
            let mut child = Vec::with_capacity(self.prefix.len() + 1);
            child.extend_from_slice(&self.prefix);
            child.push(option);
            child
        })
    }
}

impl Scheduler for BfsNode {
    fn next_execution(&mut self) -> bool {
        !std::mem::replace(&mut self.started, true)
    }

    fn choose(&mut self, options: usize) -> usize {
        let at = self.cursor;
        self.cursor += 1;
        if let Some(&chosen) = self.prefix.get(at) {
            return chosen as usize;
        }
        self.children.get_or_insert(options);
        0
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("BfsNode draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.cursor < self.prefix.len()
    }

    fn stop(&self) -> bool {
        self.children.is_some()
    }
}

/// Breadth-first search over choice prefixes (stateless: only prefixes
/// are kept). Each execution is one [`BfsNode`]: it replays its prefix,
/// takes the first new choice's first option and stops at the next step
/// boundary; the node's children (one prefix per option of that choice)
/// join the queue. So executions come in order of prefix length and the
/// first violation found has a shortest choice sequence.
pub(crate) struct Bfs {
    seed: u64,
    queue: std::collections::VecDeque<Vec<u32>>,
    node: Option<BfsNode>,
}

impl Bfs {
    pub(crate) fn new(seed: u64) -> Self {
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(Vec::new());
        Self {
            seed,
            queue,
            node: None,
        }
    }

    fn node(&self) -> &BfsNode {
        self.node.as_ref().expect("an execution was started")
    }
}

impl Scheduler for Bfs {
    fn next_execution(&mut self) -> bool {
        if let Some(done) = self.node.take() {
            self.queue.extend(done.children());
        }
        match self.queue.pop_front() {
            Some(prefix) => {
                let mut node = BfsNode::new(self.seed, prefix);
                node.next_execution();
                self.node = Some(node);
                true
            }
            None => false,
        }
    }

    fn choose(&mut self, options: usize) -> usize {
        self.node
            .as_mut()
            .expect("an execution was started")
            .choose(options)
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("Bfs draws its words from words_seed")
    }

    fn words_seed(&self) -> Option<u64> {
        Some(self.seed)
    }

    fn replaying(&self) -> bool {
        self.node().replaying()
    }

    fn stop(&self) -> bool {
        self.node().stop()
    }
}
