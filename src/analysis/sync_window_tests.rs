//! Issue 14: `spec.syncWindows` evaluated as ESO does. The boundary cases are ESO's own
//! (`syncwindow_test.go`: a daily 22:00 UTC schedule with a 2h duration), plus the near misses a
//! user meets: a window that just opened or just closed, a schedule read in local time, deny
//! windows that chain, day-of-month / day-of-week OR semantics.

use super::*;
use crate::model::eso::SyncWindow;

fn at(s: &str) -> Timestamp {
    match s.parse() {
        Ok(t) => t,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn windows(kind: &str, entries: &[(&str, &str)]) -> SyncWindows {
    SyncWindows {
        kind: kind.into(),
        windows: entries
            .iter()
            .map(|(s, d)| SyncWindow {
                schedule: s.to_string(),
                duration: d.to_string(),
            })
            .collect(),
    }
}

fn allowed(sw: &SyncWindows, now: &str) -> bool {
    match evaluate(Some(sw), at(now)) {
        Some(v) => v.allowed,
        None => true,
    }
}

const NIGHTLY: (&str, &str) = ("0 22 * * *", "2h");

#[test]
fn issue14_window_boundaries_are_inclusive_at_both_ends() {
    let sw = windows("allow", &[NIGHTLY]);
    assert!(allowed(&sw, "2026-06-01T22:00:00Z"), "at open");
    assert!(allowed(&sw, "2026-06-01T22:30:00Z"), "inside");
    assert!(allowed(&sw, "2026-06-02T00:00:00Z"), "at close");
    assert!(
        !allowed(&sw, "2026-06-02T00:00:01Z"),
        "one second past close"
    );
    assert!(
        !allowed(&sw, "2026-06-01T21:59:59Z"),
        "one second before open"
    );
    assert!(!allowed(&sw, "2026-06-01T21:00:00Z"), "an hour before open");
    assert!(!allowed(&sw, "2026-06-02T03:00:00Z"), "between occurrences");
    assert!(
        allowed(&sw, "2026-06-02T22:30:00Z"),
        "next day's occurrence"
    );
}

#[test]
fn issue14_allow_and_deny_and_the_permissive_defaults() {
    let inside = "2026-06-01T23:00:00Z";
    let outside = "2026-06-01T20:00:00Z";
    assert!(evaluate(None, at(inside)).is_none());
    assert!(evaluate(Some(&windows("allow", &[])), at(inside)).is_none());
    assert!(allowed(&windows("allow", &[NIGHTLY]), inside));
    assert!(!allowed(&windows("allow", &[NIGHTLY]), outside));
    assert!(!allowed(&windows("deny", &[NIGHTLY]), inside));
    assert!(allowed(&windows("deny", &[NIGHTLY]), outside));
    // An unknown kind permits, like ESO.
    assert!(allowed(&windows("sometimes", &[NIGHTLY]), inside));
}

#[test]
fn issue14_an_unparsable_schedule_is_never_active_and_is_reported() {
    let bad = ("not-a-cron", "2h");
    let inside = "2026-06-01T23:00:00Z";
    let v = evaluate(Some(&windows("allow", &[bad])), at(inside));
    assert_eq!(v.as_ref().map(|v| v.allowed), Some(false));
    assert_eq!(v.map(|v| v.invalid.len()), Some(1));
    assert!(allowed(&windows("deny", &[bad]), inside));
    assert!(allowed(&windows("allow", &[bad, NIGHTLY]), inside));
    assert!(!allowed(
        &windows("allow", &[("0 22 * * *", "soon")]),
        inside
    ));
}

#[test]
fn issue14_closed_allow_window_says_when_it_reopens() {
    let v = evaluate(
        Some(&windows("allow", &[NIGHTLY])),
        at("2026-06-02T00:00:01Z"),
    );
    assert_eq!(v.and_then(|v| v.reopens), Some(at("2026-06-02T22:00:00Z")));
    // Two windows: the earlier next firing wins.
    let v = evaluate(
        Some(&windows("allow", &[NIGHTLY, ("30 6 * * *", "1h")])),
        at("2026-06-02T03:00:00Z"),
    );
    assert_eq!(v.and_then(|v| v.reopens), Some(at("2026-06-02T06:30:00Z")));
}

#[test]
fn issue14_open_deny_window_says_when_it_ends_even_when_windows_chain() {
    let v = evaluate(
        Some(&windows("deny", &[NIGHTLY])),
        at("2026-06-01T23:00:00Z"),
    );
    assert_eq!(v.and_then(|v| v.reopens), Some(at("2026-06-02T00:00:01Z")));
    // 22:00+2h, then 23:30+3h: refreshes resume after 02:30 the next day.
    let v = evaluate(
        Some(&windows("deny", &[NIGHTLY, ("30 23 * * *", "3h")])),
        at("2026-06-01T22:10:00Z"),
    );
    assert_eq!(v.and_then(|v| v.reopens), Some(at("2026-06-02T02:30:01Z")));
}

#[test]
fn issue14_schedules_are_utc_not_local_time() {
    // 22:30 in Berlin (summer, UTC+2) is 20:30 UTC: outside a 22:00 UTC window.
    let sw = windows("allow", &[NIGHTLY]);
    assert!(!allowed(&sw, "2026-06-01T22:30:00+02:00"));
    // 00:30 in Berlin the next day is 22:30 UTC: inside.
    assert!(allowed(&sw, "2026-06-02T00:30:00+02:00"));
}

#[test]
fn issue14_weekday_ranges_and_day_of_month_or_day_of_week() {
    // Weekdays at 22:00: 2026-06-06 is a Saturday.
    let weekdays = windows("allow", &[("0 22 * * 1-5", "1h")]);
    assert!(allowed(&weekdays, "2026-06-05T22:30:00Z"), "Friday");
    assert!(!allowed(&weekdays, "2026-06-06T22:30:00Z"), "Saturday");
    let names = windows("allow", &[("0 22 * * MON-FRI", "1h")]);
    assert!(!allowed(&names, "2026-06-07T22:30:00Z"), "Sunday");
    // Both day fields restricted: robfig ORs them (the 1st, or any Sunday).
    let either = windows("allow", &[("0 0 1 * 0", "1h")]);
    assert!(
        allowed(&either, "2026-06-07T00:30:00Z"),
        "a Sunday, not the 1st"
    );
    assert!(
        allowed(&either, "2026-07-01T00:30:00Z"),
        "the 1st, a Wednesday"
    );
    assert!(!allowed(&either, "2026-06-08T00:30:00Z"), "neither");
    // Steps and lists.
    let steps = windows("allow", &[("*/15 9,17 * * *", "5m")]);
    assert!(allowed(&steps, "2026-06-08T17:49:00Z"));
    assert!(!allowed(&steps, "2026-06-08T17:51:00Z"));
    assert!(!allowed(&steps, "2026-06-08T12:00:00Z"));
}

#[test]
fn issue14_descriptors_and_every() {
    let daily = windows("allow", &[("@daily", "30m")]);
    assert!(allowed(&daily, "2026-06-08T00:29:00Z"));
    assert!(!allowed(&daily, "2026-06-08T00:31:00Z"));
    // @every fires a constant delay apart: always within the window when the delay fits in it.
    assert!(allowed(
        &windows("allow", &[("@every 1h", "1h")]),
        "2026-06-08T12:34:00Z"
    ));
    assert!(!allowed(
        &windows("allow", &[("@every 2h", "1h")]),
        "2026-06-08T12:34:00Z"
    ));
    assert!(!allowed(
        &windows("allow", &[("@sometimes", "1h")]),
        "2026-06-08T12:34:00Z"
    ));
}

#[test]
fn issue14_malformed_fields_are_rejected_not_panicked_on() {
    for bad in [
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "*/0 * * * *",
        "5-1 * * * *",
        "* * * *",
        "a b c d e",
        "",
    ] {
        assert!(Schedule::parse(bad).is_err(), "{bad:?} should not parse");
    }
    assert!(Schedule::parse("0 0 29 2 *").is_ok());
}
