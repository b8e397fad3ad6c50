//! Builds the Kubernetes client from kubectl's flags: the kubeconfig file (or kube's normal
//! inference, which merges a colon-separated $KUBECONFIG itself), context / cluster / user
//! overrides, impersonation and request timeouts.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kube::client::ClientBuilder;
use kube::{Client, Config};

use super::retry;

use crate::config::KubeTarget;
use crate::error::{Error, Result};

/// The client and the context's default namespace.
/// The kubeconfig's own credentials (bearer token, token file, client key, password) are
/// remembered by the output boundary, which replaces them wherever an error quotes them.
fn learn_credentials(auth: &kube::config::AuthInfo) {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(auth) else {
        return;
    };
    for field in ["token", "client-key-data", "password"] {
        if let Some(serde_json::Value::String(v)) = fields.get(field) {
            crate::redact::learn(v.as_bytes());
            if let Ok(decoded) =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v)
            {
                crate::redact::learn(&decoded);
            }
        }
    }
    if let Some(serde_json::Value::String(path)) = fields.get("tokenFile")
        && let Ok(token) = std::fs::read(path)
    {
        crate::redact::learn(&token);
    }
}

pub async fn connect(target: &KubeTarget) -> Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        cluster: target.cluster.clone(),
        user: target.user.clone(),
    };
    let mut context = target.context.clone();
    let loaded = match kubeconfig_source(
        target.kubeconfig.as_deref(),
        std::env::var_os("KUBECONFIG"),
        home_dir(),
        std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        |p| p.exists(),
    )? {
        KubeconfigSource::Files(paths) => {
            let kc = read_merged(&paths)?;
            check_names(&kc, &options)?;
            context = context.or_else(|| kc.current_context.clone());
            let _ = CONTEXTS.set(contexts_by_server(&kc, context.as_deref()));
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| Error::Kubeconfig(one_line(&e)))
        }
        KubeconfigSource::InCluster => {
            Config::incluster().map_err(|e| Error::Kubeconfig(one_line(&e)))
        }
    };
    let mut config = loaded?;
    learn_credentials(&config.auth_info);
    // Printed on purpose in every error line: a credential that merely begins like one of these
    // names is not quoted by it.
    for name in [
        context.as_deref(),
        Some(config.cluster_url.to_string().as_str()),
    ]
    .into_iter()
    .flatten()
    {
        crate::redact::public(name);
    }
    let _ = CLUSTER.set(format!(
        "server {}, context {}",
        config.cluster_url,
        context.as_deref().unwrap_or("in-cluster")
    ));
    let _ = HOME.set(HomeCluster {
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        ca_pems: config
            .root_cert
            .iter()
            .flatten()
            .map(|der| der_to_pem(der))
            .chain(
                config
                    .root_cert_file
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f).ok()),
            )
            .collect(),
    });
    if let Some(user) = &target.impersonate_user {
        config.auth_info.impersonate = Some(user.clone());
        if !target.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(target.impersonate_groups.clone());
        }
    }
    if let Some(t) = target.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
        // Count the read timeout from each request, not from when a pooled connection went idle.
        config.reset_reader_on_write = true;
    }
    // kube's own retry layer waits up to 1000 s per retry, 15 times: replace it with one whose
    // retries share the request's budget (issue 18).
    config.default_retry = false;
    let budget = target.request_timeout.unwrap_or(retry::DEFAULT_BUDGET);
    let namespace = config.default_namespace.clone();
    let client = ClientBuilder::try_from(config)
        .map_err(|e| Error::Kubeconfig(one_line(&e)))?
        // Retry clones the service per request; the boxed stack is not Clone, a buffer in front is.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(retry::BoundedRetry::new(
            budget,
        )))
        .build();
    Ok((client, namespace))
}

/// Where the kubeconfig comes from, decided as kubectl decides it (issue 13).
#[derive(Debug, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// Files to read and merge, first file winning (kubectl's `KUBECONFIG` rules).
    Files(Vec<PathBuf>),
    /// No kubeconfig, but running in a pod.
    InCluster,
}

/// `--kubeconfig` must exist; a `KUBECONFIG` list keeps the files that exist (kubectl skips
/// missing ones); then `~/.kube/config`; then in-cluster, only when in a pod. Every error is one
/// line with each path quoted once, and in-cluster variables are named only inside a pod.
pub fn kubeconfig_source(
    flag: Option<&Path>,
    env: Option<OsString>,
    home: Option<PathBuf>,
    in_pod: bool,
    exists: impl Fn(&Path) -> bool,
) -> Result<KubeconfigSource> {
    if let Some(path) = flag {
        if !exists(path) {
            return Err(Error::Kubeconfig(format!(
                "\"{}\" does not exist",
                path.display()
            )));
        }
        return Ok(KubeconfigSource::Files(vec![path.to_path_buf()]));
    }
    if let Some(list) = env.filter(|v| !v.is_empty()) {
        let listed: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let present: Vec<PathBuf> = listed.iter().filter(|p| exists(p)).cloned().collect();
        if !present.is_empty() {
            return Ok(KubeconfigSource::Files(present));
        }
        if !in_pod {
            let names: Vec<String> = listed
                .iter()
                .map(|p| format!("\"{}\"", p.display()))
                .collect();
            return Err(Error::Kubeconfig(format!(
                "no file in KUBECONFIG exists ({})",
                names.join(", ")
            )));
        }
        return Ok(KubeconfigSource::InCluster);
    }
    let default = home.map(|h| h.join(".kube").join("config"));
    match default {
        Some(path) if exists(&path) => Ok(KubeconfigSource::Files(vec![path])),
        _ if in_pod => Ok(KubeconfigSource::InCluster),
        Some(path) => Err(Error::Kubeconfig(format!(
            "\"{}\" does not exist; name one with --kubeconfig or KUBECONFIG",
            path.display()
        ))),
        None => Err(Error::Kubeconfig(
            "no home directory to find ~/.kube/config in; name one with --kubeconfig or KUBECONFIG"
                .into(),
        )),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The kubeconfig kubectl would read (`--kubeconfig`, else the `KUBECONFIG` list, else
/// `~/.kube/config`), merged; an error when there is none (in a pod with no file, too).
pub fn load_kubeconfig(flag: Option<&Path>) -> Result<Kubeconfig> {
    match kubeconfig_source(
        flag,
        std::env::var_os("KUBECONFIG"),
        home_dir(),
        false,
        |p| p.exists(),
    )? {
        KubeconfigSource::Files(paths) => read_merged(&paths),
        KubeconfigSource::InCluster => Err(Error::Kubeconfig("no kubeconfig file".into())),
    }
}

/// The files merged as kubectl merges them: for each map, the first file to name an entry wins.
fn read_merged(paths: &[PathBuf]) -> Result<Kubeconfig> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let kc = Kubeconfig::read_from(path)
            .map_err(|e| Error::Kubeconfig(format!("\"{}\": {}", path.display(), one_line(&e))))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| Error::Kubeconfig(one_line(&e)))?,
        });
    }
    merged.ok_or_else(|| Error::Kubeconfig("no kubeconfig file".into()))
}

/// kubectl's answers when `--context`, `--cluster` or `--user` name nothing in the kubeconfig:
/// kube would silently fall back to an anonymous user for `--user` (issue 13).
pub fn check_names(kc: &Kubeconfig, options: &KubeConfigOptions) -> Result<()> {
    if let Some(name) = &options.context
        && !kc.contexts.iter().any(|c| &c.name == name)
    {
        return Err(Error::Usage(format!("context \"{name}\" does not exist")));
    }
    if let Some(name) = &options.cluster
        && !kc.clusters.iter().any(|c| &c.name == name)
    {
        return Err(Error::Usage(format!("cluster \"{name}\" does not exist")));
    }
    if let Some(name) = &options.user
        && !kc.auth_infos.iter().any(|u| &u.name == name)
    {
        return Err(Error::Usage(format!("auth info \"{name}\" does not exist")));
    }
    Ok(())
}

/// The API server the kubeconfig names and the CAs it trusts there (issue 15): where a
/// kubernetes-provider store that reads its own cluster (`kubernetes.default.svc`) is probed
/// from outside the cluster. Set once by [`connect`].
#[derive(Debug, Clone)]
pub struct HomeCluster {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    pub ca_pems: Vec<String>,
}

static HOME: OnceLock<HomeCluster> = OnceLock::new();

/// Each kubeconfig context's API server (normalised), the current context first: which context
/// reaches another cluster a kubernetes-provider store reads (issue 15). Set once by [`connect`].
static CONTEXTS: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// `scheme://host:port/path` with the scheme's default port spelled out and no trailing slash,
/// so `https://h` and `https://h:443/` compare equal.
fn normalise_server(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    Some(format!(
        "{}://{}:{}{}",
        u.scheme(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
        u.path().trim_end_matches('/')
    ))
}

fn contexts_by_server(kc: &Kubeconfig, current: Option<&str>) -> Vec<(String, String)> {
    let server_of = |cluster: &str| {
        kc.clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.server.as_deref())
            .and_then(normalise_server)
    };
    let mut out: Vec<(String, String)> = kc
        .contexts
        .iter()
        .filter_map(|c| {
            let server = server_of(&c.context.as_ref()?.cluster)?;
            Some((server, c.name.clone()))
        })
        .collect();
    // The current context first, then by name: the same answer on every run.
    out.sort_by_key(|(_, name)| (Some(name.as_str()) != current, name.clone()));
    out
}

/// The kubeconfig context whose cluster is the API server at `url`, when there is one (the
/// current context when it is one of them).
pub fn context_for_server(url: &str) -> Option<String> {
    let wanted = normalise_server(url)?;
    CONTEXTS
        .get()?
        .iter()
        .find(|(server, _)| *server == wanted)
        .map(|(_, name)| crate::sanitize::line(name))
}

pub fn home_cluster() -> Option<&'static HomeCluster> {
    HOME.get()
}

/// The kubeconfig's API server as the trust rule compares hosts.
pub fn home_endpoint() -> Option<crate::analysis::trust::Endpoint> {
    home_cluster().and_then(|h| crate::analysis::trust::Endpoint::parse(&h.server))
}

fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The cluster this run talks to, for error lines: set once by [`connect`].
static CLUSTER: OnceLock<String> = OnceLock::new();

/// `server https://…, context NAME` of the cluster connected to, when there is one.
pub fn cluster_label() -> Option<&'static str> {
    CLUSTER.get().map(String::as_str)
}

/// The API server's answer as a person reads it: `403 Forbidden: <the server's message>`.
/// kube's own Display appends the whole `Status { … }` debug dump (issue 18).
pub fn api_status_line(s: &kube::core::Status) -> String {
    let reason = http::StatusCode::from_u16(s.code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or(s.reason.as_str());
    let message = if s.message.is_empty() {
        s.reason.as_str()
    } else {
        s.message.as_str()
    };
    crate::sanitize::line(&format!("{} {reason}: {message}", s.code))
}

/// An error and its sources on one line (kube's Display hides the useful part in `source()`);
/// an API server's answer is rendered by [`api_status_line`], never as a debug dump.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = String::new();
    let mut cur = Some(e);
    while let Some(inner) = cur {
        if let Some(kube::Error::Api(status)) = inner.downcast_ref::<kube::Error>() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&api_status_line(status));
            break;
        }
        let text = inner.to_string();
        if !s.contains(&text) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&text);
        }
        cur = inner.source();
    }
    crate::sanitize::line(&s)
}

#[cfg(test)]
mod tests {

    /// Issue 15: which kubeconfig context reaches another cluster's API server — scheme, host
    /// and port compared (default port spelled out, trailing slash ignored), current context first.
    #[test]
    fn issue15_contexts_are_found_by_their_clusters_server() {
        let kc: Kubeconfig = serde_saphyr::from_str(
            "clusters:\n- name: a\n  cluster: {server: 'https://k8s.other.example'}\n- name: b\n  cluster: {server: 'https://10.0.0.1:6443/'}\ncontexts:\n- name: z-other\n  context: {cluster: a}\n- name: b-admin\n  context: {cluster: b}\n- name: a-admin\n  context: {cluster: a}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let all = contexts_by_server(&kc, Some("z-other"));
        assert_eq!(
            all[0],
            (
                "https://k8s.other.example:443".to_string(),
                "z-other".to_string()
            )
        );
        assert_eq!(
            normalise_server("https://K8S.other.example:443/"),
            Some("https://k8s.other.example:443".into())
        );
        let find = |url: &str| {
            let wanted = normalise_server(url)?;
            all.iter()
                .find(|(s, _)| *s == wanted)
                .map(|(_, n)| n.clone())
        };
        assert_eq!(
            find("https://k8s.other.example:443"),
            Some("z-other".into())
        );
        assert_eq!(find("https://10.0.0.1:6443"), Some("b-admin".into()));
        // Near misses: another port, another scheme.
        assert_eq!(find("https://10.0.0.1:443"), None);
        assert_eq!(find("http://k8s.other.example"), None);
        // Without the current context among them: by name.
        assert_eq!(contexts_by_server(&kc, None)[0].1, "a-admin");
    }
    use super::*;

    fn source(
        flag: Option<&str>,
        env: Option<&str>,
        in_pod: bool,
        existing: &[&str],
    ) -> std::result::Result<KubeconfigSource, String> {
        kubeconfig_source(
            flag.map(Path::new),
            env.map(OsString::from),
            Some(PathBuf::from("/home/u")),
            in_pod,
            |p| existing.iter().any(|e| Path::new(e) == p),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn issue_13_kubeconfig_is_found_as_kubectl_finds_it() {
        let files = |v: &[&str]| {
            Ok(KubeconfigSource::Files(
                v.iter().map(PathBuf::from).collect(),
            ))
        };
        // A KUBECONFIG list with a missing file: the others are used, as kubectl does.
        assert_eq!(
            source(None, Some("/gone:/a:/b"), false, &["/a", "/b"]),
            files(&["/a", "/b"])
        );
        assert_eq!(
            source(None, Some("/gone:/also-gone"), false, &[]),
            Err(
                "cannot load kubeconfig: no file in KUBECONFIG exists (\"/gone\", \"/also-gone\")"
                    .into()
            )
        );
        // A missing --kubeconfig: one line, the path quoted once, no talk of in-cluster variables.
        let e = source(Some("/x"), None, false, &[]);
        assert_eq!(
            e,
            Err("cannot load kubeconfig: \"/x\" does not exist".into())
        );
        let e = source(None, None, false, &[]).err().unwrap_or_default();
        assert_eq!(
            e,
            "cannot load kubeconfig: \"/home/u/.kube/config\" does not exist; name one with \
             --kubeconfig or KUBECONFIG"
        );
        assert_eq!(
            source(None, None, false, &["/home/u/.kube/config"]),
            files(&["/home/u/.kube/config"])
        );
        assert_eq!(
            source(None, None, true, &[]),
            Ok(KubeconfigSource::InCluster)
        );
    }

    #[test]
    fn issue_13_an_unknown_user_context_or_cluster_is_an_error_as_in_kubectl() {
        let kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: https://x}}]\n\
             users: [{name: u, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: c, user: u}}]\n",
        );
        let kc = match kc {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let with = |context: Option<&str>, cluster: Option<&str>, user: Option<&str>| {
            check_names(
                &kc,
                &KubeConfigOptions {
                    context: context.map(String::from),
                    cluster: cluster.map(String::from),
                    user: user.map(String::from),
                },
            )
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            with(None, None, Some("x")),
            Err("auth info \"x\" does not exist".into())
        );
        assert_eq!(
            with(Some("x"), None, None),
            Err("context \"x\" does not exist".into())
        );
        assert_eq!(
            with(None, Some("x"), None),
            Err("cluster \"x\" does not exist".into())
        );
        assert_eq!(with(Some("k"), Some("c"), Some("u")), Ok(()));
    }

    #[test]
    fn issue_18_api_errors_read_as_code_reason_message_without_a_debug_dump() {
        let status = kube::core::Status::failure(
            "externalsecrets.external-secrets.io is forbidden: User \"bob\" cannot list",
            "Forbidden",
        )
        .with_code(403);
        let e = kube::Error::Api(Box::new(status));
        let line = one_line(&e);
        assert_eq!(
            line,
            "403 Forbidden: externalsecrets.external-secrets.io is forbidden: User \"bob\" cannot list"
        );
        assert!(
            !line.contains("Status {") && !line.contains("Some("),
            "{line}"
        );
    }
}
