//! The fault driver's backlog: completions collected from the wrapped driver (or made
//! up), not yet delivered to its slab.
//!
//! A completion may wait a few turns, and the completions due in one turn may be
//! shuffled, but the completions of one operation always leave in the order they
//! arrived: the kernel posts a multishot operation's completions in order (its data in
//! order, its final completion last), and a fault that broke that would be a fault the
//! kernel never makes.

use super::plan::Rng;
use crate::driver::slab::Completion;

/// A completion waiting for delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) token: u64,
    pub(super) completion: Completion,
    /// Turns to wait before delivery.
    pub(super) turns: u32,
}

/// Completions waiting for delivery, in the order they were queued.
///
/// # Invariant
///
/// Of two queued completions with the same token, the earlier one never waits more turns
/// than the later one, so [`take_due`](Backlog::take_due) hands them out in order.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    items: Vec<Pending>,
}

impl Backlog {
    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Queues `token`'s completion for delivery in `turns` turns, or later: never before
    /// a completion queued earlier for the same token. Returns the turns it will wait.
    pub(super) fn push(&mut self, token: u64, completion: Completion, turns: u32) -> u32 {
        let floor = self
            .items
            .iter()
            .filter(|p| p.token == token)
            .map(|p| p.turns)
            .max()
            .unwrap_or(0);
        let turns = turns.max(floor);
        self.items.push(Pending {
            token,
            completion,
            turns,
        });
        turns
    }

    /// Takes what is due now (everything when `all`), in queue order; the rest waits one
    /// turn less.
    pub(super) fn take_due(&mut self, all: bool) -> Vec<Pending> {
        let (due, mut keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.items)
            .into_iter()
            .partition(|p| all || p.turns == 0);
        for p in &mut keep {
            p.turns -= 1;
        }
        self.items = keep;
        due
    }
}

/// Shuffles `due`, keeping the completions of each token in their order: the positions a
/// token's completions land on are random, who lands where among them is not.
pub(super) fn shuffle_per_token(due: &mut [Pending], rng: &mut Rng) {
    let n = due.len();
    // `order[i]`: the index in `due` of the completion that goes to position `i`.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    // Within each token, hand its positions (in position order) to its completions (in
    // queue order).
    let mut by_token: Vec<(u64, usize)> = order.iter().map(|&k| (due[k].token, k)).collect();
    let mut positions: Vec<usize> = (0..n).collect();
    positions.sort_by_key(|&i| (by_token[i].0, i));
    let mut originals: Vec<usize> = (0..n).collect();
    originals.sort_by_key(|&k| (due[k].token, k));
    for (&pos, &orig) in positions.iter().zip(&originals) {
        by_token[pos].1 = orig;
    }
    let shuffled: Vec<Pending> = by_token.iter().map(|&(_, k)| due[k]).collect();
    due.copy_from_slice(&shuffled);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(result: i32) -> Completion {
        Completion { result, flags: 0 }
    }

    #[test]
    fn a_later_completion_never_overtakes_an_earlier_one_of_its_operation() {
        let mut backlog = Backlog::default();
        assert_eq!(backlog.push(1, c(0), 3), 3);
        assert_eq!(backlog.push(1, c(1), 0), 3, "waits behind the first");
        assert_eq!(
            backlog.push(2, c(0), 0),
            0,
            "another operation is free to pass"
        );
        assert_eq!(backlog.push(1, c(2), 5), 5);
        let mut delivered = Vec::new();
        for _ in 0..8 {
            delivered.extend(backlog.take_due(false));
        }
        assert!(backlog.is_empty());
        let ones: Vec<i32> = delivered
            .iter()
            .filter(|p| p.token == 1)
            .map(|p| p.completion.result)
            .collect();
        assert_eq!(ones, vec![0, 1, 2]);
        assert_eq!(delivered[0].token, 2);
    }

    #[test]
    fn shuffling_keeps_each_operations_order_and_loses_nothing() {
        let mut rng = Rng(5);
        let mut moved = 0;
        for round in 0..200 {
            let mut due: Vec<Pending> = (0..12)
                .map(|i| Pending {
                    token: (i * 7 + round) % 4,
                    completion: c(i as i32),
                    turns: 0,
                })
                .collect();
            let before = due.clone();
            shuffle_per_token(&mut due, &mut rng);
            moved += usize::from(due != before);
            let mut sorted = due.clone();
            sorted.sort_by_key(|p| p.completion.result);
            assert_eq!(sorted, before, "the same completions");
            for token in 0..4 {
                let seq: Vec<i32> = due
                    .iter()
                    .filter(|p| p.token == token)
                    .map(|p| p.completion.result)
                    .collect();
                assert!(seq.windows(2).all(|w| w[0] < w[1]), "{token}: {seq:?}");
            }
        }
        assert!(moved > 150, "shuffling moves things: {moved}");
    }
}
