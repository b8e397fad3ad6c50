//! ESO's `kubernetes` provider (issue 15): its refusals in plain words and the kubectl commands
//! that show and fix them. The API server's own Status message names the verb, the Secret, the
//! namespace and the identity (`secrets "db" is forbidden: User "system:serviceaccount:apps:eso"
//! cannot get resource "secrets" in API group "" in the namespace "shared"`); the commands are
//! built from it and from the store's settings, never from placeholders. Pure.
//!
//! Every command runs as printed on the cluster the store reads ([`Kubectl`]): bare `kubectl`
//! for the store's own cluster (the current context), `kubectl --context CTX` for another
//! cluster's API server when the kubeconfig has a context for it. `kubectl --server URL` is never
//! suggested: it would send the current context's credentials (a token of this cluster) to the
//! other API server. Without a context for that server, the first step says how to add one, under
//! the name the commands after it use.

use std::collections::BTreeMap;

use crate::model::chain::KubeCluster;

/// `User "system:serviceaccount:apps:eso" cannot get …` → `system:serviceaccount:apps:eso`.
pub fn user_in_message(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("User \"")?;
    let (user, _) = rest.split_once('"')?;
    (!user.is_empty()).then(|| user.to_string())
}

/// `system:serviceaccount:NS:NAME` → (`NS`, `NAME`).
pub fn service_account_of(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// The remote namespace the store reads (`default`, the CRD's default, when unset).
pub fn remote_namespace(settings: &BTreeMap<String, String>) -> String {
    settings
        .get("remoteNamespace")
        .cloned()
        .unwrap_or_else(|| "default".into())
}

/// How the commands that look at a store's cluster reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubectl {
    /// `kubectl` or `kubectl --context CTX`.
    pub command: String,
    /// The step that must come first: adding the context `command` names, when the kubeconfig
    /// has none for that cluster.
    pub setup: Option<String>,
}

/// The context name suggested for another cluster's API server: its host and port.
fn suggested_context(server: &str) -> String {
    let host = server
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(server)
        .split('/')
        .next()
        .unwrap_or_default();
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("eso-{}", name.trim_matches('-'))
}

/// `kubectl` for the cluster a kubernetes-provider store reads (`None`: its own cluster, as for a
/// store of facts that predate the field).
pub fn kubectl_for(cluster: Option<&KubeCluster>) -> Kubectl {
    let add = |name: &str, server: Option<&str>| match server {
        Some(s) => format!(
            "no context of your kubeconfig reaches {s}, where the commands below must run: add \
             one named {name} for it — kubectl config set-cluster {name} --server={s} with its CA \
             (--certificate-authority, --embed-certs), and kubectl config set-context {name} \
             --cluster={name} with the kubeconfig user that holds your credentials there"
        ),
        None => format!(
            "no context of your kubeconfig is known to reach the cluster the store's authRef \
             kubeconfig names, where the commands below must run: add one named {name} for it \
             (kubectl config set-context {name}) with that cluster and the kubeconfig user that \
             holds your credentials there"
        ),
    };
    match cluster {
        None | Some(KubeCluster::Home) => Kubectl {
            command: "kubectl".into(),
            setup: None,
        },
        Some(KubeCluster::Remote {
            context: Some(ctx), ..
        }) => Kubectl {
            command: format!("kubectl --context {ctx}"),
            setup: None,
        },
        Some(KubeCluster::Remote {
            server,
            context: None,
        }) => {
            let name = suggested_context(server);
            Kubectl {
                command: format!("kubectl --context {name}"),
                setup: Some(add(&name, Some(server))),
            }
        }
        Some(KubeCluster::FromSecret) => {
            let name = "eso-authref-cluster";
            Kubectl {
                command: format!("kubectl --context {name}"),
                setup: Some(add(name, None)),
            }
        }
    }
}

/// Why the API server refused to give one Secret, in one sentence.
pub fn denied_cause(key: &str, namespace: &str, message: Option<&str>) -> String {
    let who = message
        .and_then(user_in_message)
        .unwrap_or_else(|| "the store's identity".into());
    format!(
        "{who} may not get secret {key} in namespace {namespace}: no Role or ClusterRole bound to \
         it grants get on secrets there{}",
        message
            .map(|m| format!(" (the API server said: {m})"))
            .unwrap_or_default()
    )
}

/// The commands that show the refusal and grant exactly what ESO needs (get on that Secret).
pub fn denied_next(
    settings: &BTreeMap<String, String>,
    cluster: Option<&KubeCluster>,
    key: &str,
    message: Option<&str>,
) -> Vec<String> {
    denied_next_all(settings, cluster, &[key], message)
}

/// As [`denied_next`], for every Secret a store reads (one Role naming them all).
pub fn denied_next_all(
    settings: &BTreeMap<String, String>,
    cluster: Option<&KubeCluster>,
    keys: &[&str],
    message: Option<&str>,
) -> Vec<String> {
    let ns = remote_namespace(settings);
    let kubectl = kubectl_for(cluster);
    let at = &kubectl.command;
    let user = message.and_then(user_in_message);
    let key = keys.first().copied().unwrap_or_default();
    let names: String = keys
        .iter()
        .map(|k| format!(" --resource-name={k}"))
        .collect();
    let role = crate::sanitize::line(&format!("eso-read-{key}"))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect::<String>();
    let mut next: Vec<String> = kubectl.setup.iter().cloned().collect();
    let subject = match user.as_deref() {
        Some(u) => match service_account_of(u) {
            Some((sa_ns, sa)) => format!("--serviceaccount={sa_ns}:{sa}"),
            None => format!("--user={u}"),
        },
        None => String::new(),
    };
    match &user {
        Some(u) => next.push(format!(
            "{at} auth can-i get secrets/{key} -n {ns} --as {u}"
        )),
        None => next.push(format!("{at} get rolebindings -n {ns} -o wide")),
    }
    next.push(format!(
        "{at} create role {role} -n {ns} --verb=get --resource=secrets{names}"
    ));
    if !subject.is_empty() {
        next.push(format!(
            "{at} create rolebinding {role} -n {ns} --role={role} {subject}"
        ));
    }
    next
}

/// The API server did not accept the credential (401): which one, in words. `kubeconfig_user`
/// is how an `authRef` kubeconfig's user signs in (`ProviderFacts::kubeconfig_user`).
pub fn rejected_cause(
    settings: &BTreeMap<String, String>,
    kubeconfig_user: Option<&str>,
) -> String {
    let server = settings
        .get("server")
        .cloned()
        .unwrap_or_else(|| "the API server".into());
    match settings.get("auth").map(String::as_str) {
        Some("token") => format!(
            "{server} rejects the bearer token the store reads from {} (401 Unauthorized): it is \
             expired, revoked, or a token of another cluster",
            settings
                .get("bearerToken")
                .cloned()
                .unwrap_or_else(|| "its Secret".into())
        ),
        Some("serviceAccount") => format!(
            "{server} does not accept a token of ServiceAccount {} (401 Unauthorized): a token \
             of this cluster is only valid on another cluster that trusts this cluster's issuer",
            settings
                .get("serviceAccount")
                .cloned()
                .unwrap_or_else(|| "the store names".into())
        ),
        Some("cert") => format!(
            "{server} does not accept the client certificate the store reads from {} (401 \
             Unauthorized): the API server authenticates only certificates a CA of its \
             --client-ca-file signed, within their validity and made for client auth",
            settings
                .get("clientCert")
                .cloned()
                .unwrap_or_else(|| "its Secret".into())
        ),
        Some("authRef (kubeconfig)") => {
            let at = settings
                .get("authRef")
                .cloned()
                .unwrap_or_else(|| "its Secret".into());
            match kubeconfig_user {
                Some("cert") => format!(
                    "the API server the store's kubeconfig names does not accept the client \
                     certificate of its user in {at} (401 Unauthorized): the API server \
                     authenticates only certificates a CA of its --client-ca-file signed, within \
                     their validity and made for client auth"
                ),
                Some("token") => format!(
                    "the API server the store's kubeconfig names rejects the token of its user in \
                     {at} (401 Unauthorized): it is expired, revoked, or a token of another cluster"
                ),
                _ => format!(
                    "the API server the store's kubeconfig names rejects the credential of its \
                     user (401 Unauthorized): the kubeconfig in {at} holds an expired or revoked \
                     token or certificate, or one of another cluster"
                ),
            }
        }
        _ => format!("{server} rejects the store's credential (401 Unauthorized)"),
    }
}

/// The store's client certificate or key is no usable PEM pair: ESO builds no client.
pub fn client_cert_invalid_next(settings: &BTreeMap<String, String>) -> String {
    let at = |k: &str| {
        settings
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("the Secret key auth.cert.{k} names"))
    };
    format!(
        "put the PEM client certificate in {} and its own PEM private key in {} (in Git / your \
         secret pipeline, where kubectl create secret tls writes a matching pair as tls.crt and \
         tls.key)",
        at("clientCert"),
        at("clientKey")
    )
}

/// The kubeconfig in the store's authRef Secret is one client-go refuses: ESO builds no client.
pub fn kubeconfig_invalid_next(settings: &BTreeMap<String, String>) -> String {
    let at = settings
        .get("authRef")
        .cloned()
        .unwrap_or_else(|| "the Secret key authRef names".into());
    format!(
        "put a kubeconfig with a current-context whose cluster has a server and whose user has \
         one credential into {at} (in Git / your secret pipeline)"
    )
}

/// The store's CA is no PEM certificate: ESO builds no client.
pub const CA_INVALID_NEXT: &str = "put the PEM certificate of the CA that signed the API server's \
     certificate in the store's server.caBundle, base64-encoded (base64 -w0 ca.crt), or point \
     server.caProvider at a Secret or ConfigMap key holding that PEM";

/// A Secret the store reads does not exist there: the Secrets there, on the cluster it reads.
pub fn missing_next(
    settings: &BTreeMap<String, String>,
    cluster: Option<&KubeCluster>,
) -> Vec<String> {
    let kubectl = kubectl_for(cluster);
    let mut next: Vec<String> = kubectl.setup.into_iter().collect();
    next.push(format!(
        "{} get secrets -n {}",
        kubectl.command,
        remote_namespace(settings)
    ));
    next
}

/// After a rejected credential: where the new one goes, then the store to watch.
pub fn rejected_next(settings: &BTreeMap<String, String>, describe_store: &str) -> Vec<String> {
    let mut next = Vec::new();
    if let Some(s) = settings.get("authRef") {
        next.push(format!(
            "put a kubeconfig whose user holds a current credential of the remote cluster into \
             {s} (in Git / your secret pipeline)"
        ));
    }
    if let Some(s) = settings.get("bearerToken") {
        next.push(format!(
            "put a current token of the remote identity into {s} (in Git / your secret \
             pipeline); kubectl create token creates one on the cluster that issues it"
        ));
    }
    if settings.get("auth").map(String::as_str) == Some("cert")
        && let Some(cert) = settings.get("clientCert")
    {
        next.push(format!(
            "put a client certificate that a CA of the API server's --client-ca-file signed \
             (CommonName: the user its RBAC grants name, made for client auth, not expired) into \
             {cert}, and its key into {} (in Git / your secret pipeline)",
            settings
                .get("clientKey")
                .cloned()
                .unwrap_or_else(|| "the clientKey Secret".into())
        ));
    }
    next.push(describe_store.to_string());
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kubeconfig's next step names the Secret and key the store reads, and nothing to fill in.
    #[test]
    fn kubeconfig_invalid_next_names_the_secret_without_placeholders() {
        let s = BTreeMap::from([(
            "authRef".to_string(),
            "Secret prod/kc-empty[config]".to_string(),
        )]);
        let next = kubeconfig_invalid_next(&s);
        assert!(next.contains("Secret prod/kc-empty[config]"), "{next}");
        let placeholder = next
            .split_whitespace()
            .find(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        assert_eq!(placeholder, None, "{next}");
    }

    const DENIED: &str = "secrets \"db-creds\" is forbidden: User \
        \"system:serviceaccount:apps:eso-reader\" cannot get resource \"secrets\" in API group \"\" \
        in the namespace \"shared\"";
    const OTHER: &str = "https://k8s.other.example:6443";

    fn settings(server: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("server".to_string(), server.to_string()),
            ("remoteNamespace".to_string(), "shared".to_string()),
        ])
    }

    fn remote(context: Option<&str>) -> KubeCluster {
        KubeCluster::Remote {
            server: OTHER.into(),
            context: context.map(str::to_string),
        }
    }

    #[test]
    fn issue15_a_refusal_names_the_identity_and_grants_get_on_that_secret() {
        let cause = denied_cause("db-creds", "shared", Some(DENIED));
        assert!(cause.starts_with("system:serviceaccount:apps:eso-reader may not get secret db-creds in namespace shared"), "{cause}");
        let home = settings("kubernetes.default (this cluster)");
        let next = denied_next(&home, Some(&KubeCluster::Home), "db-creds", Some(DENIED));
        assert_eq!(
            next,
            vec![
                "kubectl auth can-i get secrets/db-creds -n shared --as system:serviceaccount:apps:eso-reader",
                "kubectl create role eso-read-db-creds -n shared --verb=get --resource=secrets --resource-name=db-creds",
                "kubectl create rolebinding eso-read-db-creds -n shared --role=eso-read-db-creds --serviceaccount=apps:eso-reader",
            ]
        );
        // Facts without the field (older JSON) read as the store's own cluster.
        assert_eq!(denied_next(&home, None, "db-creds", Some(DENIED)), next);
    }

    /// Issue 15: another cluster's commands run as printed there — `kubectl --context` of the
    /// kubeconfig's context for that API server — never prefixed by words, never `--server`.
    #[test]
    fn issue15_another_clusters_commands_run_on_its_context() {
        let s = settings(OTHER);
        let next = denied_next(
            &s,
            Some(&remote(Some("other-admin"))),
            "db-creds",
            Some(DENIED),
        );
        assert_eq!(next.len(), 3, "{next:?}");
        assert!(
            next.iter()
                .all(|n| n.starts_with("kubectl --context other-admin ")),
            "{next:?}"
        );
        // Near miss: no context reaches it. The first step says how to add the one the commands
        // name; the commands themselves still run as printed once it exists.
        let next = denied_next(&s, Some(&remote(None)), "db-creds", Some(DENIED));
        assert_eq!(next.len(), 4, "{next:?}");
        assert!(
            next[0].starts_with(
                "no context of your kubeconfig reaches https://k8s.other.example:6443"
            ),
            "{next:?}"
        );
        assert!(
            next[0].contains("kubectl config set-cluster eso-k8s.other.example-6443 --server=https://k8s.other.example:6443"),
            "{next:?}"
        );
        assert!(
            next[1..]
                .iter()
                .all(|n| n.starts_with("kubectl --context eso-k8s.other.example-6443 ")),
            "{next:?}"
        );
        for n in &next {
            assert!(
                !n.contains("--server ") && !n.contains("on the cluster at"),
                "{n}"
            );
        }
        // The missing-Secret step follows the same rule.
        assert_eq!(
            missing_next(&s, Some(&remote(Some("other-admin")))),
            vec!["kubectl --context other-admin get secrets -n shared"]
        );
        assert_eq!(
            missing_next(&s, Some(&KubeCluster::Home)),
            vec!["kubectl get secrets -n shared"]
        );
    }

    #[test]
    fn issue15_a_store_refused_every_secret_gets_one_role_naming_them_all() {
        let here = settings("kubernetes.default (this cluster)");
        let home = Some(&KubeCluster::Home);
        let next = denied_next_all(&here, home, &["db-creds", "api-key"], Some(DENIED));
        assert_eq!(
            next[1],
            "kubectl create role eso-read-db-creds -n shared --verb=get --resource=secrets \
             --resource-name=db-creds --resource-name=api-key"
        );
        // Near miss: one key is the single-Secret grant, nothing more.
        let one = denied_next_all(&here, home, &["db-creds"], Some(DENIED));
        assert_eq!(one, denied_next(&here, home, "db-creds", Some(DENIED)));
        assert!(!one[1].contains("api-key"), "{one:?}");
    }

    #[test]
    fn issue15_near_miss_a_user_that_is_no_service_account_and_a_message_without_one() {
        let m = "secrets \"db\" is forbidden: User \"jane@example.com\" cannot get resource \"secrets\"";
        let here = settings("kubernetes.default (this cluster)");
        let next = denied_next(&here, None, "db", Some(m));
        assert!(next[2].ends_with("--user=jane@example.com"), "{next:?}");
        let bare = denied_next(&here, None, "db", None);
        assert_eq!(bare.len(), 2, "no binding without a subject: {bare:?}");
        assert!(
            bare.iter().all(|n| !n.contains('<') && !n.contains("NAME")),
            "{bare:?}"
        );
        assert_eq!(service_account_of("system:serviceaccount:apps"), None);
    }

    #[test]
    fn issue15_a_rejected_token_names_its_secret() {
        let mut s = settings(OTHER);
        s.insert("auth".into(), "token".into());
        s.insert(
            "bearerToken".into(),
            "Secret apps/remote-token[token]".into(),
        );
        assert!(rejected_cause(&s, None).contains("Secret apps/remote-token[token]"));
        let next = rejected_next(&s, "kubectl describe secretstore remote -n apps");
        assert_eq!(next.len(), 2);
        s.insert("auth".into(), "serviceAccount".into());
        s.insert("serviceAccount".into(), "apps/reader".into());
        assert!(rejected_cause(&s, None).contains("ServiceAccount apps/reader"));
    }

    #[test]
    fn issue15_a_rejected_certificate_names_its_secrets_and_the_client_ca() {
        let mut s = settings(OTHER);
        s.insert("auth".into(), "cert".into());
        s.insert(
            "clientCert".into(),
            "Secret apps/remote-cert[tls.crt]".into(),
        );
        s.insert(
            "clientKey".into(),
            "Secret apps/remote-cert[tls.key]".into(),
        );
        let cause = rejected_cause(&s, None);
        assert!(
            cause.contains(
                "client certificate the store reads from Secret apps/remote-cert[tls.crt]"
            ),
            "{cause}"
        );
        assert!(cause.contains("--client-ca-file"), "{cause}");
        let next = rejected_next(&s, "kubectl describe secretstore remote -n apps");
        assert_eq!(next.len(), 2, "{next:?}");
        assert!(next[0].contains("into Secret apps/remote-cert[tls.crt], and its key into Secret apps/remote-cert[tls.key]"), "{next:?}");
        // Near miss: a token store's rejection says nothing of certificates.
        s.insert("auth".into(), "token".into());
        assert!(!rejected_cause(&s, None).contains("certificate"));
        assert!(
            client_cert_invalid_next(&BTreeMap::new())
                .contains("the Secret key auth.cert.clientCert names")
        );
    }
}
