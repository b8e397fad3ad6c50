//! Vault ACL policies: the HCL subset real policies use, and the path-matching rules that decide
//! which rule wins. Kept pure so the precedence rules (the part most easily got wrong) are unit-tested
//! without a server; every behaviour here was checked against OpenBao 2.7.2.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The text OpenBao installs as the built-in `default` policy, byte for byte, so that reading it
/// back and checking capabilities on it both give what the real server gives.
pub const DEFAULT_POLICY: &str = include_str!("default_policy.hcl");

pub const CAPABILITIES: [&str; 8] = [
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny",
];

/// One `path "<glob>" { ... }` block. Capabilities stay as names, sorted and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub pattern: String,
    pub capabilities: Vec<String>,
}

/// Parses the policy subset: `path "<glob>" { capabilities = [..] }` or the legacy `policy = "<read|write|deny|sudo>"`,
/// other keys inside a block (`allowed_parameters`, `min_wrapping_ttl`, ...) are accepted and ignored.
/// Errors read like OpenBao's after its `failed to parse policy: ` prefix.
pub fn parse(text: &str) -> Result<Vec<PathRule>, String> {
    let tokens = lex(text)?;
    let mut rules = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
            (Tok::Ident(kw), Some(Tok::Str(pattern)), Some(Tok::Open('{'))) if kw == "path" => {
                let (caps, next) = parse_block(&tokens, i + 3, pattern)?;
                rules.push(PathRule {
                    pattern: pattern.clone(),
                    capabilities: caps,
                });
                i = next;
            }
            (Tok::Ident(kw), _, _) if kw == "path" => {
                return Err("path: expected a quoted path and a block".into());
            }
            (t, _, _) => return Err(format!("unexpected {} at top level", t.describe())),
        }
    }
    Ok(rules)
}

fn parse_block(
    tokens: &[Tok],
    mut i: usize,
    pattern: &str,
) -> Result<(Vec<String>, usize), String> {
    let mut caps: Vec<String> = Vec::new();
    loop {
        match tokens.get(i) {
            None => return Err("object expected closing RBRACE got: EOF".into()),
            Some(Tok::Close('}')) => break,
            Some(Tok::Ident(key)) | Some(Tok::Str(key)) => {
                if tokens.get(i + 1) != Some(&Tok::Eq) {
                    return Err(format!("path {pattern:?}: expected '=' after {key:?}"));
                }
                let (value, next) = read_value(tokens, i + 2)?;
                match key.as_str() {
                    "capabilities" => caps.extend(value.strings()),
                    "policy" => caps.extend(legacy_policy(&value.strings().join(""), pattern)?),
                    _ => {}
                }
                i = next;
            }
            Some(t) => return Err(format!("path {pattern:?}: unexpected {}", t.describe())),
        }
    }
    for cap in &caps {
        if !CAPABILITIES.contains(&cap.as_str()) {
            return Err(format!(
                "path {pattern:?}: path {pattern:?}: invalid capability {cap:?}"
            ));
        }
    }
    caps.sort();
    caps.dedup();
    Ok((caps, i + 1))
}

fn legacy_policy(word: &str, pattern: &str) -> Result<Vec<String>, String> {
    let caps: &[&str] = match word {
        "deny" => &["deny"],
        "read" => &["read", "list"],
        "write" => &["create", "read", "update", "patch", "delete", "list"],
        "sudo" => &[
            "create", "read", "update", "patch", "delete", "list", "sudo",
        ],
        other => return Err(format!("path {pattern:?}: invalid policy {other:?}")),
    };
    Ok(caps.iter().map(|c| c.to_string()).collect())
}

enum Value {
    Scalar(String),
    List(Vec<String>),
    Other,
}

impl Value {
    fn strings(self) -> Vec<String> {
        match self {
            Value::Scalar(s) => vec![s],
            Value::List(l) => l,
            Value::Other => Vec::new(),
        }
    }
}

/// Reads one value: a string, number/identifier, a list of strings, or a nested object (skipped).
fn read_value(tokens: &[Tok], i: usize) -> Result<(Value, usize), String> {
    match tokens.get(i) {
        Some(Tok::Str(s)) | Some(Tok::Ident(s)) => Ok((Value::Scalar(s.clone()), i + 1)),
        Some(Tok::Open('[')) => {
            let mut items = Vec::new();
            let mut j = i + 1;
            loop {
                match tokens.get(j) {
                    Some(Tok::Close(']')) => return Ok((Value::List(items), j + 1)),
                    Some(Tok::Comma) => j += 1,
                    Some(Tok::Str(s)) | Some(Tok::Ident(s)) => {
                        items.push(s.clone());
                        j += 1;
                    }
                    Some(Tok::Open(_)) => j = read_value(tokens, j)?.1,
                    _ => return Err("list expected closing RBRACK".into()),
                }
            }
        }
        Some(Tok::Open('{')) => {
            let mut depth = 0usize;
            let mut j = i;
            while let Some(t) = tokens.get(j) {
                match t {
                    Tok::Open(_) => depth += 1,
                    Tok::Close(_) => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok((Value::Other, j + 1));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err("object expected closing RBRACE got: EOF".into())
        }
        _ => Err("expected a value".into()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Open(char),
    Close(char),
    Eq,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Open(c) | Tok::Close(c) => format!("{c:?}"),
            Tok::Eq => "'='".into(),
            Tok::Comma => "','".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '#' => i = skip_line(&chars, i),
            '/' if chars.get(i + 1) == Some(&'/') => i = skip_line(&chars, i),
            '/' if chars.get(i + 1) == Some(&'*') => {
                let rest: String = chars[i + 2..].iter().collect();
                let end = rest.find("*/").ok_or("unterminated comment")?;
                i += 2 + rest[..end].chars().count() + 2;
            }
            '{' | '[' => {
                out.push(Tok::Open(c));
                i += 1;
            }
            '}' | ']' => {
                out.push(Tok::Close(c));
                i += 1;
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None | Some('\n') => return Err("literal not terminated".into()),
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
                i += 1;
            }
            _ if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_-.".contains(chars[i])) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("illegal char {other:?}")),
        }
    }
    Ok(out)
}

fn skip_line(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '\n' {
        i += 1;
    }
    i
}

/// The merged rules of all policies a token carries: capabilities of the same pattern are unioned,
/// and a `deny` anywhere for a pattern makes that pattern deny, as Vault merges them.
#[derive(Debug, Default, Clone)]
pub struct Acl {
    rules: BTreeMap<String, Vec<String>>,
}

impl Acl {
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a [PathRule]>) -> Acl {
        let mut rules: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for policy in policies {
            for rule in policy {
                let caps = rules.entry(rule.pattern.clone()).or_default();
                caps.extend(rule.capabilities.iter().cloned());
                if caps.iter().any(|c| c == "deny") {
                    *caps = vec!["deny".into()];
                }
                caps.sort();
                caps.dedup();
            }
        }
        Acl { rules }
    }

    /// Capabilities on `path` as `sys/capabilities-self` reports them: sorted, `["deny"]` when nothing matches.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        let path = path.trim_start_matches('/');
        let best = self
            .rules
            .keys()
            .filter(|p| matches(p, path))
            .max_by(|a, b| priority(a, b));
        match best.and_then(|p| self.rules.get(p)) {
            Some(caps) if !caps.is_empty() => caps.clone(),
            _ => vec!["deny".into()],
        }
    }

    pub fn allows(&self, path: &str, capability: &str) -> bool {
        let caps = self.capabilities(path);
        !caps.iter().any(|c| c == "deny") && caps.iter().any(|c| c == capability)
    }

    /// Whether any rule at or below `mount` grants something: OpenBao's pre-flight test for
    /// `sys/internal/ui/mounts/<path>`.
    pub fn has_mount_access(&self, mount: &str) -> bool {
        if !self.capabilities(mount).iter().any(|c| c == "deny") {
            return true;
        }
        self.rules.iter().any(|(pattern, caps)| {
            let granted = !caps.is_empty() && !caps.iter().any(|c| c == "deny");
            let under = pattern.starts_with(mount)
                || matches(pattern, mount)
                || (pattern.contains('+') && plus_prefix(pattern, mount));
            granted && under
        })
    }
}

fn plus_prefix(pattern: &str, mount: &str) -> bool {
    let head: Vec<&str> = pattern.split('/').collect();
    let want: Vec<&str> = mount.trim_end_matches('/').split('/').collect();
    want.len() <= head.len() && want.iter().zip(&head).all(|(w, h)| *h == "+" || h == w)
}

/// Whether a policy pattern (exact, `*`-suffixed glob, `+` segment wildcards) covers a request path.
pub fn matches(pattern: &str, path: &str) -> bool {
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    if !body.contains('+') {
        return if glob {
            path.starts_with(body)
        } else {
            path == body
        };
    }
    let pat: Vec<&str> = body.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if (!glob && segs.len() != pat.len()) || segs.len() < pat.len() {
        return false;
    }
    let last = pat.len() - 1;
    for (i, p) in pat.iter().enumerate() {
        if *p == "+" {
            continue;
        }
        if glob && i == last {
            return segs[i..].join("/").starts_with(p);
        }
        if *p != segs[i] {
            return false;
        }
    }
    true
}

/// Vault's documented precedence between two matching patterns: a later first wildcard wins, then a
/// non-glob over a glob, then fewer `+` segments, then the longer pattern, then the lexically larger.
fn priority(a: &str, b: &str) -> Ordering {
    let first_wild = |p: &str| p.find(['+', '*']).unwrap_or(usize::MAX);
    first_wild(a)
        .cmp(&first_wild(b))
        .then_with(|| b.ends_with('*').cmp(&a.ends_with('*')))
        .then_with(|| b.matches('+').count().cmp(&a.matches('+').count()))
        .then_with(|| a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        let rules = parse(text).unwrap_or_default();
        Acl::new([rules.as_slice()])
    }

    // The expectations below are the answers OpenBao 2.7.2 gave for the same policy.
    const MULTI: &str = r#"path "a/+/c" { capabilities = ["update","read","list"] }
path "a/*" { capabilities = ["create"] }
path "a/b/*" { capabilities = ["deny"] }
path "a/b/c" { capabilities = ["sudo","read"] }
path "x/*" { capabilities = ["read"] }
path "x/y" { capabilities = ["list"] }"#;

    #[test]
    fn precedence_matches_openbao() {
        let acl = acl(MULTI);
        let cases = [
            ("a/b/c", vec!["read", "sudo"]),
            ("a/z/c", vec!["list", "read", "update"]),
            ("a/b/d", vec!["deny"]),
            ("a/q", vec!["create"]),
            ("a/z/c/d", vec!["create"]),
            ("x/y", vec!["list"]),
            ("x/y/z", vec!["read"]),
            ("x", vec!["deny"]),
        ];
        for (path, want) in cases {
            assert_eq!(acl.capabilities(path), want, "path {path}");
        }
    }

    #[test]
    fn default_policy_parses_and_grants_self_lookup() {
        let acl = acl(DEFAULT_POLICY);
        assert_eq!(acl.capabilities("auth/token/lookup-self"), vec!["read"]);
        assert_eq!(
            acl.capabilities("cubbyhole/foo"),
            vec!["create", "delete", "list", "read", "update"]
        );
        assert_eq!(acl.capabilities("secret/data/x"), vec!["deny"]);
    }

    #[test]
    fn deny_in_one_policy_overrides_another() {
        let a = parse(r#"path "s/*" { capabilities = ["read"] }"#).unwrap_or_default();
        let b = parse(r#"path "s/*" { capabilities = ["deny"] }"#).unwrap_or_default();
        let acl = Acl::new([a.as_slice(), b.as_slice()]);
        assert!(!acl.allows("s/x", "read"));
    }

    #[test]
    fn invalid_capability_is_reported_like_openbao() {
        let err = parse(r#"path "x" { capabilities = ["reed"] }"#).err();
        assert_eq!(
            err.as_deref(),
            Some(r#"path "x": path "x": invalid capability "reed""#)
        );
    }

    #[test]
    fn legacy_policy_word_and_ignored_keys() {
        let acl = acl(
            "# comment\npath \"x\" { policy = \"write\" }\npath \"y\" {\n capabilities = [\"read\"]\n allowed_parameters = { \"a\" = [] }\n}",
        );
        assert!(acl.allows("x", "update"));
        assert!(acl.allows("y", "read"));
        assert!(!acl.allows("y", "list"));
    }

    #[test]
    fn mount_access_needs_a_grant_under_the_mount() {
        let acl = acl(r#"path "registry-creds/data/order-service" { capabilities = ["read"] }"#);
        assert!(acl.has_mount_access("registry-creds/"));
        assert!(!acl.has_mount_access("kv1/"));
    }
}
