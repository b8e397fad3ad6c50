//! The sandbox behind `kubectl eso sandbox`: a simulated ESO controller and simulated providers (Vault, Azure Key
//! Vault, a container registry) on top of the simulated API server, loaded with incident scenarios.
//! See docs/ARCHITECTURE.md for the public API.

pub mod admin;
pub mod akv;
pub mod aws;
pub mod backdate;
pub mod eso;
pub mod kubelet;
pub mod registry;
pub mod scenario;
mod tls;
pub mod vault;

use anyhow::{Context, bail};
use scenario::{Scenario, Step};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub use kube_sim::{ApiServer, EsoCrds, Fault, SimConfig, parse_fault};

/// (name, one-line description) of every scenario, for `sandbox --list`.
pub fn scenario_names() -> Vec<(&'static str, String)> {
    scenario::names()
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub scenario: String,
    /// Size of the `scale` scenario (number of ExternalSecrets).
    pub scale: Option<usize>,
    pub tls: bool,
    /// Who serves an AWS scenario's region: moto behind the sandbox's front when installed
    /// (`Auto`, see `aws::AwsBackend`), or the simulation.
    pub aws_backend: aws::AwsBackend,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            scenario: "healthy".into(),
            scale: None,
            tls: true,
            aws_backend: aws::AwsBackend::Auto,
        }
    }
}

pub struct Sandbox {
    // Field order is drop order: controllers stop before the servers they talk to.
    controller: eso::Controller,
    _kubelet: kubelet::Kubelet,
    api: ApiServer,
    vault: vault::VaultSim,
    akv: Option<akv::AkvSim>,
    aws: Option<aws::AwsSim>,
    registry: registry::RegistrySim,
    canaries: Vec<String>,
    /// The `${NAME}` placeholders of the scenario's objects, for incident steps too.
    vars: BTreeMap<String, String>,
    /// What the API server held once the start had settled.
    stored: kube_sim::Packed,
}

const ROOT_TOKEN: &str = "sandbox-root-token";
/// The user (CommonName) of the client certificates `${API_CLIENT_CERT_B64}` and
/// `${FOREIGN_CLIENT_CERT_B64}` (ESO's kubernetes provider with `auth.cert`, issue 15).
pub const CLIENT_CERT_USER: &str = "eso-billing-reader";
const SETTLE: Duration = Duration::from_secs(60);
/// How many changes in-process watchers may have yet to receive while the sandbox writes in bulk.
pub(crate) const KEEP_UP: usize = 4096;
/// How many scenario objects are written under one lock of the store.
const LOAD_BATCH: usize = 64;

impl Sandbox {
    pub async fn start(opts: SandboxOptions) -> anyhow::Result<Sandbox> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (scenario, text) = if opts.scenario == "scale" {
            let s = scenario::scale::generate();
            (s, String::new())
        } else {
            let Some(text) = scenario::text(&opts.scenario) else {
                let known: Vec<&str> = scenario_names().iter().map(|(n, _)| *n).collect();
                bail!(
                    "unknown scenario {:?} (known: {})",
                    opts.scenario,
                    known.join(", ")
                );
            };
            (
                scenario::parse(text).map_err(anyhow::Error::msg)?,
                text.to_string(),
            )
        };

        let api = ApiServer::start(SimConfig {
            tls: opts.tls,
            ..SimConfig::default()
        })
        .await
        .context("starting the simulated API server")?;
        api.store()
            .set_strict_token_review(scenario.cluster.strict_token_review);
        let users = scenario
            .registry
            .users
            .iter()
            .map(|u| (u.username.clone(), u.password.clone()))
            .collect();
        let registry = registry::RegistrySim::start(users)
            .await
            .context("starting the sandbox registry")?;
        for image in &scenario.registry.images {
            let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
            registry.add_image(name, tag);
        }
        let vault = vault::VaultSim::start(ROOT_TOKEN)
            .await
            .context("starting the simulated Vault")?;
        let admin = vault::VaultAdmin::new(&vault.addr(), ROOT_TOKEN)?;
        configure_vault(&admin, &api, &scenario).await?;
        let akv = match &scenario.akv {
            Some(state) => {
                let state: akv::AkvState =
                    serde_json::from_value(state.clone()).context("the scenario's akv section")?;
                let akv = akv::AkvSim::start(state)
                    .await
                    .context("starting the Key Vault fake")?;
                // Entra ID verifies workload-identity tokens with the cluster's published
                // service-account keys (its OIDC issuer's JWK Set): hand it this cluster's.
                if let Some(jwks) = api.store().authenticator().jwks() {
                    akv.state().trust_issuer(kube_sim::auth::ISSUER, jwks);
                }
                Some(akv)
            }
            None => None,
        };
        let aws = match &scenario.aws {
            Some(setup) => {
                // The account's IAM OIDC provider is this cluster's service-account issuer.
                let issuer = api
                    .store()
                    .authenticator()
                    .jwks()
                    .map(|jwks| (kube_sim::auth::ISSUER.to_string(), jwks));
                Some(
                    aws::AwsSim::start_with(
                        aws::region_from_setup(setup, issuer),
                        &opts.aws_backend,
                    )
                    .await
                    .context("starting the sandbox's AWS region")?,
                )
            }
            None => None,
        };

        let mut vars = BTreeMap::from([
            ("VAULT_ADDR".to_string(), vault.addr()),
            ("REGISTRY_HOST".to_string(), registry.host()),
            // The host without its port: what a pull secret's `auths` key often says by mistake.
            (
                "REGISTRY_HOSTNAME".to_string(),
                registry
                    .host()
                    .rsplit_once(':')
                    .map(|(h, _)| h.to_string())
                    .unwrap_or_else(|| registry.host()),
            ),
        ]);
        // ESO's kubernetes provider reading its own cluster (issue 15): the API server's CA, as
        // a store's `server.caBundle` holds it.
        vars.insert(
            "API_CA_B64".into(),
            api.ca_pem()
                .map(|pem| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(pem)
                })
                .unwrap_or_default(),
        );
        // ...and client certificates for `auth.cert` (PEM, base64 as a Secret's data holds it):
        // user eso-billing-reader, signed by the API server's client CA (the cluster CA), and the
        // same user signed by a CA the API server does not trust (the cluster's previous one).
        for (prefix, cert) in [
            (
                "API_CLIENT",
                api.issue_client_cert(&kube_sim::auth::ClientCertSpec {
                    user: CLIENT_CERT_USER,
                    ..Default::default()
                }),
            ),
            (
                "FOREIGN_CLIENT",
                kube_sim::auth::ClientCa::generate("kube-sim-ca-previous").and_then(|ca| {
                    ca.issue(&kube_sim::auth::ClientCertSpec {
                        user: CLIENT_CERT_USER,
                        ..Default::default()
                    })
                }),
            ),
        ] {
            use base64::Engine;
            let Ok(cert) = cert else { continue };
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            vars.insert(format!("{prefix}_CERT_B64"), b64(&cert.cert_pem));
            vars.insert(format!("{prefix}_KEY_B64"), b64(&cert.key_pem));
        }
        if let Some(a) = &akv {
            vars.insert("AKV_AUTHORITY".into(), a.authority_url());
            vars.insert("AKV_KEYVAULT_ENDPOINT".into(), a.key_vault_endpoint());
            vars.insert("AKV_DNS_SUFFIX".into(), a.key_vault_dns_suffix());
            vars.insert("AKV_VAULT_URL".into(), a.vault_url("hybridops"));
            vars.insert("AKV_TENANT".into(), a.tenant_id());
        }
        let objects: Box<dyn Iterator<Item = Value>> = if opts.scenario == "scale" {
            Box::new(scenario::scale::objects(
                opts.scale.unwrap_or(10_000),
                &vars,
            ))
        } else {
            Box::new(
                scenario::objects(&scenario::substitute(&scenario.objects, &vars))
                    .map_err(anyhow::Error::msg)?
                    .into_iter(),
            )
        };
        let store = api.store();
        let install = scenario::objects(scenario::ESO_INSTALL).map_err(anyhow::Error::msg)?;
        // In batches, each written under one lock, with time between them for the built-in
        // controllers, which react to every object, to keep up (issue 16).
        let mut objects = install.into_iter().chain(objects).peekable();
        while objects.peek().is_some() {
            let batch: Vec<Value> = objects.by_ref().take(LOAD_BATCH).collect();
            let what: Vec<String> = batch
                .iter()
                .map(|obj| {
                    format!(
                        "{} {}",
                        obj["kind"],
                        obj.pointer("/metadata/name").unwrap_or(&Value::Null)
                    )
                })
                .collect();
            store
                .submit_all(kube_sim::Write::Apply, batch)
                .map_err(|(i, e)| anyhow::anyhow!("loading {}: {e}", what[i]))?;
            store.keep_up(KEEP_UP).await;
        }

        let mut cas = vec![registry.ca_pem()];
        let mut proxy = None;
        if let Some(a) = &akv {
            cas.push(a.ca_pem());
            proxy = Some((a.key_vault_dns_suffix(), a.proxy_url()));
        }
        let http = eso::provider::http_client(&cas, proxy)?;
        let controller = eso::Controller::start(
            eso::Ctx::new(store.clone(), http.clone(), "external-secrets.io/v1")
                .with_aws_endpoint(aws.as_ref().map(aws::AwsSim::endpoint)),
        );
        eso::logs::started(&store);
        let kubelet = kubelet::Kubelet::start(store.clone(), http, registry.host());
        let mut sandbox = Sandbox {
            controller,
            _kubelet: kubelet,
            api,
            vault,
            akv,
            aws,
            registry,
            vars: vars.clone(),
            stored: kube_sim::Packed::default(),
            // The scale scenario is generated, not read from a file: its values are in the Vault setup.
            canaries: if text.is_empty() {
                scenario
                    .vault
                    .secrets
                    .iter()
                    .flat_map(|s| s.data.values())
                    .filter_map(|v| v.as_str())
                    .map(str::to_string)
                    .collect()
            } else {
                scenario::canaries(&text)
            },
        };
        sandbox.settle().await;
        // Issue 13: what happens from here on is the incident; start it on a whole second so
        // the setup's times (second precision) all fall before it.
        let incident_began = if scenario.incident.is_empty() {
            None
        } else {
            let now = jiff::Timestamp::now();
            let into = u64::try_from(now.subsec_nanosecond()).unwrap_or(0);
            tokio::time::sleep(Duration::from_nanos(1_000_000_000 - into.min(999_999_999))).await;
            // Whole seconds: a setup time written in the second before compares as before it.
            jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).ok()
        };
        for step in &scenario.incident {
            sandbox.apply_step(&admin, step).await?;
        }
        sandbox.settle().await;
        if opts.scenario != "scale" {
            let mut failing = std::collections::BTreeSet::new();
            // A read-only pass (nothing is changed) to know what is broken once settled.
            sandbox.api.store().rewrite_in_place(|obj| {
                failing.extend(backdate::failing_key(obj));
                false
            });
            let controller_down = sandbox
                .api
                .store()
                .get(
                    "apps/v1",
                    "Deployment",
                    Some(eso::logs::NAMESPACE),
                    eso::logs::DEPLOYMENT,
                )
                .and_then(|d| d.pointer("/spec/replicas").and_then(|r| r.as_i64()))
                == Some(0);
            sandbox
                .backdate(backdate::Plan {
                    incident_began,
                    failing,
                    controller_down,
                })
                .await;
        }
        // Issue 16: the objects written while starting (created, then rewritten by the
        // controllers) are scattered among freed memory; packed again, the sandbox holds about
        // the size of their JSON.
        sandbox.stored = sandbox.api.store().repack();
        Ok(sandbox)
    }

    /// Moves the recorded times back so the incident looks hours old (see `backdate`), with the
    /// controller paused so no reconcile writes an older copy over the rewritten objects.
    async fn backdate(&self, plan: backdate::Plan) {
        self.controller.pause_and_drain().await;
        self.api
            .store()
            .rewrite_in_place(|obj| backdate::backdate(obj, &plan));
        self.controller.set_paused(false);
    }

    async fn settle(&mut self) {
        self.controller.wait_idle(SETTLE).await;
        // Let the kubelet and the built-in controllers catch up with what ESO wrote, then ESO with them.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.controller.wait_idle(SETTLE).await;
    }

    async fn apply_step(&mut self, admin: &vault::VaultAdmin, step: &Step) -> anyhow::Result<()> {
        match step {
            Step::VaultDeletePolicy(name) => admin.delete_policy(name).await?,
            Step::VaultPutPolicy { name, policy } => admin.put_policy(name, policy).await?,
            Step::ApplyObjects(yaml) => {
                let store = self.api.store();
                let yaml = scenario::substitute(yaml, &self.vars);
                for obj in scenario::objects(&yaml).map_err(anyhow::Error::msg)? {
                    store
                        .apply(obj)
                        .map_err(|e| anyhow::anyhow!("applying an incident object: {e}"))?;
                }
                self.settle().await;
            }
            Step::VaultPutRole(role) => put_role(admin, role).await?,
            Step::VaultPutSecret(s) => admin.kv_put(&s.mount, &s.path, &s.data).await?,
            Step::VaultRevokeToken(token) => admin.revoke_token(token).await?,
            Step::VaultDestroySecretId {
                mount,
                role,
                secret_id,
            } => {
                admin
                    .destroy_approle_secret_id(mount, role, secret_id)
                    .await?
            }
            Step::DeleteObject {
                api_version,
                kind,
                namespace,
                name,
            } => {
                self.api
                    .store()
                    .delete(api_version, kind, namespace.as_deref(), name)
                    .map_err(|e| anyhow::anyhow!("deleting {kind} {name}: {e}"))?;
                self.settle().await;
            }
            Step::VaultDeleteSecret {
                mount,
                path,
                destroy,
            } => admin.kv_delete_current(mount, path, *destroy).await?,
            Step::RegistryUsers(users) => self.registry.set_users(
                users
                    .iter()
                    .map(|u| (u.username.clone(), u.password.clone()))
                    .collect(),
            ),
            Step::AkvSetSecret { vault, name, value } => {
                self.akv_handle()?.set_secret(vault, name, value)?;
            }
            Step::AwsPutRole {
                name,
                trust_policy,
                policies,
            } => {
                let aws = self
                    .aws
                    .as_ref()
                    .context("this scenario has no AWS region")?;
                let (trust, policies) = aws.with(|r| {
                    (
                        trust_policy.as_ref().map(|t| aws::fill_policy(r, t)),
                        policies
                            .as_ref()
                            .map(|p| p.iter().map(|p| aws::fill_policy(r, p)).collect()),
                    )
                });
                aws.put_role(name, trust, policies).await?;
            }
            Step::AwsPutSecret { name, value } => {
                let aws = self
                    .aws
                    .as_ref()
                    .context("this scenario has no AWS region")?;
                aws.put_secret(name, &aws::secret_string(value)).await?;
            }
            Step::AwsDeleteSecret { name } => {
                let aws = self
                    .aws
                    .as_ref()
                    .context("this scenario has no AWS region")?;
                aws.schedule_deletion(name).await?;
            }
            Step::AkvDisableSecret { vault, name } => {
                self.akv_handle()?.set_enabled(vault, name, None, false)?
            }
            Step::AkvDeleteSecret { vault, name } => {
                self.akv_handle()?.soft_delete_secret(vault, name)?
            }
            Step::AkvExpireClientSecret { client_id } => self.akv_handle()?.expire_client_secrets(
                client_id,
                jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
            )?,
            Step::Log {
                namespace,
                deployment,
                container,
                previous,
                until_restart,
                lines,
            } => {
                let store = self.api.store();
                let owners: Vec<kube_sim::logs::LogOwner> = if *until_restart {
                    store
                        .list("v1", "Pod", Some(namespace))
                        .iter()
                        .filter(|p| {
                            kube_sim::logs::workload_of(p).as_deref() == Some(deployment.as_str())
                        })
                        .filter_map(|p| p["metadata"]["name"].as_str())
                        .map(|n| kube_sim::logs::LogOwner::Pod(n.to_string()))
                        .collect()
                } else {
                    vec![kube_sim::logs::LogOwner::Workload(deployment.clone())]
                };
                for owner in owners {
                    for line in lines {
                        eso::logs::append_to(
                            &store,
                            namespace,
                            owner.clone(),
                            container,
                            line.clone(),
                        );
                    }
                    if *previous {
                        store.pod_logs().restart(namespace, owner, container);
                    }
                }
                if *previous {
                    restarted(&store, namespace, deployment, container);
                }
            }
            Step::Resync => {
                self.controller.resync_all();
                self.settle().await;
            }
            Step::DeletePods {
                namespace,
                label_selector,
            } => {
                let store = self.api.store();
                let (key, value) = label_selector
                    .split_once('=')
                    .unwrap_or((label_selector, ""));
                for pod in store.list("v1", "Pod", Some(namespace)) {
                    if pod["metadata"]["labels"][key].as_str() == Some(value) {
                        let name = pod["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        store
                            .delete("v1", "Pod", Some(namespace), &name)
                            .map_err(|e| anyhow::anyhow!("deleting pod {namespace}/{name}: {e}"))?;
                    }
                }
                self.settle().await;
            }
            Step::RolloutRestart { namespace, name } => {
                let store = self.api.store();
                let mut d = store
                    .get("apps/v1", "Deployment", Some(namespace), name)
                    .with_context(|| format!("deployment {namespace}/{name} not found"))?;
                d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
                    Value::String(
                        jiff::Timestamp::now()
                            .strftime("%Y-%m-%dT%H:%M:%SZ")
                            .to_string(),
                    );
                store
                    .replace(d)
                    .map_err(|e| anyhow::anyhow!("restarting {namespace}/{name}: {e}"))?;
                self.settle().await;
            }
        }
        Ok(())
    }

    fn akv_handle(&self) -> anyhow::Result<akv::AkvHandle> {
        self.akv
            .as_ref()
            .map(|a| a.state())
            .context("this scenario has no Key Vault")
    }

    pub fn api(&self) -> &ApiServer {
        &self.api
    }
    pub fn vault(&self) -> &vault::VaultSim {
        &self.vault
    }
    /// An admin client of the sandbox's Vault (root token), to change provider state in tests and demos.
    pub fn vault_admin(&self) -> anyhow::Result<vault::VaultAdmin> {
        vault::VaultAdmin::new(&self.vault.addr(), ROOT_TOKEN)
    }
    /// A Vault token for an on-call operator: read on ACL policies, Kubernetes-auth roles and the
    /// secret and auth mount tables, never on a secret path. `kubectl eso sandbox` hands it to its subcommand as
    /// VAULT_TOKEN so a refusal is explained as on a real cluster where the user is logged in.
    pub async fn vault_operator_token(&self) -> anyhow::Result<String> {
        let admin = self.vault_admin()?;
        admin
            .put_policy(
                "sandbox-operator",
                "path \"sys/policies/acl/*\" { capabilities = [\"read\", \"list\"] }\n\
                 path \"auth/kubernetes/role/*\" { capabilities = [\"read\", \"list\"] }\n\
                 path \"auth/kubernetes/config\" { capabilities = [\"read\"] }\n\
                 path \"sys/mounts\" { capabilities = [\"read\"] }\n\
                 path \"sys/auth\" { capabilities = [\"read\"] }\n",
            )
            .await?;
        admin.create_token(&["sandbox-operator"], "1h").await
    }
    pub fn akv(&self) -> Option<&akv::AkvSim> {
        self.akv.as_ref()
    }
    /// The scenario's AWS region, when it has one.
    pub fn aws(&self) -> Option<&aws::AwsSim> {
        self.aws.as_ref()
    }
    /// How many objects, and how many bytes of JSON, the API server held once started.
    pub fn stored(&self) -> kube_sim::Packed {
        self.stored
    }

    pub fn registry(&self) -> &registry::RegistrySim {
        &self.registry
    }
    /// Every secret value in the scenario, for leak tests.
    pub fn canaries(&self) -> Vec<String> {
        self.canaries.clone()
    }
    /// Treat every refresh interval as elapsed and wait for the controller to settle.
    pub async fn resync(&mut self) {
        self.controller.resync_all();
        self.settle().await;
    }
    /// Simulate ESO's controller being down (true) or back (false): annotations are not acted on meanwhile.
    pub fn set_eso_paused(&self, paused: bool) {
        self.controller.set_paused(paused);
    }
    pub async fn wait_idle(&self) -> bool {
        self.controller.wait_idle(SETTLE).await
    }

    pub async fn shutdown(self) {
        let Sandbox {
            controller,
            _kubelet,
            api,
            vault,
            akv,
            aws,
            registry,
            ..
        } = self;
        drop(controller);
        drop(_kubelet);
        if let Some(a) = aws {
            a.shutdown().await;
        }
        if let Some(a) = akv {
            a.shutdown().await;
        }
        registry.shutdown().await;
        vault.shutdown().await;
        api.shutdown().await;
    }
}

async fn put_role(
    admin: &vault::VaultAdmin,
    role: &scenario::KubernetesRole,
) -> anyhow::Result<()> {
    let names: Vec<&str> = role
        .service_account_names
        .iter()
        .map(String::as_str)
        .collect();
    let namespaces: Vec<&str> = role
        .service_account_namespaces
        .iter()
        .map(String::as_str)
        .collect();
    let policies: Vec<&str> = role.policies.iter().map(String::as_str).collect();
    admin
        .put_kubernetes_role(
            "kubernetes",
            &role.name,
            &names,
            &namespaces,
            &policies,
            role.audience.as_deref(),
        )
        .await
}

async fn configure_vault(
    admin: &vault::VaultAdmin,
    api: &ApiServer,
    scenario: &Scenario,
) -> anyhow::Result<()> {
    admin.enable_auth("kubernetes", "kubernetes").await?;
    admin
        .configure_kubernetes("kubernetes", &api.url(), api.ca_pem().as_deref())
        .await?;
    for m in &scenario.vault.kv_mounts {
        admin.enable_kv(&m.path, m.version).await?;
    }
    for (name, hcl) in &scenario.vault.policies {
        admin.put_policy(name, hcl).await?;
    }
    for role in &scenario.vault.kubernetes_roles {
        put_role(admin, role).await?;
    }
    for s in &scenario.vault.secrets {
        admin.kv_put(&s.mount, &s.path, &s.data).await?;
    }
    for t in &scenario.vault.tokens {
        let policies: Vec<&str> = t.policies.iter().map(String::as_str).collect();
        admin.create_token_with_id(&t.id, &policies, &t.ttl).await?;
    }
    let mut approle_mounts = std::collections::BTreeSet::new();
    for r in &scenario.vault.app_roles {
        if approle_mounts.insert(r.mount.as_str()) {
            admin.enable_auth(&r.mount, "approle").await?;
        }
        let policies: Vec<&str> = r.policies.iter().map(String::as_str).collect();
        admin
            .put_approle_with_ids(&r.mount, &r.name, &policies, &r.role_id, &r.secret_id)
            .await?;
    }
    Ok(())
}

/// The pods of `deployment` show that `container` restarted once (its previous instance has a log).
fn restarted(store: &kube_sim::Store, namespace: &str, deployment: &str, container: &str) {
    for mut pod in store.list("v1", "Pod", Some(namespace)) {
        if kube_sim::logs::workload_of(&pod).as_deref() != Some(deployment) {
            continue;
        }
        let Some(statuses) = pod
            .pointer_mut("/status/containerStatuses")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for s in statuses.iter_mut().filter(|s| s["name"] == container) {
            let count = s["restartCount"].as_i64().unwrap_or(0);
            s["restartCount"] = Value::from(count + 1);
            s["lastState"] = serde_json::json!({"terminated": {"exitCode": 1, "reason": "Error"}});
        }
        // A pod that went away meanwhile has nothing to update.
        let _ = store.replace_status(pod);
    }
}
