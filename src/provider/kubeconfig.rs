//! A kubeconfig read as ESO's kubernetes provider reads the one its `authRef` Secret holds:
//! `clientcmd.RESTConfigFromKubeConfig` (providers/v1/kubernetes/auth.go `getAuth`) — the
//! current context, its cluster's server and CA, its user's credential. The errors are client-go's
//! own (clientcmd/validation.go), so the report quotes what ESO's log says. Pure: bytes in, a
//! plan out; every credential it holds is a [`Sensitive`], remembered by the output boundary.

use serde_json::Value;

use crate::model::chain::Sensitive;

/// What ESO's client would be built from.
pub struct Kubeconfig {
    /// The current context's name.
    pub context: String,
    /// Its user's name (for the report).
    pub user_name: String,
    /// The cluster's `server`, as written.
    pub server: String,
    /// `certificate-authority-data`, decoded (PEM).
    pub ca_pem: Option<String>,
    pub user: KubeconfigUser,
}

pub enum KubeconfigUser {
    /// `token`.
    Token(Sensitive),
    /// `client-certificate-data` and `client-key-data`, decoded (PEM), and a `token` beside
    /// them if there is one: client-go then sends both (the certificate in the handshake, the
    /// token as a bearer header), and the API server takes whichever authenticates.
    Cert {
        cert: Sensitive,
        key: Sensitive,
        token: Option<Sensitive>,
    },
    /// No credential: an anonymous client.
    Anonymous,
    /// A credential ESO's client would obtain in ways the probe does not reproduce (an exec
    /// plugin run inside ESO's pod, an auth provider, files of ESO's pod, basic auth,
    /// impersonation, no server certificate check): why, in words.
    NotProbed(String),
}

/// client-go's answer to a kubeconfig without a usable context (`ErrEmptyConfig`).
pub const EMPTY_CONFIG: &str = "invalid configuration: no configuration has been provided, try setting \
     KUBERNETES_MASTER environment variable";

fn named<'a>(v: &'a Value, list: &str, name: &str, inner: &str) -> Option<&'a Value> {
    v.get(list)?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
        .map(|e| e.get(inner).unwrap_or(&Value::Null))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn base64_field(v: &Value, key: &str, what: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let raw = text(v, key).trim();
    if raw.is_empty() {
        return Ok(None);
    }
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map(Some)
        .map_err(|_| format!("{what} ({key}) is not base64"))
}

/// Reads `bytes` as client-go would; `Err` is the reason ESO cannot build its client.
pub fn parse(bytes: &[u8]) -> Result<Kubeconfig, String> {
    let text_in = std::str::from_utf8(bytes).map_err(|_| "the kubeconfig is not UTF-8 text")?;
    let v: Value = serde_saphyr::from_str(text_in)
        .map_err(|_| "error loading config: the kubeconfig is neither YAML nor JSON".to_string())?;
    if !v.is_object() {
        return Err(EMPTY_CONFIG.into());
    }
    let context = text(&v, "current-context").to_string();
    if context.is_empty() {
        // client-go: no context, so no cluster, and "no server" alone reads as an empty config.
        return Err(EMPTY_CONFIG.into());
    }
    let Some(ctx) = named(&v, "contexts", &context, "context") else {
        return Err(format!(
            "invalid configuration: context was not found for specified context: {context}"
        ));
    };
    let cluster_name = text(ctx, "cluster").to_string();
    let user_name = text(ctx, "user").to_string();
    let cluster = named(&v, "clusters", &cluster_name, "cluster").unwrap_or(&Value::Null);
    let server = text(cluster, "server").trim().to_string();
    if server.is_empty() {
        return Err(if cluster_name.is_empty() {
            "invalid configuration: default cluster has no server defined".into()
        } else {
            format!("invalid configuration: no server found for cluster {cluster_name:?}")
        });
    }
    let ca_pem = base64_field(cluster, "certificate-authority-data", "the cluster's CA")?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let user = named(&v, "users", &user_name, "user").unwrap_or(&Value::Null);
    let has = |k: &str| user.get(k).is_some_and(|x| !x.is_null() && x != "");
    let mut methods = Vec::new();
    if has("token") {
        methods.push("token");
    }
    if has("username") || has("password") {
        methods.push("basicAuth");
    }
    if methods.len() > 1 {
        return Err(format!(
            "invalid configuration: more than one authentication method found for {user_name}; \
             found [{}], only one is allowed",
            methods.join(" ")
        ));
    }
    let cert = base64_field(user, "client-certificate-data", "the client certificate")?;
    let key = base64_field(user, "client-key-data", "the client key")?;
    if (cert.is_some() || has("client-certificate")) && key.is_none() && !has("client-key") {
        return Err(format!(
            "invalid configuration: client-key-data or client-key must be specified for \
             {user_name} to use the clientCert authentication method."
        ));
    }
    let not_probed = |why: String| KubeconfigUser::NotProbed(why);
    let token = || Sensitive::from_bytes(text(user, "token").trim().as_bytes().to_vec());
    let user_plan = if text(cluster, "insecure-skip-tls-verify") == "true"
        || cluster.get("insecure-skip-tls-verify") == Some(&Value::Bool(true))
    {
        not_probed(
            "the cluster sets insecure-skip-tls-verify: ESO does not check the API server's \
             certificate, and kubectl-eso sends no credential to a server it cannot verify"
                .into(),
        )
    } else if let Some(exec) = user.get("exec").filter(|e| !e.is_null()) {
        not_probed(format!(
            "user {user_name:?} runs the exec plugin {:?} inside ESO's pod to get its credential",
            text(exec, "command")
        ))
    } else if let Some(p) = user.get("auth-provider").filter(|e| !e.is_null()) {
        not_probed(format!(
            "user {user_name:?} gets its credential from the auth provider {:?}",
            text(p, "name")
        ))
    } else if has("as") || has("as-groups") {
        not_probed(format!(
            "user {user_name:?} impersonates another user (as / as-groups)"
        ))
    } else if has("tokenFile") || has("client-certificate") || has("client-key") {
        not_probed(format!(
            "user {user_name:?} reads its credential from a file of ESO's pod (tokenFile, \
             client-certificate or client-key)"
        ))
    } else if has("username") {
        not_probed(format!("user {user_name:?} uses basic auth"))
    } else if let (Some(cert), Some(key)) = (cert, key) {
        KubeconfigUser::Cert {
            cert: Sensitive::from_bytes(cert),
            key: Sensitive::from_bytes(key),
            token: has("token").then(token),
        }
    } else if has("token") {
        KubeconfigUser::Token(token())
    } else {
        KubeconfigUser::Anonymous
    };
    if cluster
        .get("certificate-authority")
        .is_some_and(|x| !x.is_null() && x != "")
        && ca_pem.is_none()
    {
        // A CA file of ESO's pod: the probe cannot read it.
        return Ok(Kubeconfig {
            user: not_probed(format!(
                "cluster {cluster_name:?} names its CA as a file of ESO's pod \
                 (certificate-authority)"
            )),
            context,
            user_name,
            server,
            ca_pem,
        });
    }
    // client-go's DefaultServerURL: a server without a scheme is https when TLS is configured
    // (a CA or a client certificate), else http.
    let server = if server.contains("://") {
        server
    } else {
        let tls = ca_pem.is_some() || matches!(user_plan, KubeconfigUser::Cert { .. });
        format!("{}://{server}", if tls { "https" } else { "http" })
    };
    Ok(Kubeconfig {
        context,
        user_name,
        server,
        ca_pem,
        user: user_plan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kc(cluster: &str, user: &str, current: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n{cluster}\n\
             users:\n- name: eso\n  user:\n{user}\ncontexts:\n- name: eso@remote\n  context:\n    \
             cluster: remote\n    user: eso\ncurrent-context: {current}\n"
        )
    }

    const SERVER: &str = "    server: https://10.1.2.3:6443";

    #[test]
    fn a_token_kubeconfig_names_its_server_ca_and_token() {
        let ca = "    server: https://10.1.2.3:6443\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t";
        let k = parse(kc(ca, "    token: abc.def", "eso@remote").as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.server, "https://10.1.2.3:6443");
        assert_eq!(k.context, "eso@remote");
        assert_eq!(k.ca_pem.as_deref(), Some("-----BEGIN CERTIFICATE-----"));
        assert!(matches!(k.user, KubeconfigUser::Token(ref t) if t.bytes() == b"abc.def"));
    }

    #[test]
    fn json_is_a_kubeconfig_too() {
        let j = r#"{"clusters":[{"name":"c","cluster":{"server":"https://h:6443"}}],
            "users":[{"name":"u","user":{}}],"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],
            "current-context":"x"}"#;
        let k = parse(j.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(k.user, KubeconfigUser::Anonymous));
    }

    #[test]
    fn client_gos_own_errors() {
        // No current-context: client-go's empty-config error, which ESO's log shows.
        let e = parse(kc(SERVER, "    token: t", "").as_bytes()).err();
        assert_eq!(e.as_deref(), Some(EMPTY_CONFIG));
        let e = parse(kc(SERVER, "    token: t", "elsewhere").as_bytes()).err();
        assert_eq!(
            e.as_deref(),
            Some("invalid configuration: context was not found for specified context: elsewhere")
        );
        let e = parse(
            kc(
                "    insecure-skip-tls-verify: false",
                "    token: t",
                "eso@remote",
            )
            .as_bytes(),
        )
        .err();
        assert_eq!(
            e.as_deref(),
            Some("invalid configuration: no server found for cluster \"remote\"")
        );
        let e = parse(kc(SERVER, "    token: t\n    username: admin", "eso@remote").as_bytes())
            .err()
            .unwrap_or_default();
        assert!(e.contains("more than one authentication method"), "{e}");
        let e = parse(kc(SERVER, "    client-certificate-data: Zm9v", "eso@remote").as_bytes())
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("client-key-data or client-key must be specified"),
            "{e}"
        );
        assert!(parse(b"::: not yaml [").is_err());
        assert!(parse(b"").is_err());
        let e = parse(
            kc(
                "    server: https://h\n    certificate-authority-data: '%%%'",
                "",
                "eso@remote",
            )
            .as_bytes(),
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("not base64"), "{e}");
    }

    #[test]
    fn credentials_the_probe_does_not_reproduce_are_named() {
        for (user, cluster, want) in [
            (
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws",
                SERVER.to_string(),
                "exec plugin \"aws\"",
            ),
            (
                "    auth-provider:\n      name: oidc",
                SERVER.to_string(),
                "auth provider \"oidc\"",
            ),
            (
                "    tokenFile: /var/run/t",
                SERVER.to_string(),
                "file of ESO's pod",
            ),
            (
                "    token: t\n    as: admin",
                SERVER.to_string(),
                "impersonates",
            ),
            ("    username: a\n", SERVER.to_string(), "basic auth"),
            (
                "    token: t",
                format!("{SERVER}\n    insecure-skip-tls-verify: true"),
                "insecure-skip-tls-verify",
            ),
            (
                "    token: t",
                format!("{SERVER}\n    certificate-authority: /etc/ca.crt"),
                "CA as a file",
            ),
        ] {
            let k = parse(kc(&cluster, user, "eso@remote").as_bytes())
                .unwrap_or_else(|e| panic!("{user}: {e}"));
            match k.user {
                KubeconfigUser::NotProbed(why) => assert!(why.contains(want), "{why}"),
                _ => panic!("{user}: probed"),
            }
        }
        // Near miss: a client certificate and key as data are probed.
        let k = parse(
            kc(
                SERVER,
                "    client-certificate-data: Zm9v\n    client-key-data: YmFy",
                "eso@remote",
            )
            .as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(k.user, KubeconfigUser::Cert { token: None, .. }));
        // A token beside them: client-go sends both, so does the probe.
        let k = parse(
            kc(
                SERVER,
                "    client-certificate-data: Zm9v\n    client-key-data: YmFy\n    token: abc",
                "eso@remote",
            )
            .as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        match k.user {
            KubeconfigUser::Cert { token: Some(t), .. } => assert_eq!(t.text(), "abc"),
            _ => panic!("not a certificate with its token"),
        }
    }
}
