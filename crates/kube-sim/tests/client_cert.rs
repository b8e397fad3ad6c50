//! Client-certificate authentication over real TLS, as kube-apiserver does it with
//! `--client-ca-file` (issue 15: ESO's kubernetes provider with `auth.cert`): the handshake accepts
//! any certificate or none; a certificate the cluster CA signed is its CommonName (user) and
//! Organizations (groups), then RBAC decides as for any user; one of another CA, expired or not for
//! client auth is 401 — never anonymous — unless a bearer token on the same request authenticates.

use kube_sim::auth::{ClientCa, ClientCert, ClientCertSpec};
use kube_sim::{ApiServer, EsoCrds, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "/api/v1/namespaces/shared/secrets/db";

async fn server() -> ApiServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = ApiServer::start(SimConfig {
        tls: true,
        eso_crds: EsoCrds::None,
        port: 0,
    })
    .await
    .expect("server starts");
    let store = server.store();
    for obj in [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shared"},
            "data": {"password": "cHc="}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "read", "namespace": "shared"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "read", "namespace": "shared"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eso-reader"},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "secret-readers"}
        ]}),
    ] {
        store.create(obj).expect("object");
    }
    server
}

fn client(server: &ApiServer, cert: Option<&ClientCert>) -> reqwest::Client {
    let ca = server.ca_pem().expect("TLS");
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"));
    if let Some(c) = cert {
        let pem = format!("{}{}", c.cert_pem, c.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    b.build().expect("client")
}

async fn get(
    server: &ApiServer,
    cert: Option<&ClientCert>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = client(server, cert).get(format!("{}{SECRET}", server.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .expect("an HTTP answer, not a failed handshake");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn issue(server: &ApiServer, user: &str, groups: &[&str]) -> ClientCert {
    server
        .issue_client_cert(&ClientCertSpec {
            user,
            groups,
            ..Default::default()
        })
        .expect("certificate")
}

#[tokio::test]
async fn a_cluster_ca_certificate_is_its_user_then_rbac_decides() {
    let s = server().await;
    // The user the RoleBinding names, and a member of the group it names.
    for cert in [
        issue(&s, "eso-reader", &[]),
        issue(&s, "someone", &["secret-readers"]),
    ] {
        let (status, body) = get(&s, Some(&cert), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["password"], "cHc=");
    }
    // Near miss: verified, but bound to nothing: the API server's own Forbidden names the user.
    let (status, body) = get(&s, Some(&issue(&s, "eso-other", &["ops"])), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("User \"eso-other\" cannot get resource \"secrets\""),
        "{message}"
    );
    // No certificate and no token: anonymous, refused by RBAC (not 401).
    let (status, body) = get(&s, None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("system:anonymous"),
        "{body}"
    );
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_401_not_anonymous() {
    let s = server().await;
    let other = ClientCa::generate("other-cluster-ca").expect("CA");
    let spec = ClientCertSpec {
        user: "eso-reader",
        ..Default::default()
    };
    let foreign = other.issue(&spec).expect("certificate");
    let expired = s
        .issue_client_cert(&ClientCertSpec {
            expired: true,
            ..spec.clone()
        })
        .expect("certificate");
    let server_only = s
        .issue_client_cert(&ClientCertSpec {
            server_only: true,
            ..spec.clone()
        })
        .expect("certificate");
    for (what, cert) in [
        ("another CA", &foreign),
        ("expired", &expired),
        ("server auth only", &server_only),
    ] {
        let (status, body) = get(&s, Some(cert), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["reason"], "Unauthorized", "{what}: {body}");
    }
    // A bearer token that authenticates wins over a certificate that does not (the union).
    let (status, body) = get(&s, Some(&foreign), Some(&s.admin_token())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
