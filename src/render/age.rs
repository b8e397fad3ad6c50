//! Ages the way kubectl prints them (`45s`, `5m30s`, `95m`, `3h10m`, `2d`), so the table reads like
//! `kubectl get`. Computed from the `now` passed in, never from the clock.

use jiff::Timestamp;

/// `"<unknown>"` for an unparsable time; a time in the future counts as `0s` (clock skew).
pub fn age(since: &str, now: Timestamp) -> String {
    match since.parse::<Timestamp>() {
        Ok(t) => human_duration(now.as_second().saturating_sub(t.as_second()).max(0)),
        Err(_) => "<unknown>".to_string(),
    }
}

/// kubectl's `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86_400);
    let y = d / 365;
    if seconds < 120 {
        format!("{seconds}s")
    } else if m < 10 {
        match seconds % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            mm => format!("{h}h{mm}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            hh => format!("{d}d{hh}h"),
        }
    } else if y < 2 {
        format!("{d}d")
    } else if y < 8 {
        match d % 365 {
            0 => format!("{y}y"),
            dd => format!("{y}y{dd}d"),
        }
    } else {
        format!("{y}y")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kubectl_buckets() {
        let cases = [
            (45, "45s"),
            (119, "119s"),
            (330, "5m30s"),
            (600, "10m"),
            (95 * 60, "95m"),
            (3 * 3600 + 600, "3h10m"),
            (30 * 3600, "30h"),
            (2 * 86_400 + 3 * 3600, "2d3h"),
            (40 * 86_400, "40d"),
            (3 * 365 * 86_400, "3y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn age_uses_the_given_now() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap_or_default();
        assert_eq!(age("2026-11-22T11:00:00Z", now), "60m");
        assert_eq!(age("2026-11-22T12:00:05Z", now), "0s");
        assert_eq!(age("yesterday", now), "<unknown>");
    }
}
