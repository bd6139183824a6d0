//! A producer and a consumer joined by a queue, with an end marker.
//!
//! The producer draws numbers until it draws the stop number, putting each one on a
//! [`ringloop::sync::Queue`] after a short pause that stands in for slow input. Then it
//! puts `None` on the queue: the end marker. The consumer takes items off the queue,
//! pausing a little longer after each one (it is the slower side, so items pile up),
//! and returns when it takes the marker. The queue's items are `Option<u64>`, so the
//! marker can never be mistaken for a real item.
//!
//! The queue hands items out in the order they were put, so the consumer sees exactly
//! the producer's sequence. The pauses matter: they are where each side suspends and
//! lets the other run. With no pause at all the producer would put everything before
//! the consumer took anything, since an unbounded queue never makes `put` wait.

use std::cell::RefCell;
use std::rc::Rc;

use ringloop::sync::Queue;

use super::{Narrator, Rng};

/// The producer draws from `1..=STOP` and stops when it draws `STOP`.
pub const STOP: u64 = 16;

/// A cap on the number of items, in case the stop number is slow to come up.
pub const MAX_ITEMS: usize = 40;

/// One step of either side, in the order the steps happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The producer put this item on the queue.
    Produced(u64),
    /// The producer put the end marker on the queue.
    ProducerDone,
    /// The consumer took this item off the queue.
    Consumed(u64),
    /// The consumer took the end marker and returned.
    ConsumerDone,
}

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    /// The items the producer put, in order.
    pub produced: Vec<u64>,
    /// The items the consumer took, in order.
    pub consumed: Vec<u64>,
    /// Both sides' steps, interleaved as they happened.
    pub steps: Vec<Step>,
    /// Items still on the queue once both sides returned.
    pub left_over: usize,
}

/// Runs the producer and the consumer, with numbers and pauses drawn from `seed`.
pub fn run(seed: u64, say: &Narrator) -> Outcome {
    let steps = Rc::new(RefCell::new(Vec::new()));
    let (sides, left_over) = ringloop::run(async {
        let queue = Queue::unbounded();
        // Each side gets its own random stream, so what one draws does not depend on
        // how the two happen to interleave.
        let producer = ringloop::spawn(producer(
            queue.clone(),
            Rng::stream(seed, 1),
            steps.clone(),
            say.clone(),
        ));
        let consumer = ringloop::spawn(consumer(
            queue.clone(),
            Rng::stream(seed, 2),
            steps.clone(),
            say.clone(),
        ));
        let sides = ringloop::gather([producer, consumer]).await;
        (sides, queue.len())
    });

    // `gather` answers in argument order: the producer's list, then the consumer's.
    let mut sides = sides
        .into_iter()
        .map(|side| side.expect("neither side can fail"));
    let (Some(produced), Some(consumed)) = (sides.next(), sides.next()) else {
        unreachable!("gather returns one result per side")
    };
    let steps = steps.take();
    Outcome {
        produced,
        consumed,
        steps,
        left_over,
    }
}

async fn producer(
    queue: Queue<Option<u64>>,
    mut rng: Rng,
    steps: Rc<RefCell<Vec<Step>>>,
    say: Narrator,
) -> Vec<u64> {
    let mut sent = Vec::new();
    loop {
        let number = rng.between(1, STOP);
        if number == STOP || sent.len() == MAX_ITEMS {
            break;
        }
        // Pretend the number took a moment to arrive.
        ringloop::sleep(rng.millis(0, 3)).await;
        queue
            .put(Some(number))
            .await
            .expect("nobody closes this queue");
        steps.borrow_mut().push(Step::Produced(number));
        say.say(format!("producer: put {number}"));
        sent.push(number);
    }
    queue.put(None).await.expect("nobody closes this queue");
    steps.borrow_mut().push(Step::ProducerDone);
    say.say(format!(
        "producer: drew the stop number after {} items; end marker sent",
        sent.len()
    ));
    sent
}

async fn consumer(
    queue: Queue<Option<u64>>,
    mut rng: Rng,
    steps: Rc<RefCell<Vec<Step>>>,
    say: Narrator,
) -> Vec<u64> {
    let mut received = Vec::new();
    while let Some(number) = queue.get().await.expect("nobody closes this queue") {
        steps.borrow_mut().push(Step::Consumed(number));
        say.say(format!("consumer: took {number}"));
        received.push(number);
        // Pretend handling the item takes a while (longer than producing one).
        ringloop::sleep(rng.millis(0, 6)).await;
    }
    steps.borrow_mut().push(Step::ConsumerDone);
    say.say(format!(
        "consumer: end marker reached after {} items",
        received.len()
    ));
    received
}
