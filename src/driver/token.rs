//! The token codec: what goes in an SQE's `user_data` and comes back in its CQE.
//!
//! A token is `generation << 32 | slot`. Slots stay below [`MAX_SLOTS`], so the top of
//! the range is free for the driver's own sentinels, which never name a slab slot. A
//! completion is a token, never a pointer: a late, duplicated or forged one decodes to
//! a slot whose generation no longer matches, and is counted and ignored.

/// Slab slots are below this; everything from here up is reserved.
pub(crate) const MAX_SLOTS: u32 = 0xFFFF_FF00;

/// The read armed on the loop's eventfd (cross-thread wakes).
pub(crate) const WAKE: u64 = u64::MAX;
/// The timeout SQE used to bound a wait on kernels without `IORING_FEAT_EXT_ARG`.
pub(crate) const TIMEOUT: u64 = u64::MAX - 1;
/// Async-cancel requests issued by the driver itself.
pub(crate) const CANCEL: u64 = u64::MAX - 2;

/// A decoded `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// An operation in the slab.
    Op {
        slot: u32,
        generation: u32,
    },
    /// A driver-internal sentinel.
    Wake,
    Timeout,
    Cancel,
    /// Nothing ringloop ever submits (a forged or corrupted value).
    Unknown(u64),
}

pub(crate) fn encode(slot: u32, generation: u32) -> u64 {
    debug_assert!(slot < MAX_SLOTS);
    (u64::from(generation) << 32) | u64::from(slot)
}

pub(crate) fn decode(user_data: u64) -> Token {
    match user_data {
        WAKE => Token::Wake,
        TIMEOUT => Token::Timeout,
        CANCEL => Token::Cancel,
        _ => {
            let slot = user_data as u32;
            if slot >= MAX_SLOTS {
                Token::Unknown(user_data)
            } else {
                Token::Op {
                    slot,
                    generation: (user_data >> 32) as u32,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sentinels_decode_to_themselves() {
        assert_eq!(decode(WAKE), Token::Wake);
        assert_eq!(decode(TIMEOUT), Token::Timeout);
        assert_eq!(decode(CANCEL), Token::Cancel);
        assert_eq!(decode(u64::MAX - 3), Token::Unknown(u64::MAX - 3));
    }

    proptest! {
        #[test]
        fn op_tokens_round_trip(slot in 0..MAX_SLOTS, generation in any::<u32>()) {
            prop_assert_eq!(decode(encode(slot, generation)), Token::Op { slot, generation });
        }

        #[test]
        fn no_op_token_collides_with_a_sentinel(slot in 0..MAX_SLOTS, generation in any::<u32>()) {
            let t = encode(slot, generation);
            prop_assert!(t != WAKE && t != TIMEOUT && t != CANCEL);
        }
    }
}
