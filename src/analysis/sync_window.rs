//! ESO's `spec.syncWindows` (ESO 2.7+), evaluated the way ESO's `isPeriodicRefreshAllowedByWindows`
//! does, so that an ExternalSecret held back by a closed window is not reported as stale or as ESO
//! failing. ESO's semantics, ported from its source and its unit tests (`syncwindow_test.go`):
//! - no `syncWindows`, or an empty `windows` list, permits every refresh; an unknown `kind` too;
//! - `allow`: periodic refreshes only while at least one window is active; `deny`: none while any
//!   window is active;
//! - a window is active from each firing of its cron `schedule` to that firing plus `duration`,
//!   both ends included (22:00 + 2h is active at 22:00:00 and 00:00:00, not at 00:00:01);
//! - schedules are robfig/cron's standard 5-field syntax or its descriptors (`@daily`,
//!   `@every 1h`), always in UTC: the CRD's pattern admits no `CRON_TZ=` prefix;
//! - an entry whose schedule does not parse is never active (so it blocks under `allow` and
//!   permits under `deny`);
//! - only *periodic* refreshes are gated: a spec or annotation change (force-sync) is not.
//!
//! Pure: `now` is a parameter.

use std::time::Duration;

use jiff::Timestamp;

use crate::analysis::duration::parse_go_duration;
use crate::model::eso::SyncWindows;

/// What the windows say about a periodic refresh at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowVerdict {
    /// `allow` or `deny`, as written.
    pub kind: String,
    /// Periodic refreshes may run now.
    pub allowed: bool,
    /// When blocked: when the next periodic refresh may run, if that can be known within five years
    /// (robfig/cron's own search limit).
    pub reopens: Option<Timestamp>,
    /// Entries ESO cannot use (schedule or duration unreadable), as `windows[i]: why`.
    pub invalid: Vec<String>,
}

/// `None` when the ExternalSecret has no windows to speak of (ESO permits every refresh then).
pub fn evaluate(windows: Option<&SyncWindows>, now: Timestamp) -> Option<WindowVerdict> {
    let sw = windows?;
    if sw.windows.is_empty() {
        return None;
    }
    let mut parsed = Vec::new();
    let mut invalid = Vec::new();
    for (i, w) in sw.windows.iter().enumerate() {
        let schedule = match Schedule::parse(&w.schedule) {
            Ok(s) => s,
            Err(e) => {
                invalid.push(format!("windows[{i}].schedule: {e}"));
                continue;
            }
        };
        match parse_go_duration(&w.duration) {
            Some(d) => parsed.push((schedule, d)),
            None => invalid.push(format!("windows[{i}].duration: not a duration")),
        }
    }
    let t = now.as_second();
    let any_active = parsed.iter().any(|(s, d)| s.active_at(t, *d));
    let (allowed, reopens) = match sw.kind.as_str() {
        "allow" if any_active => (true, None),
        "allow" => (
            false,
            parsed.iter().filter_map(|(s, _)| s.next_after(t)).min(),
        ),
        "deny" if any_active => (false, deny_ends(&parsed, t)),
        _ => (true, None),
    };
    Some(WindowVerdict {
        kind: sw.kind.clone(),
        allowed,
        reopens: reopens.and_then(|s| Timestamp::from_second(s).ok()),
        invalid,
    })
}

/// The first second at which no deny window is active any more.
fn deny_ends(windows: &[(Schedule, Duration)], mut t: i64) -> Option<i64> {
    for _ in 0..1000 {
        let end = windows
            .iter()
            .filter_map(|(s, d)| Some(s.last_at_or_before(t, *d)? + d.as_secs() as i64))
            .max()?;
        t = end + 1;
        if !windows.iter().any(|(s, d)| s.active_at(t, *d)) {
            return Some(t);
        }
    }
    None
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// robfig/cron gives up looking for the next firing after five years.
const SEARCH_LIMIT: i64 = 5 * 366 * DAY;

/// A parsed schedule: either cron fields (bit sets) or `@every`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Schedule {
    Cron(Fields),
    Every(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// robfig's star bit: a `*` or `?` day field (without a step) makes day matching an AND.
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        if let Some(d) = spec.strip_prefix("@every ") {
            return match parse_go_duration(d.trim()) {
                Some(d) if d.as_secs() >= 1 => Ok(Schedule::Every(d)),
                _ => Err(format!("@every needs a duration of at least 1s, got {d:?}")),
            };
        }
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor {s:?}")),
            s => s,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!("expected 5 fields, found {}", parts.len()));
        }
        let (minute, _) = field(parts[0], 0, 59, &[])?;
        let (hour, _) = field(parts[1], 0, 23, &[])?;
        let (dom, dom_star) = field(parts[2], 1, 31, &[])?;
        let (month, _) = field(parts[3], 1, 12, &MONTHS)?;
        let (dow, dow_star) = field(parts[4], 0, 6, &DAYS)?;
        Ok(Schedule::Cron(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        }))
    }

    /// Active at second `t`: some firing `f` with `f <= t <= f + dur`.
    fn active_at(&self, t: i64, dur: Duration) -> bool {
        self.last_at_or_before(t, dur).is_some()
    }

    /// The latest firing in `[t - dur, t]`.
    fn last_at_or_before(&self, t: i64, dur: Duration) -> Option<i64> {
        let earliest = t.saturating_sub(dur.as_secs() as i64);
        match self {
            // A constant delay has no anchor: every instant is within `dur` of a firing exactly
            // when firings come at most `dur` apart (what robfig's `Next(t - dur)` gives).
            Schedule::Every(every) => (every.as_secs() <= dur.as_secs()).then_some(t),
            Schedule::Cron(f) => f.last_in(earliest, t),
        }
    }

    /// The first firing strictly after `t`.
    fn next_after(&self, t: i64) -> Option<i64> {
        match self {
            Schedule::Every(every) => Some(t + every.as_secs() as i64),
            Schedule::Cron(f) => f.next_after(t),
        }
    }
}

/// One cron field as a bit set, and whether it was a bare `*`/`?` (robfig's star bit).
fn field(expr: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let step: u32 = match step {
            Some(s) => s
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("bad step in {part:?}"))?,
            None => 1,
        };
        let (start, end, is_star) = if range == "*" || range == "?" {
            (min, max, true)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (value(a, names, min)?, value(b, names, min)?, false),
                None => {
                    let v = value(range, names, min)?;
                    // robfig: "N/step" means N through the maximum.
                    (
                        v,
                        if step > 1 || part.contains('/') {
                            max
                        } else {
                            v
                        },
                        false,
                    )
                }
            }
        };
        if start < min || end > max || start > end {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        star |= is_star && step == 1;
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

fn value(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + offset);
    }
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

/// Calendar fields of a Unix second in UTC (Howard Hinnant's days-to-civil).
struct Civil {
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
}

fn civil(t: i64) -> Civil {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Civil {
        month,
        day,
        hour: (secs / HOUR) as u32,
        minute: ((secs % HOUR) / MINUTE) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

impl Fields {
    fn day_matches(&self, c: &Civil) -> bool {
        if self.month & (1 << c.month) == 0 {
            return false;
        }
        let dom = self.dom & (1 << c.day) != 0;
        let dow = self.dow & (1 << c.weekday) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The latest firing (a whole minute) in `[earliest, t]`, skipping whole days and hours that
    /// cannot match.
    fn last_in(&self, earliest: i64, t: i64) -> Option<i64> {
        let mut m = t.div_euclid(MINUTE) * MINUTE;
        while m >= earliest {
            let c = civil(m);
            if !self.day_matches(&c) {
                m = m.div_euclid(DAY) * DAY - MINUTE;
            } else if self.hour & (1 << c.hour) == 0 {
                m = m.div_euclid(HOUR) * HOUR - MINUTE;
            } else if self.minute & (1 << c.minute) == 0 {
                m -= MINUTE;
            } else {
                return Some(m);
            }
        }
        None
    }

    fn next_after(&self, t: i64) -> Option<i64> {
        let mut m = t.div_euclid(MINUTE) * MINUTE + MINUTE;
        let limit = t.saturating_add(SEARCH_LIMIT);
        while m <= limit {
            let c = civil(m);
            if !self.day_matches(&c) {
                m = m.div_euclid(DAY) * DAY + DAY;
            } else if self.hour & (1 << c.hour) == 0 {
                m = m.div_euclid(HOUR) * HOUR + HOUR;
            } else if self.minute & (1 << c.minute) == 0 {
                m += MINUTE;
            } else {
                return Some(m);
            }
        }
        None
    }
}

#[cfg(test)]
#[path = "sync_window_tests.rs"]
mod tests;
