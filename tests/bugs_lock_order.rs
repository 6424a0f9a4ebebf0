//! Lock-order inversion: transfers that lock the source account, then the
//! destination, deadlock when two run in opposite directions.
//!
//! Two tellers move money between three accounts, each guarded by its
//! own `bach::sync::Mutex`. The buggy transfer locks the account it debits
//! first and the one it credits second, so a transfer from `a` to `b`
//! holding `a` and one from `b` to `a` holding `b` wait for each other
//! forever; the simulation reports the deadlock with its wait-for cycle.
//! The fixed transfer locks the two accounts in one global order (by
//! account number), whichever way the money goes.
//!
//! Ordinary runs never deadlock: a teller that finds both locks free takes
//! them without yielding in between. Only the searches that reorder tasks
//! at the locks can find it.

mod bug_corpus;

use bach::{check::Explorer, ext::*, sync::Mutex, Simulation};
use bug_corpus::{Corpus, Search, Version};
use std::rc::Rc;

type Accounts = Rc<[Mutex<i64>; 3]>;

/// Moves `amount` from account `from` to account `to`.
async fn transfer(accounts: &Accounts, from: usize, to: usize, amount: i64, ordered: bool) {
    // The fix: the lower-numbered account first, whichever way money goes.
    let first = if ordered { from.min(to) } else { from };
    let second = from + to - first;
    let mut held_first = accounts[first].lock().await;
    let mut held_second = accounts[second].lock().await;
    let (debit, credit) = if first == from {
        (&mut *held_first, &mut *held_second)
    } else {
        (&mut *held_second, &mut *held_first)
    };
    *debit -= amount;
    *credit += amount;
}

/// Two tellers make two transfers each; an auditor checks the total later.
fn tellers(ordered: bool) {
    let accounts: Accounts = Rc::new([Mutex::new(100), Mutex::new(100), Mutex::new(100)]);
    let work: [(&str, &[(usize, usize)]); 2] = [
        ("payroll", &[(0, 1), (0, 2)]),
        ("refunds", &[(2, 1), (1, 0)]),
    ];
    for (teller, transfers) in work {
        let accounts = accounts.clone();
        async move {
            for &(from, to) in transfers {
                transfer(&accounts, from, to, 10, ordered).await;
            }
        }
        .primary()
        .spawn_named(teller);
    }
    async move {
        1.s().sleep().await;
        let mut total = 0;
        for account in accounts.iter() {
            total += *account.lock().await;
        }
        assert_eq!(total, 300, "money was created or destroyed");
    }
    .primary()
    .spawn_named("auditor");
}

fn buggy(sim: &mut Simulation) {
    sim.enter(|| tellers(false));
}

fn fixed(sim: &mut Simulation) {
    sim.enter(|| tellers(true));
}

#[test]
fn lock_order_inversion_is_found_and_the_fix_passes() {
    let corpus = Corpus::new("bugs_lock_order", "lock-order inversion: deadlock")
        .model_checking("depth first", Explorer::model_checking)
        .note(
            &[Search::Sweep],
            "A plain run never yields at a free mutex, so no seed lets a transfer lock \
             between the other's two locks",
        );
    corpus.search(Version::Buggy, buggy).assert_found_by(
        &[
            Search::Random,
            Search::Pct2,
            Search::Dfs,
            Search::DelayBounded,
            Search::Bolero,
        ],
        "deadlock",
    );
    corpus.search(Version::Fixed, fixed).assert_none_failed();
}
