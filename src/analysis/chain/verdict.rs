//! The verdict: the first broken link on the way from the store to the application, its cause in
//! one sentence, who is hurt by it, and the commands to run next. Commands never print a secret
//! value (`kubectl describe secret` shows key names and sizes only); an id that lives in a Secret
//! (a service principal's client id) is read by the user's shell in the command itself
//! (`$(kubectl get secret … | base64 -d)`), so the command runs as printed with no placeholder.

use super::{credential_rejected, failing_consumers, store_label};
use crate::analysis::consumers::{read_at_start, rollout_restartable};
use crate::model::chain::*;

/// Where to look first: the cause lies upstream, the ExternalSecret's own state is the symptom.
const ORDER: [LinkName; 6] = [
    LinkName::Store,
    LinkName::Credentials,
    LinkName::Provider,
    LinkName::Target,
    LinkName::ExternalSecret,
    LinkName::Consumers,
];

pub fn verdict(f: &ChainFacts, links: &[LinkReport]) -> ChainVerdict {
    let find = |state: LinkState| {
        ORDER
            .iter()
            .find_map(|name| links.iter().find(|l| l.link == *name && l.state == state))
    };
    let es = &f.external_secret;
    // A ClusterExternalSecret overwrites its children's annotations: resync it instead.
    let force_sync = match &es.owner_cluster_external_secret {
        Some(ces) => format!(
            "kubectl annotate clusterexternalsecret {ces} force-sync=$(date +%s) --overwrite"
        ),
        None => format!("kubectl eso force-sync {} -n {}", es.name, es.namespace),
    };
    let force_sync = after_store_is_ready(f, force_sync);
    let (impact, restarts) = impact(f);
    let mut first = find(LinkState::Broken);
    // A store that exists but is not Ready is the symptom when its credentials or the provider
    // show the cause: name the cause.
    if first.is_some_and(|l| l.link == LinkName::Store)
        && f.store.found == Some(true)
        && f.store.admits_namespace != Some(false)
    {
        let deeper = links.iter().find(|l| {
            matches!(l.link, LinkName::Credentials | LinkName::Provider)
                && l.state == LinkState::Broken
        });
        first = deeper.or(first);
    }
    let Some(broken) = first else {
        let failed_lookup = links
            .iter()
            .find(|l| l.state == LinkState::Unknown && l.error.is_some());
        if let Some(l) = failed_lookup {
            return ChainVerdict {
                code: None,
                state: LinkState::Unknown,
                link: Some(l.link),
                cause: format!(
                    "could not check the {} link: {}",
                    l.link.as_str(),
                    l.error.as_deref().unwrap_or("")
                ),
                impact,
                next: vec![
                    "check your RBAC: kubectl auth can-i --list -n ".to_string() + &es.namespace,
                ],
            };
        }
        if let Some(w) = find(LinkState::Warning) {
            let mut next = restarts;
            if w.link == LinkName::ExternalSecret {
                next.push(force_sync);
            }
            return ChainVerdict {
                code: None,
                state: LinkState::Warning,
                link: Some(w.link),
                cause: w.error.clone().unwrap_or_else(|| w.summary.clone()),
                impact,
                next,
            };
        }
        return ChainVerdict {
            code: None,
            state: LinkState::Ok,
            link: None,
            cause: format!(
                "{}/{} is synced and {} holds the provider's value as far as checked",
                es.namespace, es.name, f.target.name
            ),
            impact,
            next: Vec::new(),
        };
    };
    let mut next = Vec::new();
    let cause = match broken.link {
        LinkName::Store => store_cause(f, broken, &mut next),
        LinkName::Credentials => credentials_cause(f, broken, &mut next, &force_sync),
        LinkName::Provider => provider_cause(f, broken, &mut next, &force_sync),
        LinkName::Target => target_cause(f, broken, &mut next, &force_sync),
        LinkName::ExternalSecret => {
            next.push(format!(
                "kubectl describe externalsecret {} -n {}",
                es.name, es.namespace
            ));
            next.push(force_sync);
            format!(
                "{}/{} is not synced: {}",
                es.namespace,
                es.name,
                broken.error.as_deref().unwrap_or(&broken.summary)
            )
        }
        LinkName::Consumers => broken.error.clone().unwrap_or_default(),
    };
    next.extend(restarts);
    ChainVerdict {
        code: None,
        state: LinkState::Broken,
        link: Some(broken.link),
        cause: crate::sanitize::line(&cause),
        impact,
        next,
    }
}

/// force-sync refuses an ExternalSecret whose store is not Ready (issue 13): then the step says
/// so, and how to see the store become Ready, instead of suggesting a command that fails.
fn after_store_is_ready(f: &ChainFacts, force_sync: String) -> String {
    let s = &f.store;
    let ready = s.ready.as_ref().is_some_and(|r| r.status == "True");
    if ready || s.found != Some(true) {
        return force_sync;
    }
    let ns_flag = s
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    format!(
        "after fixing the store (kubectl get {} {}{ns_flag} shows READY True): {force_sync}",
        s.kind.to_ascii_lowercase(),
        s.name
    )
}

/// The service principal's client id as the user's shell reads it from the store's credentials
/// Secret: a command that runs as printed, while the id itself (Secret data) is never printed.
fn client_id_from_secret(f: &ChainFacts) -> Option<String> {
    from_secret(f, "clientId")
}

/// The credential of `purpose` (`clientId`, `accessKeyID`) as a shell substitution that reads it
/// from its Secret when the command runs.
pub(super) fn from_secret(f: &ChainFacts, purpose: &str) -> Option<String> {
    let c = f.credentials.iter().find(|c| c.purpose == purpose)?;
    let (ns, name) = c.object.strip_prefix("Secret ")?.split_once('/')?;
    let key = c.key.as_deref()?.replace('.', "\\.");
    Some(format!(
        "\"$(kubectl get secret {name} -n {ns} -o jsonpath='{{.data.{key}}}' | base64 -d)\""
    ))
}

/// A shell substitution that reads one field of the chain's store (`jsonpath` under
/// `.spec.provider`), for a next step whose value the facts lack (issue 13: never a placeholder).
pub(super) fn from_store(f: &ChainFacts, jsonpath: &str) -> String {
    format!("\"$({})\"", store_get(f, jsonpath))
}

/// `kubectl get secretstore NAME -n NS -o jsonpath='{.spec.provider.<jsonpath>}'`.
pub(super) fn store_get(f: &ChainFacts, jsonpath: &str) -> String {
    let store = &f.store;
    // ESO's default kind for a storeRef; a SecretStore lives in its ExternalSecret's namespace.
    let kind = match store.kind.as_str() {
        "" => "SecretStore",
        k => k,
    };
    let namespace = store
        .namespace
        .as_deref()
        .or(Some(f.external_secret.namespace.as_str()))
        .filter(|ns| !ns.is_empty() && kind != "ClusterSecretStore")
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    format!(
        "kubectl get {} {}{namespace} -o jsonpath='{{.spec.provider.{jsonpath}}}'",
        kind.to_lowercase(),
        store.name
    )
}

/// Failing workloads, and the restarts they will need once the Secret is right.
fn impact(f: &ChainFacts) -> (Vec<String>, Vec<String>) {
    let ns = &f.external_secret.namespace;
    let mut impact = Vec::new();
    let mut restarts = Vec::new();
    for c in failing_consumers(&f.consumers) {
        impact.push(format!(
            "{}/{} ({})",
            c.kind,
            c.name,
            c.state.as_deref().unwrap_or("")
        ));
        if matches!(c.kind.as_str(), "deployment" | "statefulset" | "daemonset") {
            restarts.push(format!(
                "kubectl rollout restart {}/{} -n {ns}",
                c.kind, c.name
            ));
        }
    }
    let stale: Vec<String> = f
        .consumers
        .items
        .iter()
        .filter(|p| p.started_before_change == Some(true) && read_at_start(&p.uses))
        .filter_map(|p| p.workload.clone())
        .collect();
    for w in stale {
        let cmd = format!("kubectl rollout restart {w} -n {ns}");
        if !restarts.contains(&cmd) && rollout_restartable(&w) {
            impact.push(format!("{w} (started before the Secret changed)"));
            restarts.push(cmd);
        }
    }
    (impact, restarts)
}

fn store_cause(f: &ChainFacts, l: &LinkReport, next: &mut Vec<String>) -> String {
    // The link may be a per-entry store's (issue 14): name that one.
    let s = f
        .other_stores
        .iter()
        .find(|s| l.summary.starts_with(&store_label(s)))
        .unwrap_or(&f.store);
    let field = if std::ptr::eq(s, &f.store) {
        "spec.secretStoreRef"
    } else {
        "spec.data[].sourceRef.storeRef / spec.dataFrom[].sourceRef.storeRef"
    };
    let ns_flag = s
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    if s.generator.is_some() && (s.found == Some(false) || s.error.is_some()) {
        let plural = format!(
            "{}s.generators.external-secrets.io",
            s.kind.to_ascii_lowercase()
        );
        next.push(match &s.namespace {
            Some(ns) => format!("kubectl get {plural} -n {ns}"),
            None => format!("kubectl get {plural}"),
        });
        next.push(format!(
            "fix spec.dataFrom[].sourceRef.generatorRef of {} in Git",
            f.external_secret.name
        ));
    } else if s.found == Some(false) || s.error.is_some() {
        next.push(format!(
            "kubectl get secretstores -n {} ; kubectl get clustersecretstores",
            f.external_secret.namespace
        ));
        next.push(format!("fix {field} of {} in Git", f.external_secret.name));
    } else if s.admits_namespace == Some(false) {
        next.push(format!(
            "kubectl get clustersecretstore {} -o yaml   # see spec.conditions",
            s.name
        ));
    } else {
        next.push(format!(
            "kubectl describe {} {}{ns_flag}",
            s.kind.to_ascii_lowercase(),
            s.name
        ));
        next.push(format!(
            "kubectl eso scope -A --store {}/{}",
            s.kind, s.name
        ));
    }
    format!(
        "{}: {}",
        store_label(s),
        l.error.as_deref().unwrap_or(&l.summary)
    )
}

fn credentials_cause(
    f: &ChainFacts,
    l: &LinkReport,
    next: &mut Vec<String>,
    force_sync: &str,
) -> String {
    let bad = f
        .credentials
        .iter()
        .find(|c| c.exists == Some(false) || c.key_present == Some(false));
    if let Some(c) = bad {
        if let Some((ns, name)) = c
            .object
            .strip_prefix("Secret ")
            .and_then(|o| o.split_once('/'))
        {
            next.push(format!("kubectl describe secret {name} -n {ns}"));
        }
        next.push(force_sync.to_string());
        return format!(
            "the store's {} credential is unusable: {}",
            c.purpose,
            c.error.as_deref().unwrap_or("")
        );
    }
    if credential_rejected(&f.provider) {
        let secret = f
            .credentials
            .iter()
            .find(|c| c.purpose == "clientSecret")
            .map(|c| format!("{}[{}]", c.object, c.key.as_deref().unwrap_or("")))
            .unwrap_or_else(|| "the credentials Secret".into());
        match client_id_from_secret(f) {
            Some(id) => next.push(format!(
                "az ad app credential reset --id {id}   # a new client secret"
            )),
            None => {
                next.push("create a new client secret for the store's service principal".into())
            }
        }
        next.push(format!(
            "store the new client secret in {secret} (in Git / your secret pipeline)"
        ));
        next.push(force_sync.to_string());
        let what = match f.provider.login_code.as_deref() {
            Some("AADSTS7000222") => "the service principal's client secret has expired",
            _ => "Entra ID rejects the service principal's client secret",
        };
        return format!(
            "{what} ({}): {}",
            f.provider.login_code.as_deref().unwrap_or(""),
            l.error.as_deref().unwrap_or("")
        );
    }
    l.error.clone().unwrap_or_else(|| l.summary.clone())
}

fn provider_cause(
    f: &ChainFacts,
    l: &LinkReport,
    next: &mut Vec<String>,
    force_sync: &str,
) -> String {
    let p = &f.provider;
    let s = &f.store;
    let is_vault = s.provider.as_deref() == Some("vault");
    if let Some(e) = &p.login_error {
        if s.provider.as_deref() == Some("aws") {
            super::verdict_aws::login_next(f, next, force_sync);
        }
        if s.provider.as_deref() == Some("kubernetes") {
            let store = match &s.namespace {
                Some(ns) => format!("kubectl describe secretstore {} -n {ns}", s.name),
                None => format!("kubectl describe clustersecretstore {}", s.name),
            };
            if p.login_code.as_deref() == Some("HTTP 401") {
                next.extend(crate::diagnose::kubernetes::rejected_next(
                    &s.settings,
                    &store,
                ));
                return format!(
                    "{}: {e}",
                    crate::diagnose::kubernetes::rejected_cause(
                        &s.settings,
                        p.kubeconfig_user.as_deref(),
                    )
                );
            }
            // ESO builds no client: the store's CA or client certificate is the fault.
            match p.login_code.as_deref() {
                Some(crate::provider::kubernetes::LOGIN_CA_INVALID) => {
                    next.push(crate::diagnose::kubernetes::CA_INVALID_NEXT.to_string());
                    next.push(store);
                    return e.clone();
                }
                Some(crate::provider::kubernetes::LOGIN_KUBECONFIG_INVALID) => {
                    next.push(crate::diagnose::kubernetes::kubeconfig_invalid_next(
                        &s.settings,
                    ));
                    next.push(store);
                    return e.clone();
                }
                Some(crate::provider::kubernetes::LOGIN_CLIENT_CERT_INVALID) => {
                    next.push(crate::diagnose::kubernetes::client_cert_invalid_next(
                        &s.settings,
                    ));
                    next.push(store);
                    return e.clone();
                }
                _ => {}
            }
            next.push(store);
        }
        if is_vault {
            let mount = s.settings.get("mountPath").cloned().unwrap_or_default();
            if e.contains("invalid role name") {
                // There is no role to read: the roles there are (doctor's vault-role-missing).
                next.push(format!("vault list auth/{mount}/role"));
            } else if let Some(role) = s.settings.get("role") {
                next.push(format!("vault read auth/{mount}/role/{role}"));
            }
        }
        return format!(
            "login to {} as {} failed: {e}",
            s.provider.as_deref().unwrap_or("the provider"),
            p.identity.as_deref().unwrap_or("the store's identity")
        );
    }
    let now_bad = p.keys.iter().find(|k| {
        k.readable == Some(false)
            || k.exists == Some(false)
            || k.enabled == Some(false)
            || k.error.is_some()
            || k.property_exists == Some(false)
    });
    let Some(k) = now_bad else {
        next.push(force_sync.to_string());
        return l.error.clone().unwrap_or_else(|| l.summary.clone());
    };
    if is_vault && k.readable == Some(false) {
        let grantor = match &p.role {
            Some(r) => format!("role {r} grants"),
            None => "the token has".to_string(),
        };
        if let Some(guess) = missing_policy_guess(&p.policies, &k.key) {
            next.push(format!("vault policy read {guess}"));
        }
        if let (Some(role), Some(mount)) = (&p.role, s.settings.get("mountPath")) {
            next.push(format!("vault read auth/{mount}/role/{role}"));
        }
        next.push(force_sync.to_string());
        return format!(
            "{grantor} policies [{}]; none allows {} on {}",
            p.policies.join(", "),
            k.needs.as_deref().unwrap_or("read"),
            k.path
        );
    }
    if is_vault {
        next.push(format!(
            "vault kv metadata get {}",
            k.path.replacen("/data/", "/", 1)
        ));
        next.push(format!(
            "fix remoteRef.key of {} in Git if the path is wrong",
            f.external_secret.name
        ));
        return l.error.clone().unwrap_or_default();
    }
    if s.provider.as_deref() == Some("kubernetes") {
        let es = &f.external_secret;
        if k.readable == Some(false) {
            next.extend(crate::diagnose::kubernetes::denied_next(
                &s.settings,
                s.kube_cluster.as_ref(),
                &k.key,
                k.error.as_deref(),
            ));
            next.push(force_sync.to_string());
            return crate::diagnose::kubernetes::denied_cause(
                &k.key,
                &crate::diagnose::kubernetes::remote_namespace(&s.settings),
                k.error.as_deref(),
            );
        }
        if k.exists == Some(false) {
            next.extend(crate::diagnose::kubernetes::missing_next(
                &s.settings,
                s.kube_cluster.as_ref(),
            ));
            next.push(format!("fix remoteRef.key of {} in Git", es.name));
            let mut cause = l.error.clone().unwrap_or_default();
            if let Some(n) = &k.did_you_mean {
                cause = format!("{cause}; did you mean {n}?");
            }
            return cause;
        }
        next.push(force_sync.to_string());
        return l.error.clone().unwrap_or_default();
    }
    if s.provider.as_deref() == Some("aws") {
        return super::verdict_aws::key_cause(
            f,
            k,
            l.error.as_deref().unwrap_or_default(),
            next,
            force_sync,
        );
    }
    azure_cause(
        f,
        k,
        l.error.as_deref().unwrap_or_default(),
        next,
        force_sync,
    )
}

fn azure_cause(
    f: &ChainFacts,
    k: &KeyFacts,
    fallback: &str,
    next: &mut Vec<String>,
    force_sync: &str,
) -> String {
    let known = f
        .store
        .settings
        .get("vaultUrl")
        .and_then(|u| u.split("://").nth(1))
        .and_then(|h| h.split('.').next())
        .map(str::to_string);
    // In commands: the vault's name, else read from the store (the first label of its
    // vaultUrl's host); in sentences: the name, else "the store's vault".
    let vault_arg = known.clone().unwrap_or_else(|| {
        let url = from_store(f, "azurekv.vaultUrl");
        format!("\"$(echo {url} | cut -d/ -f3 | cut -d. -f1)\"")
    });
    let name = known
        .clone()
        .unwrap_or_else(|| "the store's Key Vault".into());
    let vault = match known {
        Some(name) => format!("Key Vault {name}"),
        None => name.clone(),
    };
    let code = k.code.as_deref().unwrap_or("");
    let cause = match code {
        "SecretNotFound" => {
            next.push(format!(
                "az keyvault secret list --vault-name {vault_arg} --query \"[].name\""
            ));
            next.push(format!(
                "fix remoteRef.key of {} in Git",
                f.external_secret.name
            ));
            let hint = k
                .did_you_mean
                .as_deref()
                .map(|n| format!("; did you mean {n}?"))
                .unwrap_or_default();
            format!(
                "{vault} has no secret named {} (404 SecretNotFound){hint}",
                k.key
            )
        }
        "SecretDisabled" => {
            next.push(format!(
                "az keyvault secret set-attributes --vault-name {vault_arg} --name {} --enabled true",
                k.key
            ));
            format!(
                "secret {} is disabled in {vault} (403 SecretDisabled)",
                k.key
            )
        }
        "ForbiddenByRbac" => {
            let scope = format!("\"$(az keyvault show --name {vault_arg} --query id -o tsv)\"");
            match client_id_from_secret(f) {
                Some(id) => next.push(format!("az role assignment create --role \"Key Vault Secrets User\" --assignee {id} --scope {scope}")),
                None => next.push(format!("grant the store's identity the role \"Key Vault Secrets User\" on {vault} (az role assignment create … --scope {scope})")),
            }
            format!(
                "the store's identity has no RBAC role allowing get on {} in {name}: \"Key Vault Secrets User\" is missing (403 ForbiddenByRbac)",
                k.key
            )
        }
        "AccessDenied" | "ForbiddenByPolicy" => {
            match client_id_from_secret(f) {
                Some(id) => next.push(format!("az keyvault set-policy --name {vault_arg} --spn {id} --secret-permissions get list")),
                None => next.push(format!("give the store's identity get and list on secrets in the access policies of {vault} (az keyvault set-policy --name {vault_arg} …)")),
            }
            format!(
                "the vault's access policies do not give the store's identity get on secrets in {name} (403 {code})"
            )
        }
        "ForbiddenByFirewall" => {
            next.push(format!("az keyvault network-rule list --name {vault_arg}"));
            format!("{vault}'s firewall blocks the caller (403 ForbiddenByFirewall)")
        }
        _ => fallback.to_string(),
    };
    next.push(force_sync.to_string());
    cause
}

/// Stores commonly name one policy per service (`eso-payment-service`): the policy a key needs is
/// then the common prefix plus the key's last segment. Only a guess, said as one.
pub fn missing_policy_guess(policies: &[String], key: &str) -> Option<String> {
    let leaf = key.rsplit('/').next()?;
    let mut prefixes: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in policies.iter().filter(|p| *p != "default") {
        if let Some((prefix, _)) = p.split_once('-') {
            *prefixes.entry(prefix).or_default() += 1;
        }
    }
    let (prefix, n) = prefixes.into_iter().max_by_key(|(_, n)| *n)?;
    (n >= 2).then(|| format!("{prefix}-{leaf}"))
}

fn target_cause(
    f: &ChainFacts,
    l: &LinkReport,
    next: &mut Vec<String>,
    force_sync: &str,
) -> String {
    let es = &f.external_secret;
    if f.target.exists == Some(false) {
        next.push(format!(
            "kubectl describe externalsecret {} -n {}",
            es.name, es.namespace
        ));
        next.push(force_sync.to_string());
        return l.error.clone().unwrap_or_default();
    }
    let base = l.error.clone().unwrap_or_default();
    // Environment variables keep the old value until the pods restart.
    let mut restarts = Vec::new();
    for w in f.consumers.items.iter().filter(|c| {
        matches!(c.kind.as_str(), "deployment" | "statefulset" | "daemonset")
            && c.uses.iter().any(|u| u == "env" || u == "envFrom")
    }) {
        restarts.push(format!(
            "kubectl rollout restart {}/{} -n {}   # once the Secret holds the new value",
            w.kind, w.name, es.namespace
        ));
    }
    if es.refresh_policy.as_deref() == Some("CreatedOnce") {
        next.push(format!(
            "set refreshPolicy: Periodic on {} in Git (CreatedOnce never refreshes; force-sync is a no-op)",
            es.name
        ));
        next.push(format!(
            "or: kubectl delete secret {} -n {}   # ESO recreates it with the current value",
            f.target.name, es.namespace
        ));
        next.extend(restarts);
        return format!(
            "{base}: the provider's value changed, but refreshPolicy CreatedOnce never refreshes the Secret"
        );
    }
    next.push(force_sync.to_string());
    next.extend(restarts);
    format!("{base}: a refresh is due")
}
