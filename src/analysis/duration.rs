//! ESO writes `refreshInterval` as a Go duration ("1h", "1h0m0s", "15m", "0"); the staleness
//! check needs it as a number, so this reads Go's syntax exactly rather than humantime's. It also
//! holds the one rule for "does ESO refresh this ExternalSecret by itself, and how often" that
//! scope, describe-chain and doctor all judge staleness by.

use std::time::Duration;

/// The CRD's default `refreshInterval`, for objects read without one.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// How often ESO refreshes an ExternalSecret by itself; `None` when it never does:
/// `refreshPolicy` CreatedOnce or OnChange, `refreshInterval: 0`, or an interval that is not a
/// Go duration (ESO would reject it).
pub fn periodic_refresh(policy: Option<&str>, interval: Option<&str>) -> Option<Duration> {
    if matches!(policy, Some("CreatedOnce") | Some("OnChange")) {
        return None;
    }
    let every = match interval {
        Some(i) => parse_go_duration(i)?,
        None => DEFAULT_REFRESH_INTERVAL,
    };
    (!every.is_zero()).then_some(every)
}

/// The longest duration Go can hold (`math.MaxInt64` nanoseconds, about 292 years): a longer
/// `refreshInterval` is "invalid duration" to Go, so ESO cannot read the object either.
pub const GO_MAX_DURATION: Duration = Duration::new(9_223_372_036, 854_775_807);

/// Parses a Go `time.ParseDuration` string. Negative durations are rejected (ESO rejects them too),
/// and so is anything longer than Go can hold (issue 18: `3000000000000000h` used to overflow the
/// staleness arithmetic and stop scope and doctor cluster-wide).
pub fn parse_go_duration(input: &str) -> Option<Duration> {
    let s = input.trim().strip_prefix('+').unwrap_or(input.trim());
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| *d <= GO_MAX_DURATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_eso_writes() {
        assert_eq!(parse_go_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "1x", "-1h", "1h-", "one hour"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn issue_18_longer_than_go_can_hold_is_not_a_duration() {
        assert_eq!(
            parse_go_duration("2562047h"),
            Some(Duration::from_secs(2562047 * 3600))
        );
        for huge in [
            "3000000000000000h",
            "2562048h",
            "99999999999999999999999999999999999999999999999999999999999999999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(huge), None, "{huge}");
            assert_eq!(periodic_refresh(None, Some(huge)), None, "{huge}");
        }
        let nines = "9".repeat(400) + "h";
        assert_eq!(parse_go_duration(&nines), None);
    }

    #[test]
    fn periodic_refresh_follows_policy_and_interval() {
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(periodic_refresh(None, None), hour);
        assert_eq!(periodic_refresh(Some("Periodic"), Some("1h0m0s")), hour);
        assert_eq!(
            periodic_refresh(None, Some("15m")),
            Some(Duration::from_secs(900))
        );
        for (policy, interval) in [
            (Some("CreatedOnce"), Some("1h")),
            (Some("OnChange"), Some("1h")),
            (None, Some("0")),
            (None, Some("soon")),
        ] {
            assert_eq!(
                periodic_refresh(policy, interval),
                None,
                "{policy:?} {interval:?}"
            );
        }
    }
}
