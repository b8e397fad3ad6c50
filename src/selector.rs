//! `-l` checked before any request, with the grammar of Kubernetes' label selectors
//! (`k8s.io/apimachinery/pkg/labels`): a bad selector is one usage line naming the requirement
//! that is wrong (issue 13), not the API server's 400 wrapped in a debug dump.
//!
//! Requirements are comma-separated: `key`, `!key`, `key=v`, `key==v`, `key!=v`,
//! `key in (a,b)`, `key notin (a,b)`. Keys are `[prefix/]name` (name: 63 alphanumerics, `-`, `_`,
//! `.`, starting and ending alphanumeric; prefix: a DNS subdomain); values are empty or a name.

/// `Ok(())` for a selector the API server accepts; otherwise why not, as one line.
pub fn validate(selector: &str) -> Result<(), String> {
    for requirement in split_requirements(selector)? {
        check_requirement(requirement.trim())
            .map_err(|why| format!("invalid label selector {selector:?}: {why}"))?;
    }
    Ok(())
}

/// Splits on commas outside parentheses.
fn split_requirements(selector: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(format!(
                "invalid label selector {selector:?}: unbalanced parentheses"
            ));
        }
    }
    if depth != 0 {
        return Err(format!(
            "invalid label selector {selector:?}: unbalanced parentheses"
        ));
    }
    parts.push(&selector[start..]);
    Ok(parts)
}

fn check_requirement(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("empty requirement".into());
    }
    if let Some(key) = r.strip_prefix('!') {
        return check_key(key.trim());
    }
    for op in ["==", "!=", "="] {
        if let Some((key, value)) = r.split_once(op) {
            check_key(key.trim())?;
            return check_value(value.trim());
        }
    }
    for op in [" notin ", " in "] {
        if let Some((key, set)) = r.split_once(op) {
            check_key(key.trim())?;
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("{op:?} needs a set in parentheses, got {set:?}"))?;
            return inner.split(',').try_for_each(|v| check_value(v.trim()));
        }
    }
    check_key(r)
}

fn check_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            let ok = !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            if !ok {
                return Err(format!("{prefix:?} is not a valid label key prefix"));
            }
            name
        }
        None => key,
    };
    if name.is_empty() || !is_name(name) {
        return Err(format!("{key:?} is not a valid label key"));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!("{value:?} is not a valid label value"))
    }
}

/// 63 characters at most of `[A-Za-z0-9-_.]`, starting and ending alphanumeric.
fn is_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && s.chars().next().is_some_and(alnum)
        && s.chars().last().is_some_and(alnum)
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn issue_13_selectors_the_api_server_accepts_pass() {
        for ok in [
            "app=shop",
            "app==shop,tier!=db",
            "app",
            "!app",
            "env in (prod, staging),app notin (x)",
            "app.kubernetes.io/name=eso",
            "team=",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn issue_13_a_bad_selector_is_one_line_naming_the_bad_part() {
        for (bad, part) in [
            ("app=sh op", "\"sh op\""),
            ("=x", "\"\" is not a valid label key"),
            ("app in x", "needs a set"),
            ("a,,b", "empty requirement"),
            ("env in (a", "unbalanced"),
            ("-app=x", "\"-app\""),
        ] {
            match validate(bad) {
                Ok(()) => panic!("{bad} accepted"),
                Err(e) => {
                    assert!(e.contains(part) && !e.contains('\n'), "{bad}: {e}");
                    assert!(e.starts_with("invalid label selector"), "{e}");
                }
            }
        }
    }
}
