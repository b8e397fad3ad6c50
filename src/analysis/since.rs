//! Since when and how often something has been failing (issue 13): a person woken at 3 a.m.
//! needs "failing for 3h12m (x17)" as much as the cause, the way `kubectl describe` prints
//! `UpdateFailed 19s (x17 over 6m37s)`. Pure functions of a Ready condition, the object's Events
//! and `now`; describe-chain, doctor and scope all print what these return.
//!
//! The rules: a Ready condition that is not `True` says when the failure began (its
//! `lastTransitionTime`); without one, the first Warning Event does (`firstTimestamp`, else
//! `eventTime`). How often is the sum of the Warning Events' counts (`series.count` when the
//! Event is a series, else `count`), leaving out Events last seen before the condition turned:
//! they belong to an earlier failure. A time in the future (clock skew between the cluster and
//! this machine) counts as "0s ago", never as a negative age.

use jiff::Timestamp;

use crate::model::chain::{ConditionFacts, EventFacts};
use crate::render::age::human_duration;

/// Since when and how often one object has been failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// RFC 3339; `None` when no time was readable.
    pub since: Option<String>,
    /// Seconds from `since` to `now`, never negative.
    pub seconds: Option<i64>,
    /// How many times the failure was recorded (Warning Events); `None` when there were none.
    pub occurrences: Option<u32>,
}

impl Failing {
    /// `failing for 3h12m (x17)`, `failing for 5m`, `failed x3`; `None` when nothing is known.
    pub fn describe(&self) -> Option<String> {
        describe(self.seconds, self.occurrences)
    }
}

/// The words for a failure `seconds` old recorded `occurrences` times (see [`Failing::describe`]).
pub fn describe(seconds: Option<i64>, occurrences: Option<u32>) -> Option<String> {
    {
        let x = occurrences.map(|n| format!("x{n}"));
        match (seconds, x) {
            (Some(s), Some(x)) => Some(format!("failing for {} ({x})", human_duration(s))),
            (Some(s), None) => Some(format!("failing for {}", human_duration(s))),
            (None, Some(x)) => Some(format!("failed {x}")),
            (None, None) => None,
        }
    }
}

fn parse(t: Option<&str>) -> Option<Timestamp> {
    t.and_then(|t| t.parse::<Timestamp>().ok())
}

/// When an Event was first seen: `firstTimestamp`, else `eventTime`, else its last sighting.
fn first_seen(e: &EventFacts) -> Option<Timestamp> {
    parse(e.first_seen.as_deref()).or_else(|| parse(e.last_seen.as_deref()))
}

/// The words for a report field pair (`failingSince`, `occurrences`) at `now`.
pub fn describe_at(
    since: Option<&str>,
    occurrences: Option<u32>,
    now: Timestamp,
) -> Option<String> {
    let seconds = parse(since).map(|t| now.as_second().saturating_sub(t.as_second()).max(0));
    describe(seconds, occurrences)
}

/// Since when and how often the object with this Ready condition and these Events has been
/// failing; `None` when it is not failing by either (Ready=True, or no condition and no Warning).
pub fn failing(
    ready: Option<&ConditionFacts>,
    events: &[EventFacts],
    now: Timestamp,
) -> Option<Failing> {
    let condition_failing = ready.filter(|c| c.status != "True");
    if ready.is_some() && condition_failing.is_none() {
        return None;
    }
    let turned = condition_failing.and_then(|c| parse(c.last_transition_time.as_deref()));
    let warnings: Vec<&EventFacts> = events
        .iter()
        .filter(|e| e.type_ == "Warning")
        .filter(|e| match (turned, parse(e.last_seen.as_deref())) {
            (Some(t), Some(last)) => last >= t,
            _ => true,
        })
        .collect();
    if condition_failing.is_none() && warnings.is_empty() {
        return None;
    }
    let since = turned.or_else(|| warnings.iter().filter_map(|e| first_seen(e)).min());
    let occurrences = (!warnings.is_empty()).then(|| {
        warnings
            .iter()
            .map(|e| u32::try_from(e.count.max(1)).unwrap_or(1))
            .fold(0u32, u32::saturating_add)
    });
    Some(Failing {
        since: since.map(|t| t.to_string()),
        seconds: since.map(|t| now.as_second().saturating_sub(t.as_second()).max(0)),
        occurrences,
    })
}

/// An Event as the rules above read it, from the Kubernetes type scope and doctor list
/// (describe-chain reads the same fields from JSON in `kube::chain::extract::events`).
pub fn event_facts(ev: &k8s_openapi::api::core::v1::Event) -> EventFacts {
    let count = ev
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(ev.count)
        .unwrap_or(1);
    let first = ev
        .first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(ev.event_time.as_ref().map(|t| t.0))
        .or(ev.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let last = ev
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or(ev.last_timestamp.as_ref().map(|t| t.0))
        .or(ev.event_time.as_ref().map(|t| t.0))
        .or(first);
    EventFacts {
        type_: ev.type_.clone().unwrap_or_default(),
        reason: ev.reason.clone().unwrap_or_default(),
        message: String::new(),
        count,
        first_seen: first.map(|t| t.to_string()),
        last_seen: last.map(|t| t.to_string()),
    }
}

/// A Ready condition of the ESO types, as the rules above read it.
pub fn condition_facts(c: &crate::model::eso::Condition) -> ConditionFacts {
    ConditionFacts {
        status: c.status.clone(),
        reason: None,
        message: None,
        last_transition_time: c.last_transition_time.clone(),
    }
}

/// Since when a set of failing pods has been failing: the earliest of their start times (a pod
/// that cannot pull or start has been failing since it was started).
pub fn failing_since_started<'a>(
    started: impl Iterator<Item = Option<&'a str>>,
    now: Timestamp,
) -> Option<Failing> {
    let since = started.filter_map(parse).min()?;
    Some(Failing {
        since: Some(since.to_string()),
        seconds: Some(now.as_second().saturating_sub(since.as_second()).max(0)),
        occurrences: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-22T12:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn cond(status: &str, at: Option<&str>) -> ConditionFacts {
        ConditionFacts {
            status: status.into(),
            last_transition_time: at.map(str::to_string),
            ..ConditionFacts::default()
        }
    }

    fn warning(count: i32, first: Option<&str>, last: Option<&str>) -> EventFacts {
        EventFacts {
            type_: "Warning".into(),
            reason: "UpdateFailed".into(),
            count,
            first_seen: first.map(str::to_string),
            last_seen: last.map(str::to_string),
            ..EventFacts::default()
        }
    }

    #[test]
    fn issue_13_condition_and_events_give_since_and_count() {
        let f = failing(
            Some(&cond("False", Some("2026-11-22T08:48:00Z"))),
            &[warning(
                17,
                Some("2026-11-22T08:48:00Z"),
                Some("2026-11-22T11:59:40Z"),
            )],
            now(),
        );
        let f = f.unwrap_or_else(|| panic!("failing"));
        assert_eq!(f.seconds, Some(3 * 3600 + 12 * 60));
        assert_eq!(f.occurrences, Some(17));
        assert_eq!(
            f.describe().as_deref(),
            Some("failing for 3h12m (x17)"),
            "{f:?}"
        );
    }

    #[test]
    fn issue_13_ready_true_is_not_failing_even_with_old_warnings() {
        let old = warning(
            4,
            Some("2026-11-22T01:00:00Z"),
            Some("2026-11-22T02:00:00Z"),
        );
        assert_eq!(
            failing(
                Some(&cond("True", Some("2026-11-22T03:00:00Z"))),
                &[old],
                now()
            ),
            None
        );
        // No condition and no Warning: nothing to say.
        let normal = EventFacts {
            type_: "Normal".into(),
            count: 3,
            ..EventFacts::default()
        };
        assert_eq!(failing(None, &[normal], now()), None);
    }

    #[test]
    fn issue_13_no_events_gives_since_without_a_count() {
        let f = failing(
            Some(&cond("False", Some("2026-11-22T11:55:00Z"))),
            &[],
            now(),
        );
        let f = f.unwrap_or_else(|| panic!("failing"));
        assert_eq!(f.occurrences, None);
        assert_eq!(f.describe().as_deref(), Some("failing for 5m"));
    }

    #[test]
    fn issue_13_series_count_is_read_and_earlier_failures_are_left_out() {
        // `count` of an events.k8s.io series is filled in by extract from `series.count`;
        // two Warnings after the transition add up; one last seen before it is an older failure.
        let events = [
            warning(
                10,
                Some("2026-11-22T10:00:00Z"),
                Some("2026-11-22T11:00:00Z"),
            ),
            warning(
                2,
                Some("2026-11-22T10:30:00Z"),
                Some("2026-11-22T11:30:00Z"),
            ),
            warning(
                50,
                Some("2026-11-21T10:00:00Z"),
                Some("2026-11-21T11:00:00Z"),
            ),
        ];
        let f = failing(
            Some(&cond("False", Some("2026-11-22T10:00:00Z"))),
            &events,
            now(),
        );
        assert_eq!(f.and_then(|f| f.occurrences), Some(12));
    }

    #[test]
    fn issue_13_without_a_condition_the_first_warning_says_since_when() {
        let events = [
            warning(
                3,
                Some("2026-11-22T11:00:00Z"),
                Some("2026-11-22T11:50:00Z"),
            ),
            warning(1, None, Some("2026-11-22T10:00:00Z")),
        ];
        let f = failing(None, &events, now()).unwrap_or_else(|| panic!("failing"));
        assert_eq!(f.since.as_deref(), Some("2026-11-22T10:00:00Z"));
        assert_eq!(f.describe().as_deref(), Some("failing for 120m (x4)"));
    }

    #[test]
    fn issue_13_clock_skew_never_gives_a_negative_age() {
        let f = failing(
            Some(&cond("False", Some("2026-11-22T12:05:00Z"))),
            &[warning(
                1,
                Some("2026-11-22T12:05:00Z"),
                Some("2026-11-22T12:06:00Z"),
            )],
            now(),
        )
        .unwrap_or_else(|| panic!("failing"));
        assert_eq!(f.seconds, Some(0));
        assert_eq!(f.describe().as_deref(), Some("failing for 0s (x1)"));
    }

    #[test]
    fn issue_13_unreadable_times_keep_the_count() {
        let f = failing(
            Some(&cond("False", Some("yesterday"))),
            &[warning(5, Some("soon"), Some("later"))],
            now(),
        )
        .unwrap_or_else(|| panic!("failing"));
        assert_eq!((f.since, f.seconds, f.occurrences), (None, None, Some(5)));
    }

    #[test]
    fn issue_13_failing_pods_date_from_their_earliest_start() {
        let f = failing_since_started(
            [
                Some("2026-11-22T09:00:00Z"),
                None,
                Some("2026-11-22T08:00:00Z"),
            ]
            .into_iter(),
            now(),
        );
        assert_eq!(f.and_then(|f| f.seconds), Some(4 * 3600));
        assert_eq!(failing_since_started([None].into_iter(), now()), None);
    }
}
