//! Vault refusals explained with Vault's own configuration (issue 12, "explain provider refusals
//! with the user's own eyes"): the ACL policy language parsed (HCL and JSON forms), a path
//! evaluated against a token's policies as Vault does (exact paths, `*` globs, `+` segments, the
//! priority rules, union of one pattern's capabilities across policies, `deny`), a Kubernetes-auth
//! role's bindings compared with the ServiceAccount ESO logs in with, and a mount's KV version
//! compared with the store's. Pure: the facts come from `provider::vault::explain`.

use crate::diagnose::catalogue::*;
use crate::model::chain::{
    VaultExplain, VaultMountFacts, VaultPolicyFacts, VaultRoleFacts, VaultRule,
};

/// A sharper class than the one the error text gave, or more evidence for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explained {
    /// Replaces the finding's code when set.
    pub code: Option<&'static str>,
    /// Replaces the finding's cause when set.
    pub cause: Option<String>,
    pub evidence: Vec<String>,
    /// Commands that would tell what could not be read here.
    pub next: Vec<String>,
}

// ---- the policy language ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Ident(String),
    Sym(char),
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'/') => {
                for c in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'*') => {
                it.next();
                let mut prev = ' ';
                let mut closed = false;
                for c in it.by_ref() {
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err("a /* comment is not closed".into());
                }
            }
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = it.next() {
                    match c {
                        '\\' => match it.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(other) => s.push(other),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err("a string is not closed".into());
                }
                out.push(Tok::Str(s));
            }
            '{' | '}' | '[' | ']' | '=' | ',' | ':' => out.push(Tok::Sym(c)),
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let mut s = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '-' || n == '.' {
                        s.push(n);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(s));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// Skips one value (string, ident, list or block) starting at `i`; returns the index after it.
fn skip_value(t: &[Tok], mut i: usize) -> Result<usize, String> {
    match t.get(i) {
        Some(Tok::Sym(open @ ('{' | '['))) => {
            let close = if *open == '{' { '}' } else { ']' };
            let mut depth = 0usize;
            while let Some(tok) = t.get(i) {
                match tok {
                    Tok::Sym(c) if *c == *open => depth += 1,
                    Tok::Sym(c) if *c == close => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err("a block or list is not closed".into())
        }
        Some(_) => Ok(i + 1),
        None => Err("a value is missing".into()),
    }
}

fn string_list(t: &[Tok], mut i: usize) -> Result<(Vec<String>, usize), String> {
    if t.get(i) != Some(&Tok::Sym('[')) {
        // A single string is accepted by Vault's HCL too.
        return match t.get(i) {
            Some(Tok::Str(s)) => Ok((vec![s.clone()], i + 1)),
            _ => Err("capabilities is not a list".into()),
        };
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        match t.get(i) {
            Some(Tok::Str(s)) => out.push(s.to_ascii_lowercase()),
            Some(Tok::Sym(',')) => {}
            Some(Tok::Sym(']')) => return Ok((out, i + 1)),
            _ => return Err("capabilities is not a list of strings".into()),
        }
        i += 1;
    }
}

/// The rules of one ACL policy, in HCL or JSON. Other attributes (`allowed_parameters`, …) are
/// skipped: they narrow a request's parameters, never the path.
pub fn parse_policy(text: &str) -> Result<Vec<VaultRule>, String> {
    if text.trim_start().starts_with('{') {
        return parse_json_policy(text);
    }
    let t = tokens(text)?;
    let mut rules = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match (&t[i], t.get(i + 1)) {
            (Tok::Ident(kw), Some(Tok::Str(path))) if kw == "path" => {
                let path = path.clone();
                i += 2;
                if t.get(i) == Some(&Tok::Sym('=')) {
                    i += 1;
                }
                if t.get(i) != Some(&Tok::Sym('{')) {
                    return Err(format!("path {path:?} has no block"));
                }
                let end = skip_value(&t, i)?;
                let mut caps = Vec::new();
                let mut j = i + 1;
                while j < end - 1 {
                    let key = match &t[j] {
                        Tok::Ident(k) | Tok::Str(k) => Some(k.as_str()),
                        _ => None,
                    };
                    if key.is_some() && t.get(j + 1) == Some(&Tok::Sym('=')) {
                        if key == Some("capabilities") {
                            let (list, next) = string_list(&t, j + 2)?;
                            caps.extend(list);
                            j = next;
                        } else {
                            j = skip_value(&t, j + 2)?;
                        }
                    } else if key.is_some() && t.get(j + 1) == Some(&Tok::Sym('{')) {
                        j = skip_value(&t, j + 1)?;
                    } else {
                        j += 1;
                    }
                }
                rules.push(VaultRule {
                    path,
                    capabilities: caps,
                });
                i = end;
            }
            (Tok::Ident(_), Some(Tok::Sym('='))) => i = skip_value(&t, i + 2)?,
            (Tok::Ident(_), Some(Tok::Str(_))) => i = skip_value(&t, i + 2)?,
            (Tok::Ident(_), Some(Tok::Sym('{'))) => i = skip_value(&t, i + 1)?,
            _ => return Err("not a Vault policy".into()),
        }
    }
    Ok(rules)
}

fn parse_json_policy(text: &str) -> Result<Vec<VaultRule>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON policy: {e}"))?;
    let mut rules = Vec::new();
    if let Some(paths) = v.get("path").and_then(|p| p.as_object()) {
        for (path, body) in paths {
            let caps = body
                .get("capabilities")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str())
                .map(str::to_ascii_lowercase)
                .collect();
            rules.push(VaultRule {
                path: path.clone(),
                capabilities: caps,
            });
        }
    }
    Ok(rules)
}

// ---- evaluation -----------------------------------------------------------------------------

/// Does `pattern` (a policy path) match `path` (an API path without `/v1/`)?
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pat, glob) = match pattern.strip_suffix('*') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    if !pat.contains('+') {
        return if glob {
            path.starts_with(pat)
        } else {
            path == pat
        };
    }
    let p: Vec<&str> = pat.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    if glob {
        if s.len() < p.len() {
            return false;
        }
        let last = p.len() - 1;
        let head_ok = p[..last].iter().zip(&s).all(|(a, b)| *a == "+" || a == b);
        let last_ok = p[last] == "+" || s[last].starts_with(p[last]);
        // After a `+` as last segment, the glob still needs the rest to follow.
        head_ok && last_ok
    } else {
        p.len() == s.len() && p.iter().zip(&s).all(|(a, b)| *a == "+" || a == b)
    }
}

/// Vault's priority key: a larger key wins.
fn priority(pattern: &str) -> (usize, bool, std::cmp::Reverse<usize>, usize, String) {
    let first_wild = pattern.find(['+', '*']).unwrap_or(usize::MAX);
    let not_glob = !pattern.ends_with('*');
    let pluses = pattern.split('/').filter(|s| *s == "+").count();
    (
        first_wild,
        not_glob,
        std::cmp::Reverse(pluses),
        pattern.len(),
        pattern.to_string(),
    )
}

/// The capabilities the policies give on `path`, and the pattern that decided (with the
/// policies holding it). The `root` policy gives everything.
pub fn capabilities(
    policies: &[VaultPolicyFacts],
    path: &str,
) -> (Vec<String>, Option<(String, Vec<String>)>) {
    if policies.iter().any(|p| p.name == "root") {
        return (vec!["root".into()], Some(("*".into(), vec!["root".into()])));
    }
    let mut best: Option<&str> = None;
    for p in policies {
        for r in &p.rules {
            if pattern_matches(&r.path, path)
                && best.is_none_or(|b| priority(&r.path) > priority(b))
            {
                best = Some(&r.path);
            }
        }
    }
    let Some(best) = best else {
        return (Vec::new(), None);
    };
    let mut caps: Vec<String> = Vec::new();
    let mut holders = Vec::new();
    for p in policies {
        for r in p.rules.iter().filter(|r| r.path == best) {
            caps.extend(r.capabilities.iter().cloned());
            holders.push(p.name.clone());
        }
    }
    holders.dedup();
    if caps.iter().any(|c| c == "deny") {
        caps = vec!["deny".into()];
    }
    caps.sort();
    caps.dedup();
    (caps, Some((best.to_string(), holders)))
}

fn reads(caps: &[String]) -> bool {
    caps.iter().any(|c| c == "read" || c == "root")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The `vault` and `bao` commands that show a policy, a role, a mount.
fn cmd(args: &str) -> String {
    format!("vault {args}   (OpenBao: bao {args})")
}

/// ESO's token may not read `data_path` (`<mount>/data/<key>` on KV v2, `<mount>/<key>` on v1):
/// which rule says so, and whether a rule meant for it misses KV v2's `data/`.
pub fn denied_read(
    x: &VaultExplain,
    token_policies: &[String],
    mount: &str,
    kv_version: &str,
    key: &str,
    data_path: &str,
) -> Explained {
    let mut e = Explained::default();
    let unread: Vec<&String> = token_policies
        .iter()
        .filter(|p| *p != "default" && !x.policies.iter().any(|q| &q.name == *p))
        .collect();
    // The probe's own next step already lists `vault policy read` for each policy.
    if x.policies.is_empty() {
        e.evidence.extend(x.policies_unread.iter().cloned());
        return e;
    }
    let (caps, decided) = capabilities(&x.policies, data_path);
    match &decided {
        Some((pattern, holders)) => e.evidence.push(format!(
            "the rule that decides for {data_path} is path \"{pattern}\" in policy {} \
             (capabilities: {})",
            holders.join(", "),
            list(&caps)
        )),
        None => e.evidence.push(format!(
            "no rule of the policies {} matches {data_path}",
            list(
                &x.policies
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
            )
        )),
    }
    if !unread.is_empty() {
        e.evidence.push(format!(
            "not read: polic{} {} (they may grant more)",
            if unread.len() == 1 { "y" } else { "ies" },
            unread
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if reads(&caps) {
        e.evidence.push(
            "the policies as read now grant read: ESO's token may have been issued before a \
             policy change, or another namespace's policy applies"
                .into(),
        );
        return e;
    }
    let relative = key.trim_start_matches('/');
    let relative = relative
        .strip_prefix(&format!("{mount}/"))
        .unwrap_or(relative);
    if kv_version != "v1" {
        let v1_path = format!("{mount}/{relative}");
        let (v1_caps, v1_rule) = capabilities(&x.policies, &v1_path);
        if reads(&v1_caps)
            && let Some((pattern, holders)) = v1_rule
        {
            e.code = Some(VAULT_POLICY_PATH_KV2_DATA);
            e.cause = Some(format!(
                "policy {} grants read on \"{pattern}\" ({v1_path}); on this KV v2 mount ESO \
                 reads {data_path}: the rule needs the data/ prefix (path \"{mount}/data/{relative}\")",
                holders.join(", ")
            ));
            return e;
        }
    }
    // A plain lack of read is already said by the probe; the rule that decided is evidence. An
    // explicit deny is a cause of its own.
    if let Some((pattern, holders)) = decided
        && caps.iter().any(|c| c == "deny")
    {
        e.cause = Some(format!(
            "policy {} denies {data_path} (path \"{pattern}\")",
            holders.join(", ")
        ));
    }
    e
}

/// `*` anywhere in a bound name or namespace, as Vault's kubernetes auth accepts.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// The role's bindings against the ServiceAccount ESO logged in with.
pub fn role_binding(x: &VaultExplain, role: &str, mount: &str) -> Explained {
    let mut e = Explained::default();
    if let Some(mounts) = &x.auth_mounts
        && !mounts.iter().any(|m| m == mount.trim_matches('/'))
    {
        // Vault refuses a login at a path where nothing is mounted with a bare 403, as it
        // refuses a bad credential: the auth mount table tells them apart.
        e.code = Some(VAULT_AUTH_MOUNT_MISSING);
        let mut listed: Vec<&str> = mounts.iter().map(String::as_str).collect();
        listed.sort_unstable();
        e.cause = Some(format!(
            "no auth method is mounted at auth/{mount}/ (the store's auth mountPath); mounted: {}",
            listed
                .iter()
                .map(|m| format!("{m}/"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return e;
    }
    let Some(r) = &x.role else {
        // The login's next step already says `vault read auth/MOUNT/role/NAME`.
        if let Some(why) = &x.role_unread {
            e.evidence.push(why.clone());
        }
        return e;
    };
    if !r.exists {
        e.code = Some(VAULT_ROLE_MISSING);
        e.cause = Some(format!("role {role} does not exist on auth/{mount}"));
        e.next.push(cmd(&format!("list auth/{mount}/role")));
        return e;
    }
    e.evidence.push(format!(
        "role {role}: bound_service_account_names [{}], bound_service_account_namespaces [{}]{}",
        r.bound_service_account_names.join(", "),
        r.bound_service_account_namespaces.join(", "),
        r.audience
            .as_deref()
            .map(|a| format!(", audience {a}"))
            .unwrap_or_default()
    ));
    let Some((ns, name)) = x.service_account.as_deref().and_then(|s| s.split_once('/')) else {
        return e;
    };
    e.evidence
        .push(format!("ESO logs in as ServiceAccount {ns}/{name}"));
    let name_ok = r.bound_service_account_names.iter().any(|p| glob(p, name));
    let ns_ok = r.namespace_selector.is_some()
        || r.bound_service_account_namespaces
            .iter()
            .any(|p| glob(p, ns));
    if !name_ok {
        e.code = Some(VAULT_ROLE_BINDING_MISMATCH);
        e.cause = Some(format!(
            "role {role} binds ServiceAccounts [{}], not {name} (the ServiceAccount ESO logs in \
             with, in {ns})",
            r.bound_service_account_names.join(", ")
        ));
    } else if !ns_ok {
        e.code = Some(VAULT_ROLE_BINDING_MISMATCH);
        e.cause = Some(format!(
            "role {role} binds namespaces [{}], not {ns} (where ServiceAccount {name} lives)",
            r.bound_service_account_namespaces.join(", ")
        ));
    } else if let Some(aud) = &r.audience
        && !x.audiences.iter().any(|a| a == aud)
    {
        e.code = Some(VAULT_ROLE_BINDING_MISMATCH);
        e.cause = Some(format!(
            "role {role} requires audience {aud}; ESO's token carries {}",
            if x.audiences.is_empty() {
                "the API server's default audience (serviceAccountRef.audiences is empty)"
                    .to_string()
            } else {
                x.audiences.join(", ")
            }
        ));
    }
    if r.namespace_selector.is_some() {
        e.evidence.push(
            "the role selects namespaces by label (bound_service_account_namespace_selector): \
             not evaluated here"
                .into(),
        );
    }
    e
}

/// Whether `kubernetes_host` is the API server's in-cluster address: the `kubernetes` Service by
/// name (`kubernetes`, `kubernetes.default`, `kubernetes.default.svc[.<cluster domain>]`) or by its
/// ClusterIP (what KUBERNETES_SERVICE_HOST gives a pod). Only a Vault in a pod reaches those.
pub fn in_cluster_api(kubernetes_host: &str, api_service_ip: Option<&str>) -> bool {
    let rest = kubernetes_host
        .split_once("://")
        .map_or(kubernetes_host, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                authority
            }
        }),
    }
    .trim_end_matches('.')
    .to_ascii_lowercase();
    let by_name = host == "kubernetes"
        || host == "kubernetes.default"
        || host == "kubernetes.default.svc"
        || host.starts_with("kubernetes.default.svc.");
    by_name || api_service_ip.is_some_and(|ip| !ip.is_empty() && host == ip.to_ascii_lowercase())
}

/// A kubernetes login refused without a reason: who sends the TokenReview (the auth mount's
/// config, read with the user's token) and whether that ServiceAccount may (a SubjectAccessReview).
pub fn token_review(x: &VaultExplain, mount: &str) -> Explained {
    let mut e = Explained::default();
    let sa = x
        .service_account
        .as_deref()
        .unwrap_or("ESO's ServiceAccount");
    if let Some(why) = &x.reviewer_unchecked {
        e.evidence.push(why.clone());
    }
    if let Some(why) = &x.auth_config_unread {
        e.evidence.push(why.clone());
    }
    if let Some(c) = &x.auth_config {
        e.evidence.push(format!(
            "auth/{mount}/config: kubernetes_host {}, token_reviewer_jwt {}",
            if c.kubernetes_host.is_empty() {
                "(empty)"
            } else {
                &c.kubernetes_host
            },
            if c.token_reviewer_jwt_set {
                "set (Vault reviews with that JWT's ServiceAccount)"
            } else {
                "not set (Vault reviews each token with the token itself)"
            }
        ));
    }
    match (x.reviewer_may_review, &x.auth_config) {
        // Vault inside the cluster (it reaches the API server by its in-cluster name) reviews
        // with its own pod's ServiceAccount unless disable_local_ca_jwt: ESO's grant is beside
        // the point, and granting it would only add a privilege.
        (Some(false), Some(c))
            if !c.token_reviewer_jwt_set
                && c.disable_local_ca_jwt != Some(true)
                && in_cluster_api(&c.kubernetes_host, x.api_service_ip.as_deref()) =>
        {
            e.evidence.push(format!(
                "Vault reaches the API server as {} (inside the cluster) and has no \
                 token_reviewer_jwt: it reviews with its own pod's ServiceAccount, which needs \
                 system:auth-delegator (kubectl get clusterrolebindings -o wide | grep \
                 auth-delegator); that ServiceAccount {sa} may not review does not matter",
                c.kubernetes_host
            ));
        }
        (Some(false), Some(c)) if !c.token_reviewer_jwt_set => {
            e.code = Some(VAULT_TOKENREVIEW_REFUSED);
            e.cause = Some(format!(
                "auth/{mount} has no token_reviewer_jwt, so Vault sends the TokenReview with \
                 ESO's own token, and ServiceAccount {sa} may not create tokenreviews (it is not \
                 bound to the system:auth-delegator ClusterRole): the Kubernetes API refuses the \
                 review and Vault answers permission denied"
            ));
        }
        (Some(false), Some(_)) => e.evidence.push(format!(
            "ServiceAccount {sa} may not create tokenreviews, which matters only without a \
             token_reviewer_jwt: the reviewer JWT's own ServiceAccount needs \
             system:auth-delegator"
        )),
        (Some(false), None) => {
            e.code = Some(VAULT_TOKENREVIEW_REFUSED);
            e.cause = Some(format!(
                "ServiceAccount {sa} may not create tokenreviews (it is not bound to the \
                 system:auth-delegator ClusterRole): unless auth/{mount} has a \
                 token_reviewer_jwt, Vault reviews ESO's token with that token and is refused"
            ));
            e.next.push(cmd(&format!("read auth/{mount}/config")));
        }
        (Some(true), _) => e.evidence.push(format!(
            "ServiceAccount {sa} may create tokenreviews: the review is not refused for want of \
             system:auth-delegator; check kubernetes_host and its CA, or whether the \
             ServiceAccount was recreated"
        )),
        (None, _) => {}
    }
    e
}

/// The mount as Vault reports it against the store's `path` and `version`.
pub fn mount(x: &VaultExplain, store_mount: &str, store_version: &str) -> Explained {
    let mut e = Explained::default();
    let Some(m) = &x.mount else {
        if let Some(why) = &x.mount_unread {
            e.evidence.push(why.clone());
        }
        return e;
    };
    if !m.exists {
        e.code = Some(VAULT_MOUNT_MISSING);
        e.cause = Some(format!(
            "nothing is mounted at {store_mount}/ on this Vault (the store's \
             spec.provider.vault.path)"
        ));
        return e;
    }
    if m.type_
        .as_deref()
        .is_some_and(|t| t != "kv" && t != "generic")
    {
        e.code = Some(VAULT_MOUNT_MISSING);
        e.cause = Some(format!(
            "{store_mount}/ is a {} secrets engine, not KV",
            m.type_.as_deref().unwrap_or_default()
        ));
        return e;
    }
    let mount_v = match m.kv_version.as_deref() {
        Some("2") => "v2",
        _ => "v1",
    };
    e.evidence
        .push(format!("mount {store_mount}/ is KV {mount_v}"));
    if mount_v != store_version {
        e.code = Some(VAULT_KV_VERSION_MISMATCH);
        e.cause = Some(format!(
            "the store says version {store_version} but {store_mount}/ is a KV {mount_v} \
             engine: ESO reads the wrong API path (set spec.provider.vault.version: {mount_v})"
        ));
    }
    e
}

/// The mount facts from `sys/internal/ui/mounts/<path>`'s answer data.
pub fn mount_facts(path: &str, data: &serde_json::Value) -> VaultMountFacts {
    VaultMountFacts {
        path: path.to_string(),
        exists: true,
        type_: data
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_string),
        kv_version: data
            .pointer("/options/version")
            .and_then(|v| v.as_str())
            .map(str::to_string),
    }
}

/// The role facts from `auth/<mount>/role/<name>`'s answer data.
pub fn role_facts(path: &str, data: &serde_json::Value) -> VaultRoleFacts {
    let strings = |k: &str| -> Vec<String> {
        match data.get(k) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect(),
            Some(serde_json::Value::String(s)) if !s.is_empty() => {
                s.split(',').map(|p| p.trim().to_string()).collect()
            }
            _ => Vec::new(),
        }
    };
    let mut policies = strings("token_policies");
    if policies.is_empty() {
        policies = strings("policies");
    }
    VaultRoleFacts {
        path: path.to_string(),
        exists: true,
        bound_service_account_names: strings("bound_service_account_names"),
        bound_service_account_namespaces: strings("bound_service_account_namespaces"),
        namespace_selector: data
            .get("bound_service_account_namespace_selector")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        audience: data
            .get("audience")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        policies,
    }
}

#[cfg(test)]
#[path = "vault_explain_tests.rs"]
mod tests;
