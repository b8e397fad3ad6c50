//! ESO's `kubernetes` provider (issue 15): its refusals in plain words and the kubectl commands
//! that show and fix them. The API server's own Status message names the verb, the Secret, the
//! namespace and the identity (`secrets "db" is forbidden: User "system:serviceaccount:apps:eso"
//! cannot get resource "secrets" in API group "" in the namespace "shared"`); the commands are
//! built from it and from the store's settings, never from placeholders. Pure.

use std::collections::BTreeMap;

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

/// "on the cluster at URL: " when the store reads another cluster than the kubeconfig's.
fn on_cluster(settings: &BTreeMap<String, String>) -> String {
    match settings.get("server") {
        Some(s) if !s.contains("this cluster") => format!("on the cluster at {s}: "),
        _ => String::new(),
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
    key: &str,
    message: Option<&str>,
) -> Vec<String> {
    denied_next_all(settings, &[key], message)
}

/// As [`denied_next`], for every Secret a store reads (one Role naming them all).
pub fn denied_next_all(
    settings: &BTreeMap<String, String>,
    keys: &[&str],
    message: Option<&str>,
) -> Vec<String> {
    let ns = remote_namespace(settings);
    let at = on_cluster(settings);
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
    let mut next = Vec::new();
    let subject = match user.as_deref() {
        Some(u) => match service_account_of(u) {
            Some((sa_ns, sa)) => format!("--serviceaccount={sa_ns}:{sa}"),
            None => format!("--user={u}"),
        },
        None => String::new(),
    };
    match &user {
        Some(u) => next.push(format!(
            "{at}kubectl auth can-i get secrets/{key} -n {ns} --as {u}"
        )),
        None => next.push(format!("{at}kubectl get rolebindings -n {ns} -o wide")),
    }
    next.push(format!(
        "{at}kubectl create role {role} -n {ns} --verb=get --resource=secrets{names}"
    ));
    if !subject.is_empty() {
        next.push(format!(
            "{at}kubectl create rolebinding {role} -n {ns} --role={role} {subject}"
        ));
    }
    next
}

/// The API server did not accept the credential (401): which one, in words.
pub fn rejected_cause(settings: &BTreeMap<String, String>) -> String {
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
        _ => format!("{server} rejects the store's credential (401 Unauthorized)"),
    }
}

/// After a rejected credential: where the new one goes, then the store to watch.
pub fn rejected_next(settings: &BTreeMap<String, String>, describe_store: &str) -> Vec<String> {
    let mut next = Vec::new();
    if let Some(s) = settings.get("bearerToken") {
        next.push(format!(
            "put a current token of the remote identity into {s} (in Git / your secret \
             pipeline); kubectl create token creates one on the cluster that issues it"
        ));
    }
    next.push(describe_store.to_string());
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENIED: &str = "secrets \"db-creds\" is forbidden: User \
        \"system:serviceaccount:apps:eso-reader\" cannot get resource \"secrets\" in API group \"\" \
        in the namespace \"shared\"";

    fn settings(server: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("server".to_string(), server.to_string()),
            ("remoteNamespace".to_string(), "shared".to_string()),
        ])
    }

    #[test]
    fn issue15_a_refusal_names_the_identity_and_grants_get_on_that_secret() {
        let cause = denied_cause("db-creds", "shared", Some(DENIED));
        assert!(cause.starts_with("system:serviceaccount:apps:eso-reader may not get secret db-creds in namespace shared"), "{cause}");
        let next = denied_next(
            &settings("kubernetes.default (this cluster)"),
            "db-creds",
            Some(DENIED),
        );
        assert_eq!(
            next,
            vec![
                "kubectl auth can-i get secrets/db-creds -n shared --as system:serviceaccount:apps:eso-reader",
                "kubectl create role eso-read-db-creds -n shared --verb=get --resource=secrets --resource-name=db-creds",
                "kubectl create rolebinding eso-read-db-creds -n shared --role=eso-read-db-creds --serviceaccount=apps:eso-reader",
            ]
        );
        // Another cluster: every command says where it must run.
        let remote = denied_next(
            &settings("https://k8s.other.example:6443"),
            "db-creds",
            Some(DENIED),
        );
        assert!(
            remote.iter().all(
                |n| n.starts_with("on the cluster at https://k8s.other.example:6443: kubectl ")
            ),
            "{remote:?}"
        );
    }

    #[test]
    fn issue15_a_store_refused_every_secret_gets_one_role_naming_them_all() {
        let here = settings("kubernetes.default (this cluster)");
        let next = denied_next_all(&here, &["db-creds", "api-key"], Some(DENIED));
        assert_eq!(
            next[1],
            "kubectl create role eso-read-db-creds -n shared --verb=get --resource=secrets \
             --resource-name=db-creds --resource-name=api-key"
        );
        // Near miss: one key is the single-Secret grant, nothing more.
        let one = denied_next_all(&here, &["db-creds"], Some(DENIED));
        assert_eq!(one, denied_next(&here, "db-creds", Some(DENIED)));
        assert!(!one[1].contains("api-key"), "{one:?}");
    }

    #[test]
    fn issue15_near_miss_a_user_that_is_no_service_account_and_a_message_without_one() {
        let m = "secrets \"db\" is forbidden: User \"jane@example.com\" cannot get resource \"secrets\"";
        let next = denied_next(
            &settings("kubernetes.default (this cluster)"),
            "db",
            Some(m),
        );
        assert!(next[2].ends_with("--user=jane@example.com"), "{next:?}");
        let bare = denied_next(&settings("kubernetes.default (this cluster)"), "db", None);
        assert_eq!(bare.len(), 2, "no binding without a subject: {bare:?}");
        assert!(
            bare.iter().all(|n| !n.contains('<') && !n.contains("NAME")),
            "{bare:?}"
        );
        assert_eq!(service_account_of("system:serviceaccount:apps"), None);
    }

    #[test]
    fn issue15_a_rejected_token_names_its_secret() {
        let mut s = settings("https://k8s.other.example:6443");
        s.insert("auth".into(), "token".into());
        s.insert(
            "bearerToken".into(),
            "Secret apps/remote-token[token]".into(),
        );
        assert!(rejected_cause(&s).contains("Secret apps/remote-token[token]"));
        let next = rejected_next(&s, "kubectl describe secretstore remote -n apps");
        assert_eq!(next.len(), 2);
        s.insert("auth".into(), "serviceAccount".into());
        s.insert("serviceAccount".into(), "apps/reader".into());
        assert!(rejected_cause(&s).contains("ServiceAccount apps/reader"));
    }
}
