//! Issue 15, ESO's `kubernetes` provider: the findings a client certificate, a CA ESO refuses and
//! another cluster's RBAC refusal give, each with its near miss, through doctor's rules as the
//! probe's facts reach them.

use super::tests::{check, key, probe, run_probes, user};
use super::*;
use crate::diagnose::catalogue::*;
use crate::model::chain::KubeCluster;

const OTHER: &str = "https://k8s.other.example:6443";

/// A kubernetes store reading another cluster with `auth`, whose login failed with `code`.
fn refused(auth: &str, code: &str, error: &str) -> StoreProbe {
    let mut p = probe(Some(error), vec![], vec![user("a", "db")]);
    p.provider_kind = "kubernetes".into();
    p.provider.login_code = Some(code.into());
    p.kube_cluster = Some(KubeCluster::Remote {
        server: OTHER.into(),
        context: None,
    });
    p.settings = [
        ("server", OTHER),
        ("remoteNamespace", "shared"),
        ("auth", auth),
        ("clientCert", "Secret team/remote-cert[tls.crt]"),
        ("clientKey", "Secret team/remote-cert[tls.key]"),
        ("bearerToken", "Secret team/remote-token[token]"),
    ]
    .into_iter()
    .filter(|(k, _)| match auth {
        "cert" => *k != "bearerToken",
        _ => *k != "clientCert" && *k != "clientKey",
    })
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p
}

fn first(p: StoreProbe) -> Finding {
    let r = run_probes(&[p]);
    check(&r, CheckId::Providers).findings[0].clone()
}

#[test]
fn issue15_a_rejected_client_certificate_is_its_own_finding_naming_its_secrets() {
    let f = first(refused(
        "cert",
        "HTTP 401",
        "the API server at https://k8s.other.example:6443 rejected the credential (401 \
         Unauthorized); the certificate presented: CN=eso-reader, issued by CN=other-ca",
    ));
    assert_eq!(f.code, KUBERNETES_CERT_REJECTED);
    assert_eq!(f.object, "ClusterSecretStore akv-hybridops");
    assert!(
        f.message
            .contains("client certificate the store reads from Secret team/remote-cert[tls.crt]"),
        "{f:?}"
    );
    assert!(
        f.evidence.join(" ").contains("issued by CN=other-ca"),
        "{f:?}"
    );
    let next = f.next.join(" ");
    assert!(next.contains("--client-ca-file"), "{next}");
    assert!(next.contains("Secret team/remote-cert[tls.key]"), "{next}");
    // Near miss: the same 401 to a bearer token is the token's finding, not the certificate's.
    let f = first(refused("token", "HTTP 401", "401 Unauthorized"));
    assert_eq!(f.code, KUBERNETES_TOKEN_REJECTED);
    assert!(!f.message.contains("certificate"), "{f:?}");
}

/// An authRef store whose kubeconfig's user is `kubeconfig_user`, refused with 401.
fn kubeconfig_refused(kubeconfig_user: Option<&str>) -> Finding {
    let mut p = refused("authRef (kubeconfig)", "HTTP 401", "401 Unauthorized");
    p.settings
        .insert("authRef".into(), "Secret team/remote-kc[config]".into());
    p.provider.kubeconfig_user = kubeconfig_user.map(str::to_string);
    first(p)
}

#[test]
fn an_authref_kubeconfig_whose_certificate_is_refused_is_the_certificates_finding() {
    let f = kubeconfig_refused(Some("cert"));
    assert_eq!(f.code, KUBERNETES_CERT_REJECTED);
    assert!(
        f.message.contains("client certificate of its user"),
        "{f:?}"
    );
    assert!(f.message.contains("Secret team/remote-kc[config]"), "{f:?}");
    assert_eq!(f.field.as_deref(), Some("spec.provider.kubernetes.authRef"));
    assert!(
        f.next.join(" ").contains("Secret team/remote-kc[config]"),
        "{f:?}"
    );
    // Near misses: a token user is the token's finding; a user the probe did not learn stays
    // the credential's, in words that name both.
    let f = kubeconfig_refused(Some("token"));
    assert_eq!(f.code, KUBERNETES_TOKEN_REJECTED);
    assert!(f.message.contains("rejects the token of its user"), "{f:?}");
    assert!(!f.message.contains("certificate"), "{f:?}");
    let f = kubeconfig_refused(None);
    assert_eq!(f.code, KUBERNETES_TOKEN_REJECTED);
    assert!(f.message.contains("token or certificate"), "{f:?}");
}

#[test]
fn issue15_an_unusable_client_certificate_is_no_rejection() {
    let f = first(refused(
        "cert",
        "client certificate",
        "ESO cannot build its client: clientKey is not the private key of clientCert \
         (CN=eso-reader)",
    ));
    assert_eq!(f.code, KUBERNETES_CLIENT_CERT_INVALID);
    assert!(
        f.message.contains("not the private key of clientCert"),
        "{f:?}"
    );
    let next = f.next.join(" ");
    assert!(
        next.contains("PEM client certificate in Secret team/remote-cert[tls.crt]"),
        "{next}"
    );
    // Near miss: a certificate that reached the API server and was refused there.
    assert_eq!(
        first(refused("cert", "HTTP 401", "401 Unauthorized")).code,
        KUBERNETES_CERT_REJECTED
    );
}

#[test]
fn issue15_a_ca_that_is_no_certificate_is_not_an_untrusted_server() {
    let f = first(refused(
        "token",
        "CA",
        "ESO cannot build its client: server.caBundle is not a PEM certificate: it holds no \
         PEM block",
    ));
    assert_eq!(f.code, KUBERNETES_CA_INVALID);
    assert!(
        f.message
            .contains("server.caBundle is not a PEM certificate: it holds no PEM block"),
        "{f:?}"
    );
    assert!(f.next.join(" ").contains("base64 -w0 ca.crt"), "{f:?}");
    // Near miss: a well-formed CA that does not verify the server is the untrusted finding.
    assert_eq!(
        first(refused(
            "token",
            "TLS",
            "invalid peer certificate: UnknownIssuer"
        ))
        .code,
        KUBERNETES_CA_UNTRUSTED
    );
}

#[test]
fn issue15_another_clusters_rbac_refusal_runs_on_its_context() {
    let mut denied = key("db");
    denied.path = "secrets/db in namespace shared".into();
    denied.readable = Some(false);
    denied.exists = None;
    denied.error = Some(
        "secrets \"db\" is forbidden: User \"eso-reader\" cannot get resource \"secrets\" in \
         API group \"\" in the namespace \"shared\""
            .into(),
    );
    let mut p = refused("cert", "", "");
    p.provider.login_error = None;
    p.provider.login_code = None;
    p.provider.keys = vec![denied];
    p.kube_cluster = Some(KubeCluster::Remote {
        server: OTHER.into(),
        context: Some("other-admin".into()),
    });
    let f = first(p.clone());
    assert_eq!(f.code, KUBERNETES_RBAC_DENIED);
    assert!(
        f.next[0].starts_with(
            "kubectl --context other-admin auth can-i get secrets/db -n shared --as eso-reader"
        ),
        "{f:?}"
    );
    assert!(
        f.next
            .iter()
            .any(|n| n.ends_with("--role=eso-read-db --user=eso-reader")),
        "{f:?}"
    );
    // Near miss: the store's own cluster runs on the current context, with no --context.
    p.kube_cluster = Some(KubeCluster::Home);
    let f = first(p);
    assert!(
        f.next[0].starts_with("kubectl auth can-i get secrets/db"),
        "{f:?}"
    );
}
