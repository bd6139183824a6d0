//! The state spec's transitions, checked as pure logic (no loop, no socket).

use super::*;

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn lost_with(s: &mut ConnState, flushed: bool) -> Option<Option<i32>> {
    match s.settle(flushed) {
        Settle::Lost(error) => Some(error.map(|e| e.raw_os_error().unwrap_or(-1))),
        _ => None,
    }
}

#[test]
fn debug_decodes_the_flags() {
    let f = Flags(Flags::WRITING_PAUSED | Flags::CLOSING | Flags::DIRTY);
    assert_eq!(format!("{f:?}"), "Flags(WRITING_PAUSED | CLOSING | DIRTY)");
    assert_eq!(format!("{:?}", Flags(0)), "Flags()");
    let all = Flags::NAMES.iter().fold(0, |bits, (bit, _)| bits | bit);
    assert_eq!(
        all.count_ones() as usize,
        Flags::NAMES.len(),
        "one bit per flag"
    );
    let s = ConnState::new();
    assert_eq!(
        format!("{s:?}"),
        "ConnState { flags: Flags(), error: None, low: 16384, high: 65536 }"
    );
}

#[test]
fn a_new_connection_reads_and_writes_and_owes_nothing() {
    let mut s = ConnState::new();
    assert!(s.accepts_writes() && s.wants_read() && s.may_arm() && s.can_deliver());
    assert!(!s.is_closing() && !s.is_lost());
    assert_eq!(s.limits(), (DEFAULT_HIGH / 4, DEFAULT_HIGH));
    assert!(matches!(s.settle(true), Settle::Done));
}

#[test]
fn writing_above_the_high_mark_owes_one_pause_and_draining_resumes() {
    let mut s = ConnState::new();
    assert_eq!(
        s.wrote(DEFAULT_HIGH),
        Effect::None,
        "at the mark is not above it"
    );
    assert_eq!(s.wrote(DEFAULT_HIGH + 1), Effect::Notify);
    assert_eq!(s.wrote(DEFAULT_HIGH + 2), Effect::None, "paused once");
    assert!(matches!(s.settle(false), Settle::PauseWriting));
    assert!(matches!(s.settle(false), Settle::Done));
    assert!(!s.drained(DEFAULT_HIGH / 4 + 1), "above the low mark");
    assert!(s.drained(DEFAULT_HIGH / 4));
    assert!(!s.flags().has(Flags::WRITING_PAUSED));
    assert!(!s.drained(0), "resumed once");
}

#[test]
fn draining_before_the_pause_was_paid_drops_it() {
    let mut s = ConnState::new();
    assert_eq!(s.wrote(DEFAULT_HIGH + 1), Effect::Notify);
    assert!(
        !s.drained(0),
        "the protocol never heard of the pause: no resume either"
    );
    assert!(!s.flags().has(Flags::WRITING_PAUSED | Flags::OWE_PAUSE));
    assert!(matches!(s.settle(true), Settle::Done));
}

#[test]
fn moving_the_marks_pauses_or_owes_a_resume() {
    let mut s = ConnState::new();
    assert_eq!(s.set_limits(100, 10, 101), Effect::Notify);
    assert!(s.flags().has(Flags::WRITING_PAUSED | Flags::OWE_PAUSE));
    // The pause is still owed: lowering the buffer below the mark owes no resume.
    assert_eq!(s.set_limits(1000, 500, 101), Effect::Notify);
    assert!(!s.flags().has(Flags::OWE_RESUME));
    assert!(matches!(s.settle(false), Settle::PauseWriting));
    assert_eq!(s.set_limits(1000, 500, 101), Effect::Notify);
    assert!(matches!(s.settle(false), Settle::ResumeWriting));
    assert!(!s.flags().has(Flags::WRITING_PAUSED | Flags::OWE_RESUME));
    assert!(matches!(s.settle(false), Settle::Done));
    // Low is clamped to high.
    assert_eq!(s.set_limits(5, 50, 0), Effect::None);
    assert_eq!(s.limits(), (5, 5));
}

#[test]
fn close_stops_reading_then_loses_once_flushed() {
    let mut s = ConnState::new();
    assert_eq!(s.close(), Effect::Close);
    assert_eq!(s.close(), Effect::None, "closed once");
    assert!(s.is_closing() && !s.accepts_writes() && !s.wants_read());
    assert!(matches!(s.settle(false), Settle::Done), "still flushing");
    assert_eq!(lost_with(&mut s, true), Some(None));
    assert!(s.is_lost());
    assert!(matches!(s.settle(true), Settle::Done), "lost once");
}

#[test]
fn abort_loses_at_once_whatever_is_buffered() {
    let mut s = ConnState::new();
    assert_eq!(s.close(), Effect::Close);
    assert_eq!(s.abort(), Effect::Abort, "abort after close still drops");
    assert_eq!(s.abort(), Effect::None);
    assert_eq!(lost_with(&mut s, false), Some(None));
}

#[test]
fn once_lost_nothing_changes() {
    let mut s = ConnState::new();
    assert_eq!(s.abort(), Effect::Abort);
    assert_eq!(lost_with(&mut s, false), Some(None));
    assert_eq!(s.close(), Effect::None);
    assert_eq!(s.abort(), Effect::None);
    assert_eq!(s.pause_reading(), Effect::None);
    assert_eq!(s.resume_reading(), Effect::None);
    assert_eq!(s.set_limits(1, 0, 100), Effect::None);
    assert!(!s.take_eof());
    assert_eq!(s.sent(Ok(1)), Sent::Stop);
    s.fail(err(libc::EPIPE));
    s.panicked(io::Error::other("late"));
    assert!(matches!(s.settle(true), Settle::Done));
    assert_eq!(s.data_arrived(false), Data::Drop);
}

#[test]
fn the_first_io_error_wins_but_a_panic_replaces_it() {
    let mut s = ConnState::new();
    s.fail(err(libc::ECONNRESET));
    s.fail(err(libc::EPIPE));
    assert!(!s.accepts_writes() && !s.wants_read() && !s.is_closing());
    assert_eq!(lost_with(&mut s, false), Some(Some(libc::ECONNRESET)));

    let mut s = ConnState::new();
    assert_eq!(s.write_failed(err(libc::EPIPE)), Effect::Notify);
    s.panicked(err(libc::EIO));
    assert_eq!(s.abort(), Effect::Abort);
    assert_eq!(
        lost_with(&mut s, false),
        Some(Some(libc::EIO)),
        "the error first"
    );
}

#[test]
fn an_owed_pause_is_paid_before_a_close() {
    let mut s = ConnState::new();
    assert_eq!(s.wrote(DEFAULT_HIGH + 1), Effect::Notify);
    assert_eq!(s.close(), Effect::Close);
    assert!(matches!(s.settle(true), Settle::PauseWriting));
    assert_eq!(lost_with(&mut s, true), Some(None));
}

#[test]
fn paused_reading_holds_data_and_the_eof_behind_it() {
    let mut s = ConnState::new();
    assert_eq!(s.data_arrived(false), Data::Deliver);
    assert_eq!(s.pause_reading(), Effect::CancelRecv);
    assert_eq!(s.pause_reading(), Effect::None);
    assert!(!s.wants_read() && !s.can_deliver());
    assert_eq!(s.data_arrived(false), Data::Hold);
    assert_eq!(s.eof_arrived(true), Eof::Held);
    assert!(!s.take_held_eof(true), "paused");
    assert_eq!(s.resume_reading(), Effect::Notify);
    assert_eq!(s.resume_reading(), Effect::None);
    assert!(
        s.can_deliver() && !s.wants_read(),
        "the held end-of-file stops reading"
    );
    assert_eq!(
        s.data_arrived(true),
        Data::Drop,
        "nothing is read past the eof"
    );
    assert!(!s.take_held_eof(true), "data first");
    assert!(s.take_held_eof(false));
    assert!(!s.take_held_eof(false), "once");
    assert!(s.take_eof());
    assert!(!s.take_eof(), "eof_received once");
}

#[test]
fn held_data_keeps_later_data_behind_it() {
    let s = ConnState::new();
    assert_eq!(s.data_arrived(true), Data::Hold);
    let mut s = ConnState::new();
    assert_eq!(s.eof_arrived(true), Eof::Held);
    let mut s = ConnState::new();
    assert_eq!(s.eof_arrived(false), Eof::Deliver);
    assert!(!s.flags().has(Flags::EOF_PENDING));
}

#[test]
fn an_eof_closes_unless_kept_open() {
    let mut s = ConnState::new();
    assert!(s.take_eof());
    s.eof_answered(Some(true));
    assert!(!s.is_closing() && s.accepts_writes() && !s.wants_read());
    let mut s = ConnState::new();
    assert!(s.take_eof());
    s.eof_answered(Some(false));
    assert!(s.is_closing());
    let mut s = ConnState::new();
    assert!(s.take_eof());
    s.eof_answered(None);
    assert!(
        s.is_closing(),
        "a panicking eof_received does not keep it open"
    );
}

#[test]
fn a_completed_send_refills_unless_it_is_over() {
    let mut s = ConnState::new();
    assert_eq!(s.sent(Ok(10)), Sent::Refill);
    assert_eq!(s.sent(Err(err(libc::EAGAIN))), Sent::Refill);
    assert_eq!(s.sent(Err(err(libc::EINTR))), Sent::Refill);
    assert_eq!(s.sent(Err(err(libc::EPIPE))), Sent::Stop);
    assert_eq!(lost_with(&mut s, false), Some(Some(libc::EPIPE)));

    let mut s = ConnState::new();
    assert_eq!(s.abort(), Effect::Abort);
    assert_eq!(s.sent(Err(err(libc::ECANCELED))), Sent::Stop);
    assert_eq!(s.sent(Ok(10)), Sent::Stop);
    assert_eq!(
        lost_with(&mut s, false),
        Some(None),
        "a cancelled send is no error"
    );
}

#[test]
fn a_starved_connection_is_queued_once() {
    let mut s = ConnState::new();
    assert!(s.starve());
    assert!(!s.starve());
    assert!(s.wants_read() && !s.may_arm());
    s.fed();
    assert!(s.may_arm());
}

#[test]
fn a_connection_is_marked_dirty_once() {
    let mut s = ConnState::new();
    assert!(s.mark());
    assert!(!s.mark());
    s.unmark();
    assert!(s.mark());
}
