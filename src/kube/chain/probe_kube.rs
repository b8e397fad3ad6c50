//! The `kubernetes` branch of the provider probe (issue 15): the store's `spec.provider.kubernetes`
//! and the credential `auth` resolved, turned into the remote API server, namespace and key
//! list. The store's own cluster (`kubernetes.default.svc`, the CRD's default) is reached through
//! the kubeconfig's API server; another cluster at `server.url`. One GET per distinct remote key;
//! every ref of the ExternalSecret then gets its own key facts (its `property` resolved as ESO's
//! `getFromSecretData` does) and its own copy of the Secret's data for the comparison.

use serde_json::Value;

use super::auth::ProbeAuth;
use super::probe::{ProbeAs, skipped};
use crate::analysis::trust::{KubeServer, kubernetes_server};
use crate::model::chain::{KubeCluster, ProviderFacts, RemoteRefFacts, RemoteValue, Sensitive};
use crate::provider::kubernetes::{self, KubeLogin, KubeRemote};
use crate::provider::vault::http::ProbeHttp;

/// The API server and namespace the probe reads; `Err` says why it cannot.
pub fn remote_of(store: &Value, home: Option<&str>) -> Result<KubeRemote, String> {
    let namespace = remote_namespace(store);
    let server = match kubernetes_server(store) {
        KubeServer::Home => home.map(str::to_string).ok_or(
            "the store reads its own cluster, whose API server the kubeconfig does not name",
        )?,
        KubeServer::Url(u) => u,
        KubeServer::FromSecret => {
            return Err(
                "the store's API server is named by a kubeconfig in a Secret (authRef)".into(),
            );
        }
    };
    Ok(KubeRemote {
        server: server.trim_end_matches('/').to_string(),
        namespace,
    })
}

/// `spec.provider.kubernetes.remoteNamespace` (the CRD's default is `default`).
fn remote_namespace(store: &Value) -> String {
    store
        .pointer("/spec/provider/kubernetes/remoteNamespace")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// How an `authRef` kubeconfig's user signs in, for `ProviderFacts::kubeconfig_user`; `None`
/// for what the probe does not send (it was not probed, or no client could be built).
fn kubeconfig_user(login: &ProbeAuth) -> Option<&'static str> {
    match login {
        ProbeAuth::KubeToken { .. } => Some("token"),
        ProbeAuth::KubeCert { token: None, .. } => Some("cert"),
        ProbeAuth::KubeCert { token: Some(_), .. } => Some("token and cert"),
        ProbeAuth::KubeAnonymous => Some("anonymous"),
        _ => None,
    }
}

/// `CN=…, issued by CN=…, expired …` / `valid until …`.
fn presented(s: &crate::provider::x509::CertSummary) -> String {
    let validity = match s.not_after {
        Some(t) if t <= jiff::Timestamp::now() => format!(", expired {t}"),
        Some(t) => format!(", valid until {t}"),
        None => String::new(),
    };
    format!("{}, issued by {}{validity}", s.subject, s.issuer)
}

/// `--probe-as me`: the kubernetes provider is probed as ESO only. Say plainly that the user's
/// own access was not checked, and give the command that checks it on the cluster the store
/// reads — `kubectl auth can-i` on the current context only when that is the store's cluster,
/// else with `--context` naming the kubeconfig's context for the store's API server, else
/// nothing runnable (no result is ever taken from the wrong cluster).
pub fn probe_as_me(store: &Value, home: Option<&str>) -> String {
    let ns = crate::sanitize::line(
        store
            .pointer("/spec/provider/kubernetes/remoteNamespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default"),
    );
    let head = "--probe-as me did not run: the kubernetes provider is probed as ESO only, so \
                your own access was not checked";
    let can_i = format!("auth can-i get secrets -n {ns}");
    let _ = home;
    match super::extract::kube_cluster(store) {
        Some(KubeCluster::Remote {
            server,
            context: Some(ctx),
        }) => format!(
            "{head}; the store reads the cluster at {server}: check it there with kubectl \
             --context {ctx} {can_i}"
        ),
        Some(KubeCluster::Remote {
            server,
            context: None,
        }) => format!(
            "{head}; the store reads the cluster at {server}, which no context of your \
             kubeconfig reaches: run kubectl {can_i} with a context for that cluster"
        ),
        Some(KubeCluster::FromSecret) => format!(
            "{head}; the store reads the cluster its authRef kubeconfig names: run kubectl \
             {can_i} with a context for that cluster"
        ),
        Some(KubeCluster::Home) | None => format!("{head}: kubectl {can_i}"),
    }
}

pub async fn probe(
    http: &ProbeHttp,
    store: &Value,
    auth: Option<&ProbeAuth>,
    refs: &[RemoteRefFacts],
    who: ProbeAs,
) -> (ProviderFacts, Vec<Option<RemoteValue>>) {
    let mut values: Vec<Option<RemoteValue>> = refs.iter().map(|_| None).collect();
    let home = crate::kube::client::home_cluster().map(|h| h.server.as_str());
    if who == ProbeAs::Me {
        return (skipped(who, &probe_as_me(store, home)), values);
    }
    let mut facts = ProviderFacts {
        probed: true,
        probe_as: who.as_str().into(),
        ..ProviderFacts::default()
    };
    // authRef: the kubeconfig names the server (vouched for by the caller), and its user the
    // credential.
    let (auth, kubeconfig_server) = match auth {
        Some(ProbeAuth::KubeConfig { server, login, .. }) => {
            facts.kubeconfig_user = kubeconfig_user(login).map(str::to_string);
            (Some(&**login), Some(server))
        }
        other => (other, None),
    };
    let held;
    let with_cert;
    let mut http = http;
    let (login, described) = match auth {
        Some(ProbeAuth::KubeToken { token, from }) => {
            held = token.text();
            (KubeLogin::Bearer(&held), from.clone())
        }
        Some(ProbeAuth::KubeCert {
            identity,
            from,
            token,
            ..
        }) => {
            with_cert = match http.with_identity(identity.bytes()) {
                Ok(h) => h,
                Err(e) => {
                    facts.error = Some(e);
                    return (facts, values);
                }
            };
            http = &with_cert;
            // A kubeconfig's token beside the certificate goes too, as client-go sends it.
            let login = match token {
                Some(t) => {
                    held = t.text();
                    KubeLogin::Bearer(&held)
                }
                None => KubeLogin::ClientCertificate,
            };
            (login, from.clone())
        }
        Some(ProbeAuth::KubeUnbuildable { login_code, why }) => {
            // ESO's NewClient fails before any request: so does the probe, sending nothing.
            facts.login_code = Some(login_code.clone());
            facts.login_error = Some(why.clone());
            return (facts, values);
        }
        Some(ProbeAuth::KubeAnonymous) => (
            KubeLogin::Anonymous,
            "no credential (the store has no auth: an anonymous client)".to_string(),
        ),
        Some(ProbeAuth::Unavailable(why)) => return (skipped(who, why), values),
        _ => return (skipped(who, "no usable kubernetes credentials"), values),
    };
    let remote = match kubeconfig_server {
        Some(server) => Ok(KubeRemote {
            server: server.trim_end_matches('/').to_string(),
            namespace: remote_namespace(store),
        }),
        None => remote_of(store, home),
    };
    let remote = match remote {
        Ok(r) => r,
        Err(e) => {
            facts.error = Some(e);
            return (facts, values);
        }
    };
    // One GET per distinct Secret name.
    let mut distinct: Vec<String> = Vec::new();
    let mut slot: Vec<Option<usize>> = Vec::new();
    for r in refs {
        if r.find || r.key.is_empty() || r.other_store.is_some() {
            slot.push(None);
            continue;
        }
        let at = distinct
            .iter()
            .position(|k| k == &r.key)
            .unwrap_or_else(|| {
                distinct.push(r.key.clone());
                distinct.len() - 1
            });
        slot.push(Some(at));
    }
    // With a certificate, `http` is its sibling client: the same record of calls.
    let outcome = kubernetes::probe(http, &remote, &login, &distinct).await;
    facts.identity = Some(match &outcome.user {
        Some(u) => format!("{u} ({described}) at {}", remote.server),
        None => format!("{described} at {}", remote.server),
    });
    facts.login_error = outcome.login_error;
    facts.login_code = outcome.login_code;
    // A refused certificate: what it says of itself (public parts only), so the cause can be
    // read off — another CA, an expiry.
    if let Some(ProbeAuth::KubeCert { summary, .. }) = auth
        && facts.login_code.as_deref() == Some("HTTP 401")
    {
        facts.login_error = facts
            .login_error
            .map(|e| format!("{e}; the certificate presented: {}", presented(summary)));
    }
    for (i, r) in refs.iter().enumerate() {
        let Some(at) = slot[i] else { continue };
        let Some(base) = outcome.keys.get(at) else {
            continue;
        };
        let mut k = base.clone();
        let value = outcome.values.get(at).and_then(Option::as_ref);
        if let Some(p) = &r.property {
            k.property = Some(p.clone());
            if let Some(RemoteValue::Map(m)) = value {
                k.property_exists = Some(kubernetes::has_property(m, p));
            }
        }
        if !facts.keys.contains(&k) {
            facts.keys.push(k);
        }
        values[i] = value.map(|v| match v {
            RemoteValue::Single(s) => {
                RemoteValue::Single(Sensitive::from_bytes(s.bytes().to_vec()))
            }
            RemoteValue::Map(m) => RemoteValue::Map(
                m.iter()
                    .map(|(k, s)| (k.clone(), Sensitive::from_bytes(s.bytes().to_vec())))
                    .collect(),
            ),
        });
    }
    (facts, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn issue15_the_remote_is_the_home_cluster_or_the_stores_url() {
        let own = json!({"spec": {"provider": {"kubernetes": {"remoteNamespace": "shared",
            "server": {"url": "https://kubernetes.default.svc"}}}}});
        assert_eq!(
            remote_of(&own, Some("https://127.0.0.1:6443")),
            Ok(KubeRemote {
                server: "https://127.0.0.1:6443".into(),
                namespace: "shared".into()
            })
        );
        let other = json!({"spec": {"provider": {"kubernetes": {
            "server": {"url": "https://k8s.other.example:6443/"}}}}});
        assert_eq!(
            remote_of(&other, Some("https://127.0.0.1:6443")),
            Ok(KubeRemote {
                server: "https://k8s.other.example:6443".into(),
                namespace: "default".into()
            })
        );
        // Near misses: no kubeconfig server for the home form, and a kubeconfig in a Secret.
        assert!(remote_of(&own, None).is_err());
        let auth_ref = json!({"spec": {"provider": {"kubernetes": {"authRef": {"name": "kc"}}}}});
        assert!(remote_of(&auth_ref, Some("https://127.0.0.1:6443")).is_err());
    }

    /// Issue 15: `--probe-as me` says it did not run, and offers `kubectl auth can-i` on the
    /// current context only for a store of its own cluster: never a check of the wrong cluster.
    #[test]
    fn issue15_probe_as_me_never_points_at_the_wrong_cluster() {
        let own = json!({"spec": {"provider": {"kubernetes": {"remoteNamespace": "shared"}}}});
        let said = probe_as_me(&own, None);
        assert!(said.starts_with("--probe-as me did not run"), "{said}");
        assert!(
            said.ends_with(": kubectl auth can-i get secrets -n shared"),
            "{said}"
        );
        // Near miss: another cluster that no context reaches (no kubeconfig read in unit tests).
        let other = json!({"spec": {"provider": {"kubernetes": {"remoteNamespace": "shared",
            "server": {"url": "https://k8s.other.example:6443"}}}}});
        let said = probe_as_me(&other, None);
        assert!(said.contains("the store reads the cluster at https://k8s.other.example:6443, which no context of your kubeconfig reaches"), "{said}");
        assert!(!said.contains(": kubectl auth can-i"), "{said}");
    }
}
