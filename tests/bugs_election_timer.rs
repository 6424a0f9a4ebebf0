//! An election-timer bug: a candidate that hears the new leader steps down
//! but keeps its candidacy's short retry timer, and starts a needless
//! election that deposes a healthy leader.
//!
//! Three nodes elect a leader Raft-style (votes only, no log): a follower
//! that hears nothing for 150–169 ms stands as a candidate for the next
//! term; a candidate whose vote is split retries after 20–39 ms; a leader
//! sends heartbeats every 50 ms, which reset followers' timers. When two
//! nodes stand at nearly the same instant one of them wins, and the other
//! steps down on the winner's first heartbeat. The buggy candidate steps
//! down without resetting its timer: its retry timer fires before the next
//! heartbeat and it stands again, for a higher term, deposing the leader
//! of a healthy cluster. The invariant: once a leader is elected, nobody
//! stands for election (no node fails, no packet is lost). The fixed
//! candidate resets its election timer when it hears the leader, as a
//! follower does.
//!
//! Timeouts are drawn with `bach::rand::choose`, so the systematic
//! searches enumerate them. Model checking does not apply: its network is
//! asynchronous (a heartbeat may arrive after any timer), so even the
//! fixed cluster sees elections there; the property needs heartbeats that
//! arrive on time.

mod bug_corpus;

use bach::{
    check,
    ext::*,
    process::{Context, Message, Process},
    Simulation,
};
use bug_corpus::{Corpus, Search, Version};
use std::{cell::RefCell, rc::Rc, time::Duration};

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const HEARTBEAT: Duration = Duration::from_millis(50);

/// What the cluster did, as the invariant sees it.
#[derive(Default)]
struct Observed {
    /// The first leader and its term.
    leader: Option<(String, u64)>,
    /// Elections started after that: who, for which term.
    needless_elections: Vec<(String, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

struct Node {
    term: u64,
    role: Role,
    voted_for: Option<String>,
    votes: usize,
    /// The fix: a candidate that hears the leader resets its timer.
    reset_on_stepping_down: bool,
    observed: Rc<RefCell<Observed>>,
}

impl Node {
    fn new(reset_on_stepping_down: bool, observed: Rc<RefCell<Observed>>) -> Self {
        Self {
            term: 0,
            role: Role::Follower,
            voted_for: None,
            votes: 0,
            reset_on_stepping_down,
            observed,
        }
    }

    /// Arms the follower's election timeout: 150–169 ms.
    fn follow(ctx: &mut Context) {
        let timeout = 150 + bach::rand::choose(20) as u64;
        ctx.set_timer("election", Duration::from_millis(timeout));
    }

    fn peers(ctx: &Context) -> impl Iterator<Item = &'static str> + '_ {
        NODES.into_iter().filter(move |node| *node != ctx.name())
    }

    /// Adopts a newer term as a follower.
    fn adopt(&mut self, term: u64, ctx: &mut Context) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            if self.role != Role::Follower {
                self.role = Role::Follower;
                ctx.cancel_timer("heartbeat");
                Self::follow(ctx);
            }
        }
    }

    fn stand(&mut self, ctx: &mut Context) {
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(ctx.name().to_string());
        self.votes = 1;
        {
            let mut observed = self.observed.borrow_mut();
            if observed.leader.is_some() {
                observed
                    .needless_elections
                    .push((ctx.name().to_string(), self.term));
            }
        }
        for peer in Self::peers(ctx).collect::<Vec<_>>() {
            ctx.send(Message::new("REQUEST_VOTE", self.term.to_string()), peer);
        }
        // A split vote is retried soon: 20–39 ms.
        let retry = 20 + bach::rand::choose(20) as u64;
        ctx.set_timer("election", Duration::from_millis(retry));
    }

    fn lead(&mut self, ctx: &mut Context) {
        self.role = Role::Leader;
        ctx.cancel_timer("election");
        self.observed
            .borrow_mut()
            .leader
            .get_or_insert((ctx.name().to_string(), self.term));
        self.heartbeat(ctx);
    }

    fn heartbeat(&self, ctx: &mut Context) {
        for peer in Self::peers(ctx).collect::<Vec<_>>() {
            ctx.send(Message::new("HEARTBEAT", self.term.to_string()), peer);
        }
        ctx.set_timer("heartbeat", HEARTBEAT);
    }
}

impl Process for Node {
    fn on_start(&mut self, ctx: &mut Context) {
        Self::follow(ctx);
    }

    fn on_message(&mut self, msg: Message, from: &str, ctx: &mut Context) {
        let term: u64 = msg.data().parse().expect("a term");
        self.adopt(term, ctx);
        match msg.tip() {
            "REQUEST_VOTE" => {
                let grant = term == self.term
                    && self.voted_for.as_deref().is_none_or(|voted| voted == from);
                if grant {
                    self.voted_for = Some(from.to_string());
                    Self::follow(ctx);
                }
                let vote = if grant { "VOTE" } else { "NO_VOTE" };
                ctx.send(Message::new(vote, self.term.to_string()), from);
            }
            "VOTE" if self.role == Role::Candidate && term == self.term => {
                self.votes += 1;
                if self.votes * 2 > NODES.len() {
                    self.lead(ctx);
                }
            }
            "HEARTBEAT" if term == self.term => match self.role {
                Role::Follower => Self::follow(ctx),
                Role::Candidate => {
                    self.role = Role::Follower;
                    // The bug: without this the candidacy's retry timer
                    // stays armed.
                    if self.reset_on_stepping_down {
                        Self::follow(ctx);
                    }
                }
                Role::Leader => {}
            },
            _ => {}
        }
    }

    fn on_timer(&mut self, name: &str, ctx: &mut Context) {
        match (name, self.role) {
            ("election", Role::Follower | Role::Candidate) => self.stand(ctx),
            ("heartbeat", Role::Leader) => self.heartbeat(ctx),
            _ => {}
        }
    }

    fn state(&self) -> Option<String> {
        Some(format!(
            "{:?} term {} voted {:?} votes {}",
            self.role, self.term, self.voted_for, self.votes
        ))
    }
}

/// The cluster, watched for 600 ms of simulated time.
fn cluster(sim: &mut Simulation, reset_on_stepping_down: bool) {
    let observed = Rc::new(RefCell::new(Observed::default()));
    for node in NODES {
        sim.add_process(
            node,
            node,
            Node::new(reset_on_stepping_down, observed.clone()),
        );
    }
    sim.enter(|| {
        check::invariant(
            "once a leader is elected nobody stands for election",
            move || observed.borrow().needless_elections.is_empty(),
        );
        async { 600.ms().sleep().await }
            .primary()
            .spawn_named("observer");
    });
}

fn buggy(sim: &mut Simulation) {
    cluster(sim, false);
}

fn fixed(sim: &mut Simulation) {
    cluster(sim, true);
}

#[test]
fn candidate_keeping_its_timer_is_found_and_the_fix_passes() {
    let corpus = Corpus::new(
        "bugs_election_timer",
        "election timer not reset by a leader",
    )
    .not_applicable(
        Search::ModelChecking,
        "The model checker's asynchronous network lets a timer fire before a heartbeat \
         sent earlier lands, so the fixed cluster fails too (delay-bounded model checking \
         finds it in 5 steps)",
    )
    .note(
        &[Search::Dfs],
        "Depth first varies the last choices first: the nodes' first timeouts, drawn \
         first, keep their default (all equal) through the budget",
    );
    corpus.search(Version::Buggy, buggy).assert_found_by(
        &[Search::Sweep, Search::Random, Search::Bolero],
        "nobody stands for election",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
