//! The one redaction rule at the output boundary (issue 18). Everything a command prints — its
//! table, wide, JSON or YAML output, its `-v` lines and its error line — passes [`Redactor::redact`]
//! (or [`output`], the process-wide form) before it reaches stdout or stderr. It removes control
//! sequences (via `sanitize`), replaces every value the run learned (Secret data it read,
//! credentials, minted tokens, the kubeconfig's bearer token and client key, `VAULT_TOKEN`) in
//! plain, base64, base64url, URL-encoded, hex, SHA-256-hex and 8+-character prefix forms (the
//! lines of a multi-line value and a kubeconfig itself: whole only, see [`Redactor::learn`]), and
//! replaces strings shaped like credentials (JWTs, Vault and AWS keys, `Authorization:` headers,
//! `password=`/`token=` pairs, userinfo in URLs) even when the run never saw them.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::borrow::Cow;
use std::sync::{LazyLock, Mutex, OnceLock};

use aho_corasick::AhoCorasick;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use regex::{Captures, Regex, RegexSet};

/// What a redacted value is replaced with.
pub const MARK: &str = "<redacted>";

/// Values shorter than this are not learned: they would blank out ordinary words.
pub const MIN_LEN: usize = 6;

/// A printed beginning of a learned value at least this long counts as the value (a token cut
/// for display still lets an attacker who sees several outputs piece it together).
pub const PREFIX_LEN: usize = 8;

/// Values the run learned, in every printable form, and the matcher over them.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Every learned value and part of one; each at least [`MIN_LEN`] bytes.
    values: HashSet<Vec<u8>>,
    /// Identifiers the run prints on purpose (object names, remote keys, store settings): a
    /// learned value found inside one is an identifier, not a secret — a registry username equal
    /// to the app's name must not turn `inventory-service-regcred` into `<redacted>-regcred`.
    public: HashSet<String>,
    /// Learned values replaced only where printed whole, never as a cut: a kubeconfig, whose
    /// beginning (`apiVersion: v1`) is the beginning of every report too, and each line of a
    /// multi-line value. Never holds a value also learned cuttable (see [`Self::insert`]).
    whole_only: HashSet<Vec<u8>>,
    /// Built on first use after the last change.
    index: OnceLock<Option<Index>>,
}

#[derive(Debug)]
struct Index {
    /// The forms, in the order the head lists refer to.
    forms: Vec<String>,
    /// Aligned with `forms`: how long a printed beginning of this form must be to be replaced
    /// as a cut; `None` when only the whole form is.
    cut_from: Vec<Option<usize>>,
    /// Over the distinct first [`MIN_LEN`] bytes of the forms.
    heads: AhoCorasick,
    /// Head pattern id -> the forms starting with it.
    forms_by_head: Vec<Vec<usize>>,
}

impl Clone for Redactor {
    fn clone(&self) -> Self {
        Redactor {
            values: self.values.clone(),
            public: self.public.clone(),
            whole_only: self.whole_only.clone(),
            index: OnceLock::new(),
        }
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing was learned (token shapes are still replaced).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Marks `identifier` as printed on purpose: learned values inside it are not replaced.
    /// Only for strings from object names and specs, never from status, Events or Secrets.
    pub fn public(&mut self, identifier: &str) {
        // Looked up before it is copied: most identifiers of a big run (namespaces, store
        // names) come again and again.
        if identifier.len() >= MIN_LEN
            && !self.public.contains(identifier)
            && self.public.insert(identifier.to_string())
        {
            self.index = OnceLock::new();
        }
    }

    /// Remembers `value` and its parts: the value as is and trimmed, each line of a multi-line
    /// value (PEM bodies, env files, manifests), each string in a JSON value (dockerconfigjson,
    /// cloud credentials files) and the user and password of a base64 `user:pass` pair inside it.
    ///
    /// The value, its JSON strings and its `user:pass` parts are replaced whole and as a cut
    /// (a printed beginning of [`PREFIX_LEN`]+ bytes). A line of a multi-line value — and each
    /// encoded form of it — is replaced only where printed whole, never as a cut: a Secret that
    /// holds a manifest or config file has lines like `apiVersion: v1` and `kind: ConfigMap`,
    /// and cutting them would turn every report's `"apiVersion": "kubectl-eso/v1"` into
    /// `"<redacted>": …`. For the same reason a cut of a multi-line value itself (or of a
    /// multi-line JSON string) counts only once it reaches past the value's first line, in each
    /// form: a cut that ends within the first line is a cut of that line (see `cut_forms_of`).
    /// What this gives up is a line printed cut short on its own (a PEM body line truncated in
    /// a table) and the first line of a value cut (`-----BEGIN PRIVATE…`, `LS0tLS1CRUdJTi…`):
    /// a line printed whole is still replaced (`DB_PASSWORD=…` of an env file, a PEM body line),
    /// and a PEM or env file printed from its beginning — whole, cut past its first line, or
    /// base64 — is still replaced through the whole value's forms.
    ///
    /// A kubeconfig (an `authRef` Secret) is the exception: its lines and strings are mostly
    /// structure (`apiVersion: v1`, cluster and context names, the server URL), and even its
    /// value cut would cut `apiVersion` out of every report; so the value is learned whole only,
    /// and of its parts only its credentials — each user's token, password, client key and
    /// certificate (as written and decoded).
    pub fn learn(&mut self, value: &[u8]) {
        let mut changed = false;
        if let Some(credentials) = std::str::from_utf8(value)
            .ok()
            .and_then(kubeconfig_credentials)
        {
            let trimmed = String::from_utf8_lossy(value).trim().as_bytes().to_vec();
            for p in [value.to_vec(), trimmed] {
                changed |= self.insert(p, true);
            }
            if changed {
                self.index = OnceLock::new();
            }
            for c in credentials {
                self.learn(&c);
            }
            return;
        }
        let mut parts: Vec<Vec<u8>> = vec![value.to_vec()];
        let mut lines: Vec<Vec<u8>> = Vec::new();
        if let Ok(text) = std::str::from_utf8(value) {
            parts.push(text.trim().as_bytes().to_vec());
            if text.trim().contains('\n') {
                lines.extend(text.lines().map(|l| l.trim().as_bytes().to_vec()));
            }
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
                let mut leaves = Vec::new();
                json_strings(&json, &mut leaves);
                for leaf in leaves {
                    if let Some((user, pass)) = basic_pair(&leaf) {
                        parts.push(user.into_bytes());
                        parts.push(pass.into_bytes());
                    }
                    parts.push(leaf.into_bytes());
                }
            }
            if let Some((user, pass)) = basic_pair(text.trim()) {
                parts.push(user.into_bytes());
                parts.push(pass.into_bytes());
            }
        }
        for p in parts {
            changed |= self.insert(p, false);
        }
        for l in lines {
            changed |= self.insert(l, true);
        }
        if changed {
            self.index = OnceLock::new();
        }
    }

    /// Adds one part of a learned value (when at least [`MIN_LEN`] bytes); `whole_only` parts
    /// are replaced only where printed whole. A part learned both ways — a line of one Secret
    /// that is another Secret's whole value — stays cuttable, whichever was learned first.
    /// Returns whether anything changed (the index must then be rebuilt).
    fn insert(&mut self, part: Vec<u8>, whole_only: bool) -> bool {
        if part.len() < MIN_LEN {
            return false;
        }
        if whole_only {
            // Already known, cuttable or whole only: nothing to add.
            if self.values.contains(&part) {
                return false;
            }
            self.whole_only.insert(part.clone());
            self.values.insert(part)
        } else {
            let was_whole_only = self.whole_only.remove(&part);
            self.values.insert(part) || was_whole_only
        }
    }

    /// A learned string, as [`learn`](Self::learn).
    pub fn learn_str(&mut self, value: &str) {
        self.learn(value.as_bytes());
    }

    /// The printable forms of `v`, in a fixed order (so that the forms of two values line up),
    /// short ones included.
    fn forms_of(v: &[u8]) -> Vec<String> {
        let mut forms = vec![
            STANDARD.encode(v),
            STANDARD_NO_PAD.encode(v),
            URL_SAFE.encode(v),
            URL_SAFE_NO_PAD.encode(v),
            hex(v, false),
            hex(v, true),
            hex(
                ring::digest::digest(&ring::digest::SHA256, v).as_ref(),
                false,
            ),
            hex(
                ring::digest::digest(&ring::digest::SHA256, v).as_ref(),
                true,
            ),
            percent(v, false),
            percent(v, true),
        ];
        if let Ok(plain) = std::str::from_utf8(v) {
            forms.push(plain.to_string());
            // A value printed through a JSON or YAML string has its quotes and backslashes escaped.
            if let Ok(quoted) = serde_json::to_string(plain) {
                forms.push(quoted[1..quoted.len() - 1].to_string());
            }
        }
        forms
    }

    /// How long a cut of each form of the cuttable value `v` must be: [`PREFIX_LEN`], and for a
    /// multi-line value longer than the same form of its first line — a cut that ends within
    /// the first line is a cut of that line, and lines are matched whole only (`apiVersion` of
    /// a manifest's `apiVersion: v1`). `None` for a form shorter than [`MIN_LEN`].
    fn cut_forms_of(v: &[u8]) -> impl Iterator<Item = (String, Option<usize>)> {
        let first = std::str::from_utf8(v)
            .ok()
            .filter(|t| t.trim().contains('\n'))
            .and_then(|t| t.split('\n').next())
            .map(|line| Self::forms_of(line.as_bytes()));
        Self::forms_of(v)
            .into_iter()
            .enumerate()
            .map(move |(k, f)| {
                let within_first = first
                    .as_ref()
                    .and_then(|forms| forms.get(k))
                    .map_or(0, |l| common_prefix(f.as_bytes(), l.as_bytes()) + 1);
                let from = (f.len() >= MIN_LEN).then_some(PREFIX_LEN.max(within_first));
                (f, from)
            })
    }

    /// Whether `fragment` is (part of) an identifier printed on purpose: then a learned value
    /// that merely begins like it (a kubeconfig token `kube-sim-admin-…` and the context name
    /// `kube-sim`) is not evidence of the value. Only asked for cut matches, which are rare.
    fn is_public_part(&self, fragment: &str) -> bool {
        self.public.iter().any(|p| p.contains(fragment))
    }

    /// The learned values that are not inside a public identifier.
    fn secret_values(&self) -> Vec<&[u8]> {
        let values: Vec<&[u8]> = self.values.iter().map(Vec::as_slice).collect();
        if self.public.is_empty() {
            return values;
        }
        let Ok(finder) = AhoCorasick::new(&values) else {
            return values;
        };
        let mut inside = vec![false; values.len()];
        for p in &self.public {
            for hit in finder.find_overlapping_iter(p.as_str()) {
                inside[hit.pattern().as_usize()] = true;
            }
        }
        values
            .into_iter()
            .zip(inside)
            .filter_map(|(v, inside)| (!inside).then_some(v))
            .collect()
    }

    fn index(&self) -> Option<&Index> {
        self.index
            .get_or_init(|| {
                // Form -> shortest cut replaced, over every value with that form.
                let mut all: HashMap<String, usize> = HashMap::new();
                let mut whole = HashSet::new();
                for v in self.secret_values() {
                    if self.whole_only.contains(v) {
                        whole.extend(Self::forms_of(v).into_iter().filter(|f| f.len() >= MIN_LEN));
                        continue;
                    }
                    for (form, from) in Self::cut_forms_of(v) {
                        if let Some(from) = from {
                            all.entry(form)
                                .and_modify(|n| *n = (*n).min(from))
                                .or_insert(from);
                        }
                    }
                }
                // A form that is both whole only and cuttable stays cuttable.
                let whole: Vec<String> =
                    whole.into_iter().filter(|f| !all.contains_key(f)).collect();
                let (mut forms, mut cut_from): (Vec<String>, Vec<Option<usize>>) =
                    all.into_iter().map(|(f, n)| (f, Some(n))).unzip();
                cut_from.extend(whole.iter().map(|_| None));
                forms.extend(whole);
                if forms.is_empty() {
                    return None;
                }
                let mut heads: Vec<&[u8]> = Vec::new();
                let mut ids: HashMap<&[u8], usize> = HashMap::new();
                let mut forms_by_head: Vec<Vec<usize>> = Vec::new();
                for (i, f) in forms.iter().enumerate() {
                    let head = &f.as_bytes()[..MIN_LEN];
                    let id = *ids.entry(head).or_insert_with(|| {
                        heads.push(head);
                        forms_by_head.push(Vec::new());
                        heads.len() - 1
                    });
                    forms_by_head[id].push(i);
                }
                let heads = heads_finder(&heads).ok()?;
                Some(Index {
                    forms,
                    cut_from,
                    heads,
                    forms_by_head,
                })
            })
            .as_ref()
    }

    /// `text` as it may be printed: control sequences removed (newlines and tabs kept), learned
    /// values and credential-shaped strings replaced by [`MARK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_with(text, false)
    }

    /// As [`redact`](Self::redact), but colour (SGR) sequences are kept: for the tool's own
    /// coloured table output, whose outside strings were already cleaned when it was rendered.
    pub fn redact_keep_colour<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_with(text, true)
    }

    fn redact_with<'a>(&self, text: &'a str, keep_sgr: bool) -> Cow<'a, str> {
        let clean = crate::sanitize::output(text, keep_sgr);
        let known = match self.redact_known(&clean) {
            Cow::Borrowed(_) => clean,
            Cow::Owned(s) => Cow::Owned(s),
        };
        let shaped = match redact_token_shapes(&known) {
            Cow::Borrowed(_) => known,
            Cow::Owned(s) => Cow::Owned(s),
        };
        if shaped == text {
            Cow::Borrowed(text)
        } else {
            shaped
        }
    }

    /// Learned values only, no cleaning and no shapes.
    pub fn redact_known<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(index) = (!self.values.is_empty()).then(|| self.index()).flatten() else {
            return Cow::Borrowed(text);
        };
        let bytes = text.as_bytes();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (start, head) in head_starts(&index.heads, text) {
            let mut best = 0;
            for &i in &index.forms_by_head[head] {
                let form = index.forms[i].as_bytes();
                let m = common_prefix(&bytes[start..], form);
                let whole = m == form.len();
                let cut = index.cut_from[i].is_some_and(|n| m >= n)
                    && !continues(&text[start..], m)
                    && !self.is_public_part(&text[start..start + m]);
                if (whole || cut) && m > best {
                    best = m;
                }
            }
            if best > 0 {
                let mut end = start + best;
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                spans.push((start, end));
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            if end <= at {
                continue;
            }
            if start >= at {
                out.push_str(&text[at..start]);
                out.push_str(MARK);
            }
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// The search for the heads: leftmost-first, which lets the automaton use its SIMD (Teddy)
/// prefilter for up to 64 heads — a standard-semantics automaton never does, and scanned a 15 MB
/// report byte by byte (issue 16). The heads all have [`MIN_LEN`] bytes, so at most one matches at
/// a position and the leftmost match is the earliest ending one: the same starts either way.
fn heads_finder(heads: &[&[u8]]) -> Result<AhoCorasick, aho_corasick::BuildError> {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(heads)
}

/// Every (position, head) where one of `heads` starts in `text`, in order. The heads all have
/// [`MIN_LEN`] bytes, so at most one matches at a position and the first match from a position
/// is the leftmost: a search restarted after each start finds what an overlapping search does,
/// with the automaton's prefilter skipping the text between (issue 16: a 15 MB report).
fn head_starts<'t>(
    heads: &'t AhoCorasick,
    text: &'t str,
) -> impl Iterator<Item = (usize, usize)> + 't {
    let mut from = 0;
    std::iter::from_fn(move || {
        let hit = heads.find(aho_corasick::Input::new(text).span(from..text.len()))?;
        from = hit.start() + 1;
        Some((hit.start(), hit.pattern().as_usize()))
    })
}

/// Whether the text goes on with a character that could belong to the value after `m` matching
/// bytes: then the match is an unrelated string sharing a beginning (`https://other`), not a cut.
fn continues(rest: &str, m: usize) -> bool {
    let mut end = m;
    while end < rest.len() && !rest.is_char_boundary(end) {
        end += 1;
    }
    rest[end..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || "_-+/=%".contains(c))
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn hex(v: &[u8], upper: bool) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let digits = if upper { UPPER } else { LOWER };
    let mut s = String::with_capacity(v.len() * 2);
    for b in v {
        s.push(char::from(digits[usize::from(b >> 4)]));
        s.push(char::from(digits[usize::from(b & 0xf)]));
    }
    s
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; `form` writes a space
/// as `+` (application/x-www-form-urlencoded).
fn percent(v: &[u8], form: bool) -> String {
    let mut s = String::with_capacity(v.len() * 3);
    for &b in v {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                s.push(char::from(b))
            }
            b' ' if form => s.push('+'),
            _ => {
                s.push('%');
                s.push_str(&hex(&[b], true));
            }
        }
    }
    s
}

/// The credentials of a kubeconfig (YAML or JSON with `users` and `clusters` or `contexts`), as
/// written and base64-decoded; `None` when `text` is no kubeconfig.
fn kubeconfig_credentials(text: &str) -> Option<Vec<Vec<u8>>> {
    let t = text.trim_start();
    // Cheap pre-check before parsing: every kubeconfig names its users.
    if !t.contains("users") || !(t.contains("clusters") || t.contains("contexts")) {
        return None;
    }
    let v: serde_json::Value = serde_saphyr::from_str(text).ok()?;
    let users = v.get("users")?.as_array()?;
    if v.get("clusters").is_none() && v.get("contexts").is_none() {
        return None;
    }
    let mut out = Vec::new();
    for u in users {
        let Some(user) = u.get("user") else { continue };
        for field in ["token", "password", "username"] {
            if let Some(s) = user.get(field).and_then(serde_json::Value::as_str) {
                out.push(s.trim().as_bytes().to_vec());
            }
        }
        for field in ["client-key-data", "client-certificate-data"] {
            if let Some(s) = user.get(field).and_then(serde_json::Value::as_str) {
                out.push(s.trim().as_bytes().to_vec());
                let compact: String = s.split_whitespace().collect();
                if let Ok(decoded) = STANDARD.decode(compact) {
                    out.push(decoded);
                }
            }
        }
    }
    Some(out)
}

fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// `user` and `pass` of a base64 `user:pass` (a dockerconfigjson `auth`, a Basic header).
fn basic_pair(s: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(s.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

struct Shape {
    re: Regex,
    replace: fn(&Captures<'_>) -> String,
}

fn mark_all(_: &Captures<'_>) -> String {
    MARK.to_string()
}

/// Keeps the named key and separator (`password=`, `Authorization: Bearer `), marks the value.
fn keep_key(c: &Captures<'_>) -> String {
    format!("{}{MARK}", c.name("key").map_or("", |m| m.as_str()))
}

fn shape(pattern: &str, replace: fn(&Captures<'_>) -> String) -> Option<Shape> {
    Regex::new(pattern).ok().map(|re| Shape { re, replace })
}

const PAIR_KEYS: &str = "password|passwd|pwd|passphrase|secret|client_secret|clientsecret|token|\
    access_token|refresh_token|id_token|api_key|apikey|api-key|secret_access_key|\
    aws_secret_access_key|session_token|aws_session_token|private_key|x-amz-security-token|\
    x-amz-signature|sig";

static SHAPES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    [
        // JWTs (ServiceAccount TokenRequest tokens, Entra access tokens, OIDC id tokens).
        shape(
            r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
            mark_all,
        ),
        // Vault service / batch / recovery tokens, current and legacy formats.
        shape(r"\b(?:hvs|hvb|hvr)\.[A-Za-z0-9_-]{20,}", mark_all),
        shape(r"\b[sbr]\.[A-Za-z0-9]{24}\b", mark_all),
        // AWS access key ids and STS session tokens.
        shape(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", mark_all),
        shape(r"\b(?:IQoJb3JpZ2lu|FwoGZXIvYXdz)[A-Za-z0-9/+=]{20,}", mark_all),
        // Authorization and Vault token headers, in text and as JSON members.
        shape(
            r"(?i)(?P<key>\b(?:proxy-)?authorization\s*[:=]\s*(?:bearer|basic|token|negotiate|digest|aws4-hmac-sha256)\s+)[^\s,;'\x22]+",
            keep_key,
        ),
        shape(
            r#"(?i)(?P<key>"(?:proxy-)?authorization"\s*:\s*")[^"]*"#,
            keep_key,
        ),
        shape(
            r"(?i)(?P<key>\bx-vault-token\s*[:=]\s*)[^\s,;'\x22]+",
            keep_key,
        ),
        shape(
            &format!(r#"(?i)(?P<key>\b(?:{PAIR_KEYS})=)[^\s&,;'"<]+"#),
            keep_key,
        ),
        shape(
            r#"(?i)(?P<key>"(?:password|passwd|client_?secret|access_?token|refresh_?token|id_?token|secret_?access_?key|session_?token|private_?key|api_?key)"\s*:\s*")(?:[^"\\]|\\.)*"#,
            keep_key,
        ),
        // Userinfo in URLs: https://user:pass@host.
        shape(
            r"(?P<key>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@?#'\x22<>]+@",
            |c| format!("{}{MARK}@", c.name("key").map_or("", |m| m.as_str())),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// Every pattern [`redact_token_shapes`] looks for, in one automaton: it matches wherever one of
/// them would (`None` if it cannot be built: each shape is then tried on its own, as before).
static ANY_SHAPE: LazyLock<Option<RegexSet>> = LazyLock::new(|| {
    let mut patterns: Vec<&str> = SHAPES.iter().map(|s| s.re.as_str()).collect();
    patterns.extend(AWS_KEY_ID.as_ref().map(Regex::as_str));
    RegexSet::new(patterns).ok()
});

static AWS_KEY_ID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b").ok());
static AWS_SECRET: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?P<key>^|[^A-Za-z0-9/+=])[A-Za-z0-9/+]{40}").ok());

/// Strings shaped like credentials, replaced whether or not the run learned them: JWTs, Vault
/// tokens (`hvs.`, `hvb.`, legacy `s.`), AWS access key ids and the 40-character secret keys
/// after them on the same line, STS session tokens, `Authorization:` and `X-Vault-Token:` headers,
/// `password=` / `token=` style pairs and userinfo in URLs.
pub fn redact_token_shapes(text: &str) -> Cow<'_, str> {
    // Nearly every output holds no such string: one scan with all the shapes at once then
    // decides it, instead of one scan per shape (issue 16: a 15 MB report is scanned once).
    if let Some(any) = ANY_SHAPE.as_ref()
        && !any.is_match(text)
    {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    if let (Some(id), Some(secret)) = (AWS_KEY_ID.as_ref(), AWS_SECRET.as_ref())
        && id.is_match(&out)
    {
        let lines: Vec<String> = out
            .split_inclusive('\n')
            .map(|line| match id.find(line) {
                Some(m) => {
                    let (head, tail) = line.split_at(m.end());
                    format!("{head}{}", secret.replace_all(tail, keep_key))
                }
                None => line.to_string(),
            })
            .collect();
        out = Cow::Owned(lines.concat());
    }
    for s in SHAPES.iter() {
        if s.re.is_match(&out) {
            let replaced = s.re.replace_all(&out, s.replace).into_owned();
            out = Cow::Owned(replaced);
        }
    }
    out
}

static GLOBAL: LazyLock<Mutex<Redactor>> = LazyLock::new(|| Mutex::new(Redactor::new()));

/// Remembers `value` for the rest of the process: called wherever the run reads a Secret's data,
/// mints or loads a credential, so that [`output`] replaces it wherever it turns up.
pub fn learn(value: &[u8]) {
    match GLOBAL.lock() {
        Ok(mut r) => r.learn(value),
        Err(poisoned) => poisoned.into_inner().learn(value),
    }
}

/// `text` through the process-wide redactor: what `run_args` does to stdout and every stderr
/// line. `keep_colour` keeps SGR colour sequences for the tool's own coloured tables.
pub fn output(text: &str, keep_colour: bool) -> String {
    let guard = match GLOBAL.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard.redact_with(text, keep_colour).into_owned()
}

/// [`output`] written straight to `out`: text the boundary leaves as it is (nearly every
/// output) is written without a copy (issue 16: a 50 MB report is not held twice).
pub fn write_output(
    out: &mut impl std::io::Write,
    text: &str,
    keep_colour: bool,
) -> std::io::Result<()> {
    let guard = match GLOBAL.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let text = guard.redact_with(text, keep_colour);
    drop(guard);
    out.write_all(text.as_bytes())
}

/// [`public`] for every identifier `each` hands over, under one lock of the process-wide
/// redactor.
pub fn public_all(each: impl FnOnce(&mut dyn FnMut(&str))) {
    let mut guard = match GLOBAL.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    each(&mut |identifier| guard.public(identifier));
}

/// Marks `identifier` (an object name, a remote key, a store setting) as printed on purpose for
/// the rest of the process; see [`Redactor::public`].
pub fn public(identifier: &str) {
    match GLOBAL.lock() {
        Ok(mut r) => r.public(identifier),
        Err(poisoned) => poisoned.into_inner().public(identifier),
    }
}

/// A copy of the process-wide redactor, for code that redacts many strings at once.
pub fn snapshot() -> Redactor {
    match GLOBAL.lock() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f1c2a8e-0d4b-4c1e-9a77-3b1f0c2d9e10";

    fn learned(values: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for v in values {
            r.learn_str(v);
        }
        r
    }

    /// A kubeconfig Secret's structure is no secret: `apiVersion`, names and the server stay
    /// printable; its token and client key (plain, base64, decoded PEM lines) do not. Near miss:
    /// an env file's lines are still learned whole.
    /// The restarted search finds every start the overlapping one does: heads that overlap
    /// themselves and each other, back to back, at the ends, around multibyte text.
    #[test]
    fn head_starts_are_the_overlapping_matches() {
        let heads = ["aaaaaa", "aaaaab", "abcdef", "bcdefg", "é-pass", "zzzzzz"];
        // The overlapping search needs standard semantics; the redactor searches leftmost-first.
        let ac = AhoCorasick::new(heads).unwrap_or_else(|e| panic!("{e}"));
        let bytes: Vec<&[u8]> = heads.iter().map(|h| h.as_bytes()).collect();
        let leftmost = heads_finder(&bytes).unwrap_or_else(|e| panic!("{e}"));
        for text in [
            "",
            "aaaaa",
            "aaaaaaaaaaab",
            "xabcdefgx abcdefg",
            "aaaaabcdefg",
            "é-passé-pass",
            "zzzzzzzzzzzz",
            "no head here at all, not one",
            "aaaaaa",
        ] {
            let restarted: Vec<(usize, usize)> = head_starts(&leftmost, text).collect();
            let overlapping: Vec<(usize, usize)> = ac
                .find_overlapping_iter(text)
                .map(|m| (m.start(), m.pattern().as_usize()))
                .collect();
            assert_eq!(restarted, overlapping, "{text:?}");
        }
        // It does find them: 7 starts of "aaaaaa" or "aaaaab" in "aaaaaaaaaaab".
        assert_eq!(head_starts(&leftmost, "aaaaaaaaaaab").count(), 7);
    }

    #[test]
    fn a_kubeconfig_teaches_only_its_credentials() {
        let key_pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKo0c2VjcmV0LWtleS1saW5lLW9uZQ\n-----END EC PRIVATE KEY-----\n";
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote-cluster\n  cluster:\n    \
             server: https://k8s.example:6443\nusers:\n- name: eso-user\n  user:\n    token: \
             tok-9f8e7d6c5b4a\n- name: cert-user\n  user:\n    client-key-data: {}\ncontexts:\n- \
             name: eso@remote-cluster\n  context:\n    cluster: remote-cluster\n    user: eso-user\n\
             current-context: eso@remote-cluster\n",
            STANDARD.encode(key_pem)
        );
        let r = learned(&[&kc]);
        let report = "{\"apiVersion\": \"kubectl-eso/v1\", \"server\": \"https://k8s.example:6443\", \
                      \"context\": \"eso@remote-cluster\", \"kind\": \"Config\"}";
        assert_eq!(r.redact(report), report);
        for leak in [
            "tok-9f8e7d6c5b4a".to_string(),
            STANDARD.encode("tok-9f8e7d6c5b4a"),
            "MHcCAQEEIKo0c2VjcmV0LWtleS1saW5lLW9uZQ".to_string(),
            STANDARD.encode(key_pem),
            kc.clone(),
        ] {
            assert!(
                r.redact(&format!("said {leak} here")).contains(MARK),
                "{leak}"
            );
        }
        // Near miss: a multi-line env file is no kubeconfig; its lines are learned whole.
        let env = learned(&["DB_USER=app\nDB_PASSWORD=hunter2hunter2\n"]);
        assert!(env.redact("DB_PASSWORD=hunter2hunter2").contains(MARK));
    }

    /// A Secret holding a manifest teaches its lines whole only: a report's `apiVersion` and
    /// `kind` keys are not cuts of `apiVersion: v1` / `kind: ConfigMap`; the manifest, a whole
    /// line and their base64 forms are still replaced; a line printed cut short is not.
    #[test]
    fn a_multi_line_value_teaches_its_lines_whole_only() {
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n  \
                        namespace: team-a\ndata:\n  token: abcdefgh12345678\n";
        let r = learned(&[manifest]);
        for report in [
            "{\"apiVersion\": \"kubectl-eso/v1\", \"kind\": \"ScopeReport\", \"items\": []}",
            "apiVersion: kubectl-eso/v1\nkind: ScopeReport\n",
        ] {
            assert_eq!(r.redact(report), report);
        }
        let out = r.redact(&format!("value {manifest} end")).into_owned();
        assert!(out.contains(MARK) && !out.contains("abcdefgh"), "{out}");
        let out = r
            .redact(&format!("value {} end", STANDARD.encode(manifest)))
            .into_owned();
        assert_eq!(out, "value <redacted> end");
        // One whole line, plain and base64.
        assert_eq!(
            r.redact("leaked token: abcdefgh12345678 here"),
            "leaked <redacted> here"
        );
        let b64 = STANDARD.encode("token: abcdefgh12345678");
        assert_eq!(r.redact(&format!("b {b64} e")), "b <redacted> e");
        // Cut past its first line, the manifest is still replaced, plain and JSON-escaped.
        assert_eq!(
            r.redact_known("v apiVersion: v1\nkind: Con… e"),
            "v <redacted>… e"
        );
        assert_eq!(
            r.redact_known("v \"apiVersion: v1\\nkind: Con…\" e"),
            "v \"<redacted>…\" e"
        );
        // The decision: a line cut short, plain or base64, is no longer a cut of a learned value.
        assert_eq!(r.redact_known("token: abcdefgh…"), "token: abcdefgh…");
        let cut = format!("b {}… e", &b64[..12]);
        assert_eq!(r.redact_known(&cut), cut);
    }

    /// Near miss of the above: a single-line value, a JSON string and a `user:pass` part are
    /// still replaced when cut; a line also learned as a whole value stays cuttable, whichever
    /// Secret was read first, and after the index was built.
    #[test]
    fn a_single_line_value_is_still_replaced_when_cut() {
        let r = learned(&["apiVersion-canary-9f8e7d"]);
        assert_eq!(
            r.redact("{\"apiVersion\": \"kubectl-eso/v1\"}"),
            "{\"<redacted>\": \"kubectl-eso/v1\"}"
        );
        let auth = STANDARD.encode("robot:Sup3rS3cretPw");
        let r = learned(&[&format!(
            "{{\n  \"token\": \"leafToken-0123456789\",\n  \"auth\": \"{auth}\"\n}}"
        )]);
        assert_eq!(r.redact_known("t leafToken-01… e"), "t <redacted>… e");
        assert_eq!(r.redact_known("p Sup3rS3cr… e"), "p <redacted>… e");

        let manifest = "kind: Config\ndata:\n  token: abcdefgh12345678\n";
        let line = "token: abcdefgh12345678";
        for order in [[manifest, line], [line, manifest]] {
            let r = learned(&order);
            assert_eq!(r.redact_known("token: abcdefgh…"), "<redacted>…");
        }
        let mut r = learned(&[manifest]);
        assert_eq!(r.redact_known("token: abcdefgh…"), "token: abcdefgh…");
        r.learn_str(line);
        assert_eq!(r.redact_known("token: abcdefgh…"), "<redacted>…");
    }

    /// Credential-like lines keep the protection that matters: an env file's line printed whole,
    /// a PEM key printed whole, from its beginning, base64-encoded, or one body line whole.
    /// Near miss: the env file's key printed as a name is no cut of its line any more.
    #[test]
    fn credential_lines_printed_whole_are_still_replaced() {
        let env = learned(&["DB_USER=app\nDB_PASSWORD=s3cr3t-canary-value\n"]);
        let out = env.redact_known("line DB_PASSWORD=s3cr3t-canary-value end");
        assert_eq!(out, "line <redacted> end");
        let key = "{\"key\": \"DB_PASSWORD\"}";
        assert_eq!(env.redact_known(key), key);

        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\
                   BKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        let r = learned(&[pem]);
        for leak in [
            pem.to_string(),
            STANDARD.encode(pem),
            format!("{}…", &pem[..40]),
            format!("{}…", &STANDARD.encode(pem)[..48]),
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_string(),
        ] {
            let out = r.redact_known(&format!("key {leak} end")).into_owned();
            assert!(
                out.contains(MARK) && !out.contains("MIIEvQIBADANBgkq"),
                "{leak}: {out}"
            );
        }
    }

    #[test]
    fn issue_18_learned_value_replaced_in_every_form() {
        let r = learned(&[ID]);
        let sha = hex(
            ring::digest::digest(&ring::digest::SHA256, ID.as_bytes()).as_ref(),
            false,
        );
        for form in [
            ID.to_string(),
            STANDARD.encode(ID),
            URL_SAFE_NO_PAD.encode(ID),
            hex(ID.as_bytes(), false),
            hex(ID.as_bytes(), true),
            sha.clone(),
            sha.to_uppercase(),
        ] {
            let line = format!("app '{form}' is expired");
            let out = r.redact(&line);
            assert_eq!(out, "app '<redacted>' is expired", "{form}");
        }
    }

    #[test]
    fn issue_18_url_encoded_and_json_escaped_forms() {
        let secret = "p@ss w/rd\"x&y=z";
        let r = learned(&[secret]);
        let out = r.redact("u=a%40b&p=p%40ss%20w%2Frd%22x%26y%3Dz; form p%40ss+w%2Frd%22x%26y%3Dz");
        assert!(!out.contains("p%40ss"), "{out}");
        let json = serde_json::json!({ "m": format!("said {secret}") }).to_string();
        let out = r.redact(&json);
        assert!(!out.contains("w/rd"), "{out}");
        assert!(out.contains(MARK), "{out}");
    }

    #[test]
    fn issue_18_prefix_of_a_value_is_replaced_but_shared_beginnings_are_not() {
        let r = learned(&["k8sTokenValue0123456789", "https://vault.internal:8200"]);
        // A cut token.
        assert_eq!(
            r.redact("token k8sTokenV… (cut)"),
            "token <redacted>… (cut)"
        );
        assert_eq!(r.redact("k8sTokenValue01"), "<redacted>");
        // A different URL with the same scheme stays.
        assert_eq!(
            r.redact("see https://docs.example"),
            "see https://docs.example"
        );
        assert_eq!(
            r.redact("at https://vault.internal:8200/v1"),
            "at <redacted>/v1"
        );
    }

    #[test]
    fn issue_18_a_name_printed_on_purpose_is_not_a_cut_credential() {
        let mut r = learned(&["kube-sim-admin-0f3a9c2e7b1d4e5f"]);
        // Without the name published, its first 8 bytes read as a cut token.
        assert_eq!(r.redact("(context kube-sim)"), "(context <redacted>)");
        r.public("kube-sim");
        assert_eq!(r.redact("(context kube-sim)"), "(context kube-sim)");
        // The credential itself, whole or cut longer than the name, is still replaced.
        assert_eq!(
            r.redact("token kube-sim-admin-0f3a9c2e7b1d4e5f"),
            "token <redacted>"
        );
        assert_eq!(r.redact("token kube-sim-adm…"), "token <redacted>…");
    }

    #[test]
    fn issue_18_short_values_are_not_learned() {
        let r = learned(&["admin", "true"]);
        assert!(r.is_empty());
        assert_eq!(r.redact("admin said true"), "admin said true");
    }

    #[test]
    fn issue_18_learns_parts_of_structured_values() {
        let auth = STANDARD.encode("robot$ci:Sup3rS3cretPw");
        let docker = format!(
            r#"{{"auths":{{"reg.example":{{"username":"robot$ci","password":"Sup3rS3cretPw","auth":"{auth}"}}}}}}"#
        );
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        let r = learned(&[&docker, pem]);
        let out = r.redact("user robot$ci pw Sup3rS3cretPw line BKcwggSjAgEAAoIBAQC7");
        assert_eq!(out, "user <redacted> pw <redacted> line <redacted>");
    }

    #[test]
    fn issue_18_token_shapes_are_replaced_unlearned() {
        let cases = [
            (
                "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl end",
                "jwt <redacted> end",
            ),
            (
                "vault hvs.CAESIJ3kZ9bQwYxP1aB2cD3eF4gH end",
                "vault <redacted> end",
            ),
            (
                "legacy s.AbCdEfGhIjKlMnOpQrStUvWx end",
                "legacy <redacted> end",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "key <redacted> secret <redacted>",
            ),
            (
                "Authorization: Bearer abc.def-ghi, next",
                "Authorization: Bearer <redacted>, next",
            ),
            ("X-Vault-Token: 8c1e6f2a-x", "X-Vault-Token: <redacted>"),
            (
                "GET /v1?password=hunter22&token=abc123&name=ok",
                "GET /v1?password=<redacted>&token=<redacted>&name=ok",
            ),
            (
                r#"{"client_secret": "s3cr\"et", "name": "x"}"#,
                r#"{"client_secret": "<redacted>", "name": "x"}"#,
            ),
            (
                "pull https://user:pa55@reg.example/v2/ failed",
                "pull https://<redacted>@reg.example/v2/ failed",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_token_shapes(input), want, "{input}");
        }
    }

    #[test]
    fn issue_16_one_scan_finds_every_shape_anywhere() {
        let any = ANY_SHAPE.as_ref().expect("the shapes build one set");
        assert_eq!(
            any.len(),
            SHAPES.len() + 1,
            "every shape and the AWS key id"
        );
        let filler =
            "    \"name\": \"app-0001\",\n    \"store\": \"vault-backend\",\n".repeat(20_000);
        assert!(!any.is_match(&filler));
        assert!(matches!(redact_token_shapes(&filler), Cow::Borrowed(_)));
        // Near miss of the fast path: one shape deep inside a long ordinary text.
        for (shape, want) in [
            ("hvs.CAESIJ3kZ9bQwYxP1aB2cD3eF4gH", "<redacted>"),
            ("password=hunter22", "password=<redacted>"),
            ("AKIAIOSFODNN7EXAMPLE", "<redacted>"),
        ] {
            let text = format!("{filler}see {shape} end\n{filler}");
            let out = redact_token_shapes(&text);
            assert_eq!(out, format!("{filler}see {want} end\n{filler}"), "{shape}");
        }
    }

    #[test]
    fn issue_18_ordinary_output_is_untouched_and_borrowed() {
        let r = learned(&[ID]);
        let text = "NAMESPACE  NAME   STORE\nteam-a     db     vault-backend (ClusterSecretStore)\n\
                    create serviceaccounts/token: forbidden; authorization failed: no role\n\
                    sha 3b1f0c2d9e10aa33bb44cc55dd66ee77ff889900 at https://vault:8200/v1/secret\n";
        assert!(matches!(r.redact(text), Cow::Borrowed(_)));
        assert_eq!(SHAPES.len(), 11, "every credential shape compiles");
    }

    #[test]
    fn issue_18_control_sequences_go_before_values_are_matched() {
        let r = learned(&[ID]);
        let split = format!("x {}\u{1b}[0m{} y\n", &ID[..10], &ID[10..]);
        assert_eq!(r.redact(&split), "x <redacted> y\n");
        let coloured = "\u{1b}[31mbroken\u{1b}[0m \u{1b}]0;title\u{7}ok";
        assert_eq!(
            r.redact_keep_colour(coloured),
            "\u{1b}[31mbroken\u{1b}[0m ok"
        );
        assert_eq!(r.redact(coloured), "broken ok");
    }

    #[test]
    fn issue_18_multibyte_text_around_values_stays_valid() {
        let r = learned(&["ünïcödé-sécret"]);
        assert_eq!(r.redact("→ ünïcödé-sécret ←"), "→ <redacted> ←");
        assert_eq!(r.redact("→ ünïcödé… ←"), "→ <redacted>… ←");
    }

    #[test]
    fn issue_18_a_value_inside_a_public_identifier_is_not_replaced() {
        let mut r = learned(&["inventory-service", "canary-inventory-pw"]);
        r.public("inventory-service-regcred");
        let out = r.redact("ExternalSecret prod/inventory-service-regcred: canary-inventory-pw");
        assert_eq!(
            out,
            "ExternalSecret prod/inventory-service-regcred: <redacted>"
        );
    }

    #[test]
    fn issue_18_global_learning_reaches_output() {
        let v = "global-Only-Value-7f3a9c";
        learn(v.as_bytes());
        assert_eq!(output(&format!("a {v} b"), false), "a <redacted> b");
        assert!(!snapshot().is_empty());
    }
}
