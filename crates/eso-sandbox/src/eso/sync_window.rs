//! `spec.syncWindows` (ESO 2.7+) as the simulated ESO honours them: under `kind: allow` periodic
//! refreshes run only while a window is active, under `kind: deny` none runs while one is; a
//! window is active from each firing of its cron `schedule` (UTC) to that firing plus `duration`,
//! both ends included; a spec or annotation change (force-sync) is never held back. Only what the
//! sandbox's scenarios need: the standard 5 fields (`*`, numbers, `a-b`, lists, `/step`) and the
//! `@yearly`/`@monthly`/`@weekly`/`@daily`/`@midnight`/`@hourly` descriptors. An entry it cannot
//! read is never active, as in ESO. The product's own evaluator (`src/analysis/sync_window.rs`) is
//! the full one; this one only moves the simulation.

use jiff::Timestamp;
use serde_json::Value;

use super::externalsecret::parse_duration;

/// The longest window looked back over, in minutes (a week): longer windows are capped.
const MAX_LOOKBACK_MINUTES: i64 = 7 * 24 * 60;

/// Whether a periodic refresh may run at `now`.
pub fn periodic_refresh_allowed(es: &Value, now: Timestamp) -> bool {
    let Some(sw) = es.pointer("/spec/syncWindows") else {
        return true;
    };
    let windows = sw
        .get("windows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if windows.is_empty() {
        return true;
    }
    let any_active = windows.iter().any(|w| active(w, now));
    match sw.get("kind").and_then(Value::as_str) {
        Some("allow") => any_active,
        Some("deny") => !any_active,
        _ => true,
    }
}

fn active(window: &Value, now: Timestamp) -> bool {
    let (Some(schedule), Some(duration)) = (
        window.get("schedule").and_then(Value::as_str),
        window
            .get("duration")
            .and_then(Value::as_str)
            .and_then(parse_duration),
    ) else {
        return false;
    };
    let Some(cron) = Cron::parse(schedule) else {
        return false;
    };
    let minute_now = now.as_second().div_euclid(60);
    let back = i64::try_from(duration.as_secs() / 60)
        .unwrap_or(MAX_LOOKBACK_MINUTES)
        .min(MAX_LOOKBACK_MINUTES);
    (0..=back).any(|i| cron.fires_at_minute(minute_now - i))
}

struct Cron {
    minute: Vec<bool>,
    hour: Vec<bool>,
    dom: Vec<bool>,
    month: Vec<bool>,
    dow: Vec<bool>,
    dom_star: bool,
    dow_star: bool,
}

impl Cron {
    fn parse(spec: &str) -> Option<Cron> {
        let spec = match spec.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s => s,
        };
        let f: Vec<&str> = spec.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = f.as_slice() else {
            return None;
        };
        Some(Cron {
            minute: field(mi, 0, 59)?,
            hour: field(h, 0, 23)?,
            dom: field(dom, 1, 31)?,
            month: field(mo, 1, 12)?,
            dow: field(dow, 0, 7).map(|mut d| {
                d[0] |= d[7];
                d
            })?,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
        })
    }

    fn fires_at_minute(&self, minute: i64) -> bool {
        let Ok(t) = Timestamp::from_second(minute * 60) else {
            return false;
        };
        let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        let at = |v: &[bool], i: i64| usize::try_from(i).ok().and_then(|i| v.get(i).copied());
        let day_ok = {
            let dom = at(&self.dom, i64::from(dt.day())).unwrap_or(false);
            let dow =
                at(&self.dow, i64::from(dt.weekday().to_sunday_zero_offset())).unwrap_or(false);
            // robfig/cron: when both day fields are restricted, either may match.
            if self.dom_star || self.dow_star {
                dom && dow
            } else {
                dom || dow
            }
        };
        day_ok
            && at(&self.minute, i64::from(dt.minute())).unwrap_or(false)
            && at(&self.hour, i64::from(dt.hour())).unwrap_or(false)
            && at(&self.month, i64::from(dt.month())).unwrap_or(false)
    }
}

/// One cron field as a table indexed by value (`0..=max`).
fn field(text: &str, min: u32, max: u32) -> Option<Vec<bool>> {
    let mut out = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().ok()?, b.parse().ok()?)
        } else {
            let v: u32 = range.parse().ok()?;
            (v, if step > 1 { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        for v in (lo..=hi).step_by(step as usize) {
            out[v as usize] = true;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn es(kind: &str, schedule: &str, duration: &str) -> Value {
        json!({"spec": {"syncWindows": {"kind": kind,
            "windows": [{"schedule": schedule, "duration": duration}]}}})
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_deny_window_holds_periodic_refreshes_back_only_while_active() {
        let freeze = es("deny", "0 22 * * *", "2h");
        assert!(!periodic_refresh_allowed(
            &freeze,
            at("2026-11-22T23:30:00Z")
        ));
        // Both ends included, as in ESO.
        assert!(!periodic_refresh_allowed(
            &freeze,
            at("2026-11-23T00:00:00Z")
        ));
        assert!(periodic_refresh_allowed(
            &freeze,
            at("2026-11-23T00:01:00Z")
        ));
        assert!(periodic_refresh_allowed(
            &freeze,
            at("2026-11-22T12:00:00Z")
        ));
    }

    #[test]
    fn an_allow_window_permits_only_while_active_and_unreadable_entries_never_are() {
        let nightly = es("allow", "@daily", "1h");
        assert!(periodic_refresh_allowed(
            &nightly,
            at("2026-11-22T00:30:00Z")
        ));
        assert!(!periodic_refresh_allowed(
            &nightly,
            at("2026-11-22T12:00:00Z")
        ));
        assert!(!periodic_refresh_allowed(
            &es("allow", "not a schedule", "1h"),
            at("2026-11-22T00:30:00Z")
        ));
        assert!(periodic_refresh_allowed(
            &es("deny", "0 0 * * *", "bogus"),
            at("2026-11-22T00:30:00Z")
        ));
        // No windows at all: every refresh may run.
        assert!(periodic_refresh_allowed(
            &json!({"spec": {}}),
            at("2026-11-22T00:30:00Z")
        ));
    }

    #[test]
    fn a_daily_24h_deny_window_is_always_active() {
        let frozen = es("deny", "0 0 * * *", "24h");
        for t in [
            "2026-11-22T00:00:00Z",
            "2026-11-22T13:37:00Z",
            "2026-11-22T23:59:59Z",
        ] {
            assert!(!periodic_refresh_allowed(&frozen, at(t)), "{t}");
        }
    }

    #[test]
    fn weekday_fields_follow_robfig() {
        // Saturdays 02:00 (2026-11-21 is a Saturday); 7 is Sunday too.
        let sat = es("allow", "0 2 * * 6", "2h");
        assert!(periodic_refresh_allowed(&sat, at("2026-11-21T03:00:00Z")));
        assert!(!periodic_refresh_allowed(&sat, at("2026-11-22T03:00:00Z")));
        let sun = es("allow", "0 2 * * 7", "2h");
        assert!(periodic_refresh_allowed(&sun, at("2026-11-22T03:00:00Z")));
    }
}
