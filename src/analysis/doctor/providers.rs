//! Check 3, providers, over per-store batched probes: a failed login is one error on the store;
//! a key problem (describe-chain's own `key_problem`: no permission, missing, disabled, expired…)
//! is an error on every ExternalSecret using that key, and so is a `property` the remote secret
//! lacks; a Key Vault secret expiring within 14 days is a warning. What the values say about the
//! target Secrets (stale, CreatedOnce) is check 4's.

use std::time::Duration;

use jiff::Timestamp;

use super::{finding, finish};
use crate::diagnose::catalogue::*;
use crate::diagnose::vault_explain::{self, Explained};
use crate::model::chain::KeyFacts;
use crate::model::doctor::*;
use crate::sanitize;

const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

pub fn check(probes: &[StoreProbe], now: Timestamp) -> Check {
    let mut findings = Vec::new();
    for p in probes {
        store_findings(p, now, &mut findings);
    }
    let probed = probes.iter().filter(|p| p.provider.probed).count();
    finish(CheckId::Providers, probed, findings)
}

fn store_findings(p: &StoreProbe, now: Timestamp, out: &mut Vec<Finding>) {
    let store = sanitize::line(&p.store.to_string());
    let users_of = |key: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = p
            .users
            .iter()
            .filter(|u| key.is_none_or(|k| u.key == k))
            .map(es_object)
            .collect();
        v.dedup();
        v
    };
    if !p.provider.probed {
        let why = p
            .provider
            .skipped
            .as_deref()
            .unwrap_or("the provider was not probed");
        out.push(
            finding(
                PROVIDER_NOT_PROBED,
                Status::Warning,
                store,
                sanitize::line(why),
                sanitize::line(&describe_store(p)),
            )
            .about_store(&p.store),
        );
        return;
    }
    if let Some(e) = &p.provider.login_error {
        // An authRef kubeconfig signs in as its user says: a refused certificate there is the
        // certificate's finding, as with auth.cert.
        let auth = match p.settings.get("auth").map(String::as_str) {
            Some("authRef (kubeconfig)")
                if p.provider.kubeconfig_user.as_deref() == Some("cert") =>
            {
                Some("cert")
            }
            other => other,
        };
        let mut class = crate::diagnose::provider::login(
            &p.provider_kind,
            auth,
            p.provider.login_code.as_deref(),
            e,
        );
        if class.code == KUBERNETES_TOKEN_REJECTED || class.code == KUBERNETES_CERT_REJECTED {
            class.cause = crate::diagnose::kubernetes::rejected_cause(
                &p.settings,
                p.provider.kubeconfig_user.as_deref(),
            );
        }
        // ESO builds no client: the probe's own words say which part and why.
        if class.code == KUBERNETES_CA_INVALID
            || class.code == KUBERNETES_CLIENT_CERT_INVALID
            || class.code == KUBERNETES_KUBECONFIG_INVALID
        {
            class.cause = e.clone();
        }
        let explained = login_explained(p, class.code);
        if let Some(code) = explained.code {
            class.code = code;
        }
        if let Some(cause) = &explained.cause {
            class.cause = cause.clone();
        }
        let code = p
            .provider
            .login_code
            .as_deref()
            .map(|c| format!(" [{}]", sanitize::line(c)))
            .unwrap_or_default();
        let mut f = finding(
            class.code,
            Status::Error,
            store,
            sanitize::line(&format!("login as ESO failed: {}", class.cause)),
            sanitize::line(&login_next(p, class.code)),
        )
        .evidence(sanitize::line(&format!("the provider said{code}: {e}")))
        .about_store(&p.store);
        if let Some(who) = &p.provider.identity {
            f = f.evidence(sanitize::line(&format!("logged in as {who}")));
        }
        match class.code {
            KUBERNETES_CA_INVALID => f = f.field("spec.provider.kubernetes.server"),
            KUBERNETES_CLIENT_CERT_INVALID | KUBERNETES_CERT_REJECTED
                if p.settings.contains_key("authRef") =>
            {
                f = f.field("spec.provider.kubernetes.authRef")
            }
            KUBERNETES_CLIENT_CERT_INVALID | KUBERNETES_CERT_REJECTED => {
                f = f.field("spec.provider.kubernetes.auth.cert")
            }
            KUBERNETES_KUBECONFIG_INVALID => f = f.field("spec.provider.kubernetes.authRef"),
            _ => {}
        }
        f = with_explained(f, &explained);
        for es in users_of(None) {
            f = f.affects(es);
        }
        out.push(f);
        return;
    }
    if let Some(e) = &p.provider.error {
        out.push(
            finding(
                PROVIDER_UNREACHABLE,
                Status::Warning,
                store,
                format!("could not be probed: {}", sanitize::line(e)),
                sanitize::line(&describe_store(p)),
            )
            .about_store(&p.store),
        );
        return;
    }
    if let Some(f) = store_wide_refusal(p, now) {
        out.push(f);
        return;
    }
    for key in &p.provider.keys {
        // An AWS key is probed once per version asked: each version's facts concern only the
        // ExternalSecrets that ask that version.
        let users: Vec<&KeyUser> = p
            .users
            .iter()
            .filter(|u| u.key == key.key)
            .filter(|u| p.provider_kind != "aws" || u.versions.contains(&key.version))
            .collect();
        let class = crate::diagnose::provider::key(
            &p.provider_kind,
            key,
            p.settings.get("version").map(String::as_str),
            now,
        );
        if let Some(mut class) = class {
            let explained = key_explained(p, key, class.code);
            if let Some(code) = explained.code {
                class.code = code;
            }
            if let Some(cause) = &explained.cause {
                class.cause = cause.clone();
            }
            for u in &users {
                let mut f = finding(
                    class.code,
                    Status::Error,
                    es_object(u),
                    sanitize::line(&class.cause),
                    sanitize::line(&key_next(p, u, class.code)),
                )
                .about_es(&u.namespace, &u.name)
                .about_store(&p.store);
                match class.code {
                    VAULT_KV_VERSION_MISMATCH | VAULT_MOUNT_MISSING => {
                        f = f.field("spec.provider.vault")
                    }
                    // The grant is missing on the remote side, not a wrong key.
                    KUBERNETES_RBAC_DENIED => f = f.field("spec.provider.kubernetes.auth"),
                    AWS_VERSION_MISSING => f = f.field("spec.data[].remoteRef.version"),
                    // The key is right: the fault is the secret's state in the provider, read
                    // from its metadata, which names the fix more sharply than the error text.
                    VAULT_SECRET_DELETED | AZURE_SECRET_DELETED | PROVIDER_SECRET_EXPIRED => {
                        f.about.from_provider_config = true
                    }
                    _ => f = f.field("spec.data[].remoteRef.key"),
                }
                out.push(with_explained(f, &explained));
            }
            continue;
        }
        let expiring = expires_soon(key, now);
        for u in users {
            if !u.missing_properties.is_empty() {
                out.push(
                    finding(
                        PROVIDER_PROPERTY_MISSING,
                        Status::Error,
                        es_object(u),
                        missing_properties(key, &u.missing_properties),
                        sanitize::line(&format!(
                            "fix remoteRef.property in the ExternalSecret (kubectl edit \
                             externalsecret {} -n {}), or add the property to the remote secret",
                            u.name, u.namespace
                        )),
                    )
                    .field("spec.data[].remoteRef.property")
                    .about_es(&u.namespace, &u.name)
                    .about_store(&p.store),
                );
            }
            if let Some(at) = &expiring {
                out.push(
                    finding(
                        PROVIDER_SECRET_EXPIRING,
                        Status::Warning,
                        es_object(u),
                        format!(
                            "secret {} expires at {at}, within 14 days",
                            sanitize::line(&key.key)
                        ),
                        "rotate the secret in the provider and move its expiry".into(),
                    )
                    .about_es(&u.namespace, &u.name)
                    .about_store(&p.store),
                );
            }
        }
    }
}

/// A refusal that concerns the store, not a key (issue 12's causal ranking): Key Vault's firewall
/// refuses every request from ESO's network, and an identity with no role or access policy at all
/// is refused on every key. One finding on the store, with every ExternalSecret it breaks, instead
/// of one per ExternalSecret that each send the user to describe-chain. A refusal on some keys
/// only stays per key (a role scoped to some secrets).
fn store_wide_refusal(p: &StoreProbe, now: Timestamp) -> Option<Finding> {
    if p.provider_kind == "kubernetes" {
        return kubernetes_store_refusal(p, now);
    }
    if p.provider_kind != "azurekv" || p.provider.keys.is_empty() {
        return None;
    }
    let codes: Vec<&'static str> = p
        .provider
        .keys
        .iter()
        .map(|k| {
            crate::diagnose::provider::key(&p.provider_kind, k, None, now)
                .map(|c| c.code)
                .unwrap_or("")
        })
        .collect();
    let all = |code: &str| codes.iter().all(|c| *c == code);
    let vault = key_vault_name(p)?;
    let n = codes.len();
    // describe-chain of one ExternalSecret it breaks prints the exact grant, the client id read by
    // the user's shell from the credentials Secret (never printed by this tool).
    let chain = p
        .users
        .iter()
        .map(|u| (u.namespace.as_str(), u.name.as_str()))
        .min()
        .map(|(ns, name)| format!("kubectl eso describe-chain {name} -n {ns}"))
        .unwrap_or_else(|| "kubectl eso describe-chain".into());
    let (code, cause, next) = if codes.contains(&AZURE_FIREWALL_DENIED) {
        (
            AZURE_FIREWALL_DENIED,
            format!(
                "Key Vault {vault}'s firewall does not admit the network ESO calls from \
                 (ForbiddenByFirewall): every read through this store is refused"
            ),
            format!(
                "az keyvault network-rule list --name {vault} shows the networks it admits; admit \
                 the cluster's egress network (az keyvault network-rule add --name {vault}) or \
                 reach the vault through a private endpoint; then kubectl eso doctor"
            ),
        )
    } else if n >= 2 && all(AZURE_RBAC_DENIED) {
        (
            AZURE_RBAC_DENIED,
            format!(
                "Key Vault {vault} uses Azure RBAC and ESO's identity has no role that may get \
                 secrets there (Key Vault Secrets User): all {n} keys read through this store \
                 are refused"
            ),
            format!(
                "az role assignment list --scope \"$(az keyvault show --name {vault} --query id -o \
                 tsv)\" shows who may read; {chain} prints the az role assignment create command \
                 for ESO's identity, its client id read from the store's credentials Secret"
            ),
        )
    } else if n >= 2 && all(AZURE_ACCESS_POLICY_DENIED) {
        (
            AZURE_ACCESS_POLICY_DENIED,
            format!(
                "no access policy of Key Vault {vault} gives ESO's identity get on secrets: all \
                 {n} keys read through this store are refused"
            ),
            format!(
                "az keyvault show --name {vault} --query properties.accessPolicies shows the \
                 policies; {chain} prints the az keyvault set-policy command for ESO's identity, \
                 its client id read from the store's credentials Secret"
            ),
        )
    } else {
        return None;
    };
    let mut f = finding(
        code,
        Status::Error,
        sanitize::line(&p.store.to_string()),
        cause,
        sanitize::line(&next),
    )
    .about_store(&p.store);
    for k in &p.provider.keys {
        if let Some(c) = &k.code {
            f = f.evidence(sanitize::line(&format!("{}: {c}", k.key)));
        }
    }
    let mut affected: Vec<String> = p.users.iter().map(es_object).collect();
    affected.sort();
    affected.dedup();
    for es in affected {
        f = f.affects(es);
    }
    Some(f)
}

/// ESO's kubernetes provider (issue 15): when the identity may get none of the Secrets the store
/// reads, the missing grant is one cause on the store — ESO's store validation fails on it too
/// ("client is not allowed to get secrets") — with every ExternalSecret it breaks. A refusal of
/// some Secrets only (a Role scoped by resourceNames) stays per key.
fn kubernetes_store_refusal(p: &StoreProbe, now: Timestamp) -> Option<Finding> {
    let keys = &p.provider.keys;
    if keys.is_empty()
        || !keys.iter().all(|k| {
            crate::diagnose::provider::key(&p.provider_kind, k, None, now).map(|c| c.code)
                == Some(KUBERNETES_RBAC_DENIED)
        })
    {
        return None;
    }
    let ns = crate::diagnose::kubernetes::remote_namespace(&p.settings);
    let message = keys.iter().find_map(|k| k.error.as_deref());
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    let mut cause = crate::diagnose::kubernetes::denied_cause(names[0], &ns, message);
    if names.len() > 1 {
        cause = format!(
            "{cause}; nor may it get {} (every read through this store is refused)",
            names[1..].join(", ")
        );
    }
    let mut next = crate::diagnose::kubernetes::denied_next_all(
        &p.settings,
        p.kube_cluster.as_ref(),
        &names,
        message,
    );
    next.push(describe_store(p));
    let mut f = finding(
        KUBERNETES_RBAC_DENIED,
        Status::Error,
        sanitize::line(&p.store.to_string()),
        sanitize::line(&cause),
        String::new(),
    )
    .field("spec.provider.kubernetes.auth")
    .about_store(&p.store);
    f.next = next.iter().map(|n| sanitize::line(n)).collect();
    let mut affected: Vec<String> = p.users.iter().map(es_object).collect();
    affected.sort();
    affected.dedup();
    for es in affected {
        f = f.affects(es);
    }
    Some(f)
}

/// What Vault's own configuration says about a refused login (issue 12): the role's bindings
/// against the ServiceAccount ESO used. Only for the classes a binding explains.
fn login_explained(p: &StoreProbe, code: &str) -> Explained {
    if let Some(t) = &p.provider.aws_trust
        && code == PROVIDER_LOGIN_FAILED
    {
        return crate::diagnose::aws_trust::explain(t);
    }
    let Some(x) = p.provider.vault.as_ref() else {
        return Explained::default();
    };
    if ![
        VAULT_ROLE_BINDING_MISMATCH,
        VAULT_ROLE_MISSING,
        VAULT_TOKEN_EXPIRED,
        VAULT_TOKENREVIEW_REFUSED,
        PROVIDER_LOGIN_FAILED,
    ]
    .contains(&code)
    {
        return Explained::default();
    }
    let mount = p
        .settings
        .get("mountPath")
        .map(String::as_str)
        .unwrap_or("kubernetes");
    let role = p.settings.get("role").map(String::as_str).unwrap_or("");
    let mut e = vault_explain::role_binding(x, role, mount);
    if code == VAULT_TOKENREVIEW_REFUSED && e.code.is_none() {
        let review = vault_explain::token_review(x, mount);
        e.code = review.code;
        e.cause = review.cause;
        e.evidence.extend(review.evidence);
        e.next.extend(review.next);
    }
    e
}

/// What Vault's configuration says about a refused or missing key: the policy rule that decided,
/// the mount's KV version and existence.
fn key_explained(p: &StoreProbe, key: &KeyFacts, code: &str) -> Explained {
    let Some(x) = p.provider.vault.as_ref() else {
        return Explained::default();
    };
    let mount = p
        .settings
        .get("path")
        .map(String::as_str)
        .unwrap_or("secret");
    let version = p
        .settings
        .get("version")
        .map(String::as_str)
        .unwrap_or("v2");
    let from_mount = vault_explain::mount(x, mount, version);
    if from_mount.code.is_some() {
        return from_mount;
    }
    let mut e = match code {
        VAULT_POLICY_DENIED | PROVIDER_READ_DENIED => {
            vault_explain::denied_read(x, &p.provider.policies, mount, version, &key.key, &key.path)
        }
        _ => Explained::default(),
    };
    e.evidence.extend(from_mount.evidence);
    e
}

fn with_explained(mut f: Finding, e: &Explained) -> Finding {
    f.about.from_provider_config |= e.cause.is_some();
    for fact in &e.evidence {
        f = f.evidence(sanitize::line(fact));
    }
    for n in &e.next {
        let n = sanitize::line(n);
        if !f.next.contains(&n) {
            f.next.push(n);
        }
    }
    f
}

fn describe_store(p: &StoreProbe) -> String {
    match &p.store.namespace {
        Some(ns) => format!("kubectl describe secretstore {} -n {ns}", p.store.name),
        None => format!("kubectl describe clustersecretstore {}", p.store.name),
    }
}

/// After fixing the login, the store must validate again before anything syncs.
fn login_next(p: &StoreProbe, code: &str) -> String {
    let setting = |k: &str| {
        p.settings
            .get(k)
            .map(String::as_str)
            .unwrap_or("kubernetes")
    };
    let role_cmd = format!(
        "vault read auth/{}/role/{}",
        setting("mountPath"),
        p.settings.get("role").map(String::as_str).unwrap_or("")
    );
    let fix = match code {
        AZURE_CLIENT_SECRET_EXPIRED | AZURE_CLIENT_SECRET_INVALID => {
            "create a new client secret for the service principal in Entra ID (az ad app \
             credential reset --append, or the portal's Certificates & secrets) and put it in the \
             credentials Secret the store references"
                .to_string()
        }
        AZURE_FEDERATED_CREDENTIAL_MISMATCH => federated_next(p),
        VAULT_ROLE_BINDING_MISMATCH => format!(
            "{role_cmd} shows the role's bound ServiceAccount names, namespaces and audience; bind \
             it to the ServiceAccount ESO logs in with"
        ),
        AWS_IRSA_TRUST_MISMATCH => {
            let role = p
                .provider
                .aws_trust
                .as_ref()
                .map(|t| {
                    t.role_arn
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default();
            format!(
                "aws iam get-role --role-name {role} --query Role.AssumeRolePolicyDocument --output json > \
                 trust.json, correct the condition named above in trust.json, then aws iam \
                 update-assume-role-policy --role-name {role} --policy-document file://trust.json"
            )
        }
        VAULT_ROLE_MISSING => role_missing_next(p, setting("mountPath")),
        VAULT_AUTH_MOUNT_MISSING => {
            "vault auth list shows the mounted auth methods; fix the store's auth mountPath"
                .to_string()
        }
        VAULT_TOKENREVIEW_REFUSED => tokenreview_next(p, setting("mountPath")),
        VAULT_TOKEN_EXPIRED if p.settings.get("auth").map(String::as_str) == Some("token") => {
            token_next(p)
        }
        VAULT_TOKEN_EXPIRED if p.settings.get("auth").map(String::as_str) == Some("appRole") => {
            approle_next(p, setting("mountPath"))
        }
        KUBERNETES_TOKEN_REJECTED | KUBERNETES_CERT_REJECTED => {
            return crate::diagnose::kubernetes::rejected_next(&p.settings, &describe_store(p))
                .join("; then ");
        }
        KUBERNETES_CLIENT_CERT_INVALID => {
            crate::diagnose::kubernetes::client_cert_invalid_next(&p.settings)
        }
        KUBERNETES_KUBECONFIG_INVALID => {
            crate::diagnose::kubernetes::kubeconfig_invalid_next(&p.settings)
        }
        KUBERNETES_CA_INVALID => crate::diagnose::kubernetes::CA_INVALID_NEXT.to_string(),
        KUBERNETES_CA_UNTRUSTED => "put the CA that signed the API server's certificate in the \
             store's server.caBundle or server.caProvider (for this cluster: the ConfigMap \
             kube-root-ca.crt, key ca.crt)"
            .to_string(),
        _ => "renew or fix the store's credentials".to_string(),
    };
    format!("{fix}; then {}", describe_store(p))
}

/// The role the store names does not exist: the roles there are, then either fix the store's role
/// or create it bound to the ServiceAccount ESO logs in with (no role is read: there is none).
fn role_missing_next(p: &StoreProbe, mount: &str) -> String {
    let role = p.settings.get("role").map(String::as_str).unwrap_or("");
    let (ns, sa) = vault_service_account(p)
        .split_once(':')
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .unwrap_or_default();
    format!(
        "vault list auth/{mount}/role (OpenBao: bao list auth/{mount}/role) shows the roles \
         there; point the store's spec.provider.vault.auth.kubernetes.role at one of them, or \
         create {role} bound to ESO's ServiceAccount: vault write auth/{mount}/role/{role} \
         bound_service_account_names={sa} bound_service_account_namespaces={ns}, adding \
         token_policies= with the policies vault policy list shows"
    )
}

/// The ServiceAccount whose token ESO presents: the subject Entra quoted, else the store's
/// serviceAccountRef (a SecretStore's own namespace; a ClusterSecretStore's named one, else the
/// first ExternalSecret's).
fn workload_service_account(p: &StoreProbe) -> Option<(String, String)> {
    let quoted = p
        .provider
        .login_error
        .as_deref()
        .and_then(|e| crate::diagnose::provider::assertion_field(e, "Subject"))
        .and_then(|s| {
            let (ns, name) = s.strip_prefix("system:serviceaccount:")?.split_once(':')?;
            Some((ns.to_string(), name.to_string()))
        });
    quoted.or_else(|| {
        let name = p.settings.get("serviceAccount")?.clone();
        let ns = p
            .settings
            .get("serviceAccountNamespace")
            .cloned()
            .or_else(|| p.store.namespace.clone())
            .or_else(|| p.users.first().map(|u| u.namespace.clone()))?;
        Some((ns, name))
    })
}

/// Workload identity refused: the subject ESO presents, the command that lists the subjects the
/// application accepts, and the one that adds ESO's — the client id read by the user's shell from
/// the ServiceAccount's annotation.
pub(super) fn federated_next(p: &StoreProbe) -> String {
    let Some((ns, name)) = workload_service_account(p) else {
        return format!(
            "{} shows the store's serviceAccountRef, whose subject \
             (system:serviceaccount:NAMESPACE:NAME) a federated credential of the application \
             must name",
            describe_store(p)
        );
    };
    let error = p.provider.login_error.as_deref().unwrap_or_default();
    // The issuer Entra quoted, else the shell reads the cluster's: inside the single-quoted JSON
    // the substitution closes and reopens the quotes, or the shell would not expand it.
    let (issuer, issuer_json) = match crate::diagnose::provider::assertion_field(error, "Issuer") {
        Some(i) => (i.clone(), i),
        None => {
            let read = "\"$(kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)\"";
            (read.to_string(), format!("'{read}'"))
        }
    };
    let audience = crate::diagnose::provider::assertion_field(error, "Audience")
        .unwrap_or_else(|| "api://AzureADTokenExchange".into());
    let id = format!(
        "\"$(kubectl get serviceaccount {name} -n {ns} -o \
         jsonpath='{{.metadata.annotations.azure\\.workload\\.identity/client-id}}')\""
    );
    format!(
        "ESO presents subject system:serviceaccount:{ns}:{name} (issuer {issuer}); az ad app \
         federated-credential list --id {id} shows the subjects the application accepts; add this \
         one: az ad app federated-credential create --id {id} --parameters \
         '{{\"name\":\"eso-{ns}-{name}\",\"issuer\":\"{issuer_json}\",\"subject\":\"system:serviceaccount:{ns}:{name}\",\"audiences\":[\"{audience}\"]}}' \
         — or point the store's serviceAccountRef back at the ServiceAccount a credential names"
    )
}

/// The ServiceAccount a kubernetes-auth login presents, `namespace:name`.
pub(super) fn vault_service_account(p: &StoreProbe) -> String {
    if let Some(sa) = p
        .provider
        .vault
        .as_ref()
        .and_then(|x| x.service_account.as_deref())
        .and_then(|s| s.split_once('/'))
    {
        return format!("{}:{}", sa.0, sa.1);
    }
    // A ClusterSecretStore's ref names its namespace, or (referent) each ExternalSecret's.
    let ns = p
        .settings
        .get("serviceAccountNamespace")
        .cloned()
        .or_else(|| p.store.namespace.clone())
        .or_else(|| p.users.first().map(|u| u.namespace.clone()));
    match (p.settings.get("serviceAccount"), ns) {
        (Some(name), Some(ns)) => format!("{ns}:{name}"),
        // No serviceAccountRef: ESO logs in as its own ServiceAccount (the chart's default name).
        _ => "external-secrets:external-secrets".into(),
    }
}

/// Without a `token_reviewer_jwt`, Vault reviews ESO's token with ESO's token itself: that
/// ServiceAccount needs `system:auth-delegator`. The commands that tell, then the grant.
fn tokenreview_next(p: &StoreProbe, mount: &str) -> String {
    let sa = vault_service_account(p);
    let may_review = p
        .provider
        .vault
        .as_ref()
        .and_then(|x| x.reviewer_may_review);
    if may_review == Some(true) {
        return format!(
            "vault auth list shows whether auth/{mount}/ is mounted at all; vault read \
             auth/{mount}/config shows kubernetes_host and its CA, which must be this cluster's \
             API server (ServiceAccount {sa} may review tokens, so no binding is missing)"
        );
    }
    let binding = format!("vault-tokenreview-{}", sa.replace(':', "-"));
    format!(
        "kubectl auth can-i create tokenreviews.authentication.k8s.io \
         --as=system:serviceaccount:{sa} (no: Vault, reviewing with ESO's own token, is refused); \
         vault read auth/{mount}/config shows kubernetes_host and whether a token_reviewer_jwt is \
         set (that reviewer's ServiceAccount then needs the grant instead); vault auth list shows \
         whether auth/{mount}/ is mounted at all; grant it: kubectl create clusterrolebinding \
         {binding} --clusterrole=system:auth-delegator --serviceaccount={sa}"
    )
}

/// Token auth refused: a new token in the Secret the store reads (found by `vault policy list`:
/// the refused token's own policies can no longer be looked up).
fn token_next(p: &StoreProbe) -> String {
    let secret = match (
        p.settings.get("tokenSecret"),
        p.settings.get("tokenSecretKey"),
    ) {
        (Some(name), Some(key)) => {
            let ns = p
                .settings
                .get("tokenSecretNamespace")
                .cloned()
                .or_else(|| p.store.namespace.clone())
                .unwrap_or_else(|| "external-secrets".into());
            format!("Secret {ns}/{name} (key {key})")
        }
        _ => "the Secret the store's tokenSecretRef names".into(),
    };
    format!(
        "issue a new token with the policies the store needs (vault policy list shows them, vault \
         token create -orphan -period=768h -field=token issues one) and put it in {secret}, from Git or your \
         secret manager, or move the store to Kubernetes auth, whose tokens renew themselves"
    )
}

/// AppRole refused ("invalid role or secret ID" for a wrong role_id and for an expired, used-up or
/// destroyed secret-id alike): the role behind the store's roleId, its secret-id limits, a new
/// secret-id for the Secret the store reads.
fn approle_next(p: &StoreProbe, mount: &str) -> String {
    let secret = match (
        p.settings.get("secretIdSecret"),
        p.settings.get("secretIdSecretKey"),
    ) {
        (Some(name), Some(key)) => format!(
            "Secret {}/{name} (key {key})",
            p.settings
                .get("secretIdSecretNamespace")
                .map(String::as_str)
                .or(p.store.namespace.as_deref())
                .or(p.users.first().map(|u| u.namespace.as_str()))
                .unwrap_or("external-secrets")
        ),
        _ => "the Secret the store's secretRef names".into(),
    };
    let find = match p.settings.get("roleId") {
        Some(id) => format!(
            "ROLE=$(vault list -format=json auth/{mount}/role | jq -r '.[]' | xargs -I{{}} sh -c \
             'test \"$(vault read -field=role_id auth/{mount}/role/{{}}/role-id)\" = \"{id}\" && \
             echo {{}}') finds the role of the store's roleId (empty: the roleId is wrong)"
        ),
        None => format!(
            "vault list auth/{mount}/role shows the roles (set ROLE to the store's: its roleId \
             comes from a Secret)"
        ),
    };
    format!(
        "{find}, vault read auth/{mount}/role/$ROLE shows its secret_id_ttl and \
         secret_id_num_uses, and vault write -f -field=secret_id auth/{mount}/role/$ROLE/secret-id \
         issues a new secret-id for {secret}"
    )
}

fn key_next(p: &StoreProbe, u: &KeyUser, code: &str) -> String {
    let chain = format!("kubectl eso describe-chain {} -n {}", u.name, u.namespace);
    match code {
        VAULT_KV_VERSION_MISMATCH => {
            // The mount's own version when Vault said it; else the store's other one.
            let to = match p.provider.vault.as_ref().and_then(|x| x.mount.as_ref()) {
                Some(m) if m.kv_version.as_deref() == Some("2") => "v2",
                Some(_) => "v1",
                None if p.settings.get("version").map(String::as_str) == Some("v2") => "v1",
                None => "v2",
            };
            match &p.store.namespace {
                Some(ns) => format!(
                    "kubectl patch secretstore {} -n {ns} --type merge -p \
                     '{{\"spec\":{{\"provider\":{{\"vault\":{{\"version\":\"{to}\"}}}}}}}}'",
                    p.store.name
                ),
                None => format!(
                    "kubectl patch clustersecretstore {} --type merge -p \
                     '{{\"spec\":{{\"provider\":{{\"vault\":{{\"version\":\"{to}\"}}}}}}}}'",
                    p.store.name
                ),
            }
        }
        VAULT_POLICY_PATH_KV2_DATA => {
            let reads: Vec<String> = p
                .provider
                .policies
                .iter()
                .filter(|name| name.as_str() != "default")
                .map(|name| format!("vault policy read {name}"))
                .collect();
            format!(
                "add the data/ prefix to the policy's path (KV v2 API paths are \
                 MOUNT/data/KEY): {}; then {chain}",
                reads.join("; ")
            )
        }
        VAULT_SECRET_DELETED => deleted_next(p, u, &chain),
        PROVIDER_SECRET_EXPIRED if p.provider_kind == "azurekv" => {
            let vault = key_vault_arg(p);
            format!(
                "Key Vault still serves an expired secret, so ESO keeps syncing a value meant to \
                 be retired: az keyvault secret show --vault-name {vault} --name {} --query \
                 attributes shows its dates; rotate it (az keyvault secret set --vault-name {vault} \
                 --name {} with the new value and a new --expires), then kubectl eso force-sync {} \
                 -n {}",
                u.key, u.key, u.name, u.namespace
            )
        }
        AZURE_SECRET_DELETED => {
            let vault = key_vault_arg(p);
            format!(
                "az keyvault secret recover --vault-name {vault} --name {} restores it (az \
                 keyvault secret show-deleted --vault-name {vault} --name {} shows it); then \
                 kubectl eso force-sync {} -n {}",
                u.key, u.key, u.name, u.namespace
            )
        }
        VAULT_MOUNT_MISSING => format!(
            "vault secrets list shows the mounts; fix spec.provider.vault.path of the store \
             ({}); then {chain}",
            describe_store(p)
        ),
        KUBERNETES_RBAC_DENIED => {
            let key = p
                .provider
                .keys
                .iter()
                .find(|k| k.key == u.key)
                .and_then(|k| k.error.as_deref());
            let mut next = crate::diagnose::kubernetes::denied_next(
                &p.settings,
                p.kube_cluster.as_ref(),
                &u.key,
                key,
            );
            next.push(chain);
            next.join("; ")
        }
        VAULT_POLICY_DENIED => {
            // The policies ESO's token carries, each readable with the user's own token.
            let reads: Vec<String> = p
                .provider
                .policies
                .iter()
                .filter(|name| name.as_str() != "default")
                .map(|name| format!("vault policy read {name}"))
                .collect();
            match reads.is_empty() {
                true => format!("{chain} --probe-as me"),
                false => format!("{}; {chain} --probe-as me", reads.join("; ")),
            }
        }
        _ => chain,
    }
}

/// The Key Vault's name, the first label of the store's `vaultUrl`.
/// The Key Vault's name: the first label of the store's vaultUrl host.
fn key_vault_name(p: &StoreProbe) -> Option<String> {
    p.settings
        .get("vaultUrl")
        .and_then(|url| url.split("://").nth(1))
        .and_then(|h| h.split('.').next())
        .filter(|v| !v.is_empty())
        .map(sanitize::line)
}

/// The vault's name for a command: known, or read by the user's shell from the store.
pub(super) fn key_vault_arg(p: &StoreProbe) -> String {
    key_vault_name(p).unwrap_or_else(|| {
        let get = match &p.store.namespace {
            Some(ns) => format!("kubectl get secretstore {} -n {ns}", p.store.name),
            None => format!("kubectl get clustersecretstore {}", p.store.name),
        };
        format!(
            "\"$({get} -o jsonpath='{{.spec.provider.azurekv.vaultUrl}}' | cut -d/ -f3 | cut -d. -f1)\""
        )
    })
}

/// Restore the deleted version (or write a new one), then sync: never "fix remoteRef.key".
fn deleted_next(p: &StoreProbe, u: &KeyUser, chain: &str) -> String {
    let mount = p
        .settings
        .get("path")
        .map(String::as_str)
        .unwrap_or("secret")
        .trim_matches('/');
    let key = u.key.trim_start_matches('/');
    let key = key.strip_prefix(&format!("{mount}/")).unwrap_or(key);
    let version = p
        .provider
        .keys
        .iter()
        .find(|k| k.key == u.key)
        .filter(|k| !k.destroyed)
        .and_then(|k| k.current_version.as_deref());
    let sync = format!("kubectl eso force-sync {} -n {}", u.name, u.namespace);
    match version {
        Some(v) => format!(
            "vault kv undelete -mount={mount} -versions={v} {key} (OpenBao: bao kv undelete \
             -mount={mount} -versions={v} {key}) restores it, or write a new version with vault \
             kv put -mount={mount} {key}; then {sync}"
        ),
        // Destroyed: its data is gone; an older version may still be live.
        None => format!(
            "LIVE=$(vault kv metadata get -format=json -mount={mount} {key} | jq -r \
             '[.data.versions | to_entries[] | select(.value.destroyed == false and \
             .value.deletion_time == \"\") | .key | tonumber] | max') finds the newest live \
             version; vault kv rollback -mount={mount} -version=$LIVE {key} makes it current \
             (LIVE null: none is live, write a new version with vault kv put -mount={mount} \
             {key}); then {sync} ({chain} shows the result)"
        ),
    }
}

fn missing_properties(key: &KeyFacts, missing: &[String]) -> String {
    let have = if key.properties.is_empty() {
        String::new()
    } else {
        format!(" (properties: {})", key.properties.join(", "))
    };
    sanitize::line(&format!(
        "remote key {} has no property {}{have}: ESO fails the sync",
        key.key,
        missing.join(", ")
    ))
}

fn es_object(u: &KeyUser) -> String {
    sanitize::line(&format!("ExternalSecret {}/{}", u.namespace, u.name))
}

fn expires_soon(k: &KeyFacts, now: Timestamp) -> Option<String> {
    let raw = k.expires.as_deref()?;
    let at: Timestamp = raw.parse().ok()?;
    let left = at.duration_since(now).unsigned_abs();
    (at > now && left <= EXPIRY_WARNING).then(|| sanitize::line(raw))
}
