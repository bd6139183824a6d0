//! Fuzz target `token_codec`: the `user_data` codec (src/driver/token.rs).
//!
//! Each 12 bytes of input give a raw `u64` and a (slot, generation) pair. Checked:
//!
//! - `decode` is total and exact: the three sentinels decode to themselves, any other
//!   value whose low 32 bits are `>= MAX_SLOTS` is `Unknown(itself)`, and everything
//!   else is `Op { slot: low 32 bits, generation: high 32 bits }` and re-encodes to the
//!   same value;
//! - `encode` of any slot below `MAX_SLOTS` round-trips through `decode` and never
//!   produces a sentinel or an `Unknown`;
//! - no sentinel ever decodes as an op.
//!
//! Run: `cargo +nightly fuzz run token_codec fuzz/seeds/token_codec -- -max_total_time=30`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringloop::__fuzz::{CANCEL, MAX_SLOTS, TIMEOUT, Token, WAKE, decode, encode};

fuzz_target!(|data: &[u8]| {
    for sentinel in [WAKE, TIMEOUT, CANCEL] {
        assert!(
            !matches!(decode(sentinel), Token::Op { .. }),
            "sentinel {sentinel:#x} decodes as an op"
        );
    }
    for chunk in data.chunks(12) {
        let mut buf = [0u8; 12];
        buf[..chunk.len()].copy_from_slice(chunk);
        let raw = u64::from_le_bytes(buf[..8].try_into().unwrap());
        check_raw(raw);
        // The same bits read as a slot and a generation.
        let slot = u32::from_le_bytes(buf[8..12].try_into().unwrap());
        let generation = (raw >> 16) as u32;
        check_pair(slot % MAX_SLOTS, generation);
        // Slots at the very top of the range, where the sentinels live.
        check_pair(MAX_SLOTS - 1 - (slot & 0xff), generation);
        check_raw(raw | 0xFFFF_FF00);
    }
});

fn check_raw(raw: u64) {
    let got = decode(raw);
    let low = raw as u32;
    let want = match raw {
        WAKE => Token::Wake,
        TIMEOUT => Token::Timeout,
        CANCEL => Token::Cancel,
        _ if low >= MAX_SLOTS => Token::Unknown(raw),
        _ => Token::Op {
            slot: low,
            generation: (raw >> 32) as u32,
        },
    };
    assert_eq!(got, want, "decode({raw:#x})");
    if let Token::Op { slot, generation } = got {
        assert_eq!(encode(slot, generation), raw, "re-encode of {raw:#x}");
    }
}

fn check_pair(slot: u32, generation: u32) {
    let t = encode(slot, generation);
    assert!(
        t != WAKE && t != TIMEOUT && t != CANCEL,
        "op token {t:#x} is a sentinel"
    );
    assert_eq!(
        decode(t),
        Token::Op { slot, generation },
        "round trip of ({slot}, {generation})"
    );
}
