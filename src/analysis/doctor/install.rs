//! Check 1, the ESO installation: the CRDs and the versions they serve (v1beta1 is deprecated), the
//! three Deployments the Helm chart creates, found by their `app.kubernetes.io/name` label in any
//! namespace, and the two validating webhook configurations.

use super::{finding, finish};
use crate::diagnose::catalogue::*;
use crate::model::doctor::*;
use crate::sanitize;

const CRDS: [&str; 4] = [
    "externalsecrets.external-secrets.io",
    "secretstores.external-secrets.io",
    "clustersecretstores.external-secrets.io",
    "clusterexternalsecrets.external-secrets.io",
];

/// The Helm chart's components; the controller is essential, the other two can be turned off in
/// the chart (cert-manager instead of the cert-controller, no webhook) at some cost.
const COMPONENTS: [(&str, Status); 3] = [
    ("external-secrets", Status::Error),
    ("external-secrets-webhook", Status::Warning),
    ("external-secrets-cert-controller", Status::Warning),
];

const WEBHOOKS: [&str; 2] = ["secretstore-validate", "externalsecret-validate"];

/// The ESO release whose CRDs and behaviour this tool was built and tested against.
pub const BUILT_AGAINST: (u64, u64, u64) = (2, 9, 0);

/// `unclassed_stores`: the stores in scope without `spec.controller` ("SecretStore ns/name",
/// "ClusterSecretStore name"), which controllers of every class reconcile.
pub fn check(s: &InstallSnapshot, unclassed_stores: &[String]) -> Check {
    let mut findings = Vec::new();
    let mut checked = 0;
    checked += crds(s, &mut findings);
    checked += deployments(s, unclassed_stores, &mut findings);
    checked += webhooks(s, &mut findings);
    findings.extend(super::crd_version::check(s));
    findings.extend(newer_version(s));
    finish(CheckId::Installation, checked, findings)
}

/// The controller image's tag (`oci.external-secrets.io/external-secrets/external-secrets:v2.9.0`
/// → `v2.9.0`); `None` for a digest-only image or when no controller was read.
pub fn eso_version(s: &InstallSnapshot) -> Option<String> {
    let deployments = s.deployments.as_ref().ok()?;
    let image = deployments
        .iter()
        .filter(|d| d.component == "external-secrets")
        .find_map(|d| d.image.as_deref())?;
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let (_, tag) = last.split_once(':')?;
    (!tag.is_empty()).then(|| sanitize::line(tag))
}

/// `v2.10.1`, `2.10.1-ubi-boringssl` → (2, 10, 1); anything else is not a release tag.
pub fn release(tag: &str) -> Option<(u64, u64, u64)> {
    let core = tag.strip_prefix('v').unwrap_or(tag);
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let v = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
    );
    parts.next().is_none().then_some(v)
}

/// Issue 14: a controller newer than the release this tool knows may write fields and reasons the
/// tool has never seen; they are shown as read, but say so.
fn newer_version(s: &InstallSnapshot) -> Option<Finding> {
    let tag = eso_version(s)?;
    let v = release(&tag)?;
    if v <= BUILT_AGAINST {
        return None;
    }
    let (a, b, c) = BUILT_AGAINST;
    Some(finding(
        ESO_VERSION_NEWER,
        Status::Warning,
        "Deployment app.kubernetes.io/name=external-secrets".into(),
        format!(
            "ESO {tag} is newer than v{a}.{b}.{c}, the release kubectl-eso was built against: \
             fields, condition reasons and providers it added are shown as read, not judged"
        ),
        "check for a newer kubectl-eso (kubectl krew upgrade eso)".into(),
    ))
}

/// Issue 12: the controller's release reads ExternalSecrets at one API version (v1 from ESO 0.17
/// on, when v1beta1 stopped being served; v1beta1 before 0.16, which added v1): where the CRDs
/// do not serve it, the controller cannot list or watch them and nothing reconciles.
fn unserved_version(s: &InstallSnapshot) -> Option<Finding> {
    let tag = eso_version(s)?;
    let v = release(&tag)?;
    // Discovery's served versions; without them, the ExternalSecret CRD's own list.
    let crd_served: Vec<String> = s
        .crds
        .as_ref()
        .ok()
        .and_then(|c| {
            c.iter()
                .find(|c| c.name == "externalsecrets.external-secrets.io")
        })
        .map(|c| c.served.clone())
        .unwrap_or_default();
    let served = if s.served_versions.is_empty() {
        &crd_served
    } else {
        &s.served_versions
    };
    let needs = super::crd_version::unserved(v, served)?;
    let older = if needs == "v1" { "older" } else { "newer" };
    Some(
        finding(
            ESO_CRD_VERSION_UNSERVED,
            Status::Error,
            "API group external-secrets.io".into(),
            format!(
                "the controller (ESO {tag}) reads external-secrets.io/{needs}, which the CRDs do \
                 not serve (served: {}): they are {older} than the controller, which cannot list \
                 or watch ExternalSecrets and stores, so nothing reconciles",
                served.join(", ")
            ),
            format!(
                "{}; kubectl get crd externalsecrets.external-secrets.io -o \
                 jsonpath='{{.spec.versions[*].name}}' shows what they serve",
                super::crd_version::crd_fix(s, &tag)
            ),
        )
        .about_controller(),
    )
}

fn crds(s: &InstallSnapshot, findings: &mut Vec<Finding>) -> usize {
    let unserved = unserved_version(s);
    let mismatch = unserved.is_some();
    findings.extend(unserved);
    if !mismatch && !s.served_versions.iter().any(|v| v == "v1") {
        findings.push(finding(
            ESO_API_V1BETA1_ONLY,
            Status::Warning,
            "API group external-secrets.io".into(),
            format!(
                "only {} is served: v1beta1 is deprecated and removed from ESO 0.17 on",
                s.served_versions.join(", ")
            ),
            "upgrade ESO and convert manifests to external-secrets.io/v1".into(),
        ));
    }
    let crds = match &s.crds {
        Ok(c) => c,
        Err(d) => {
            findings.push(unreadable("CustomResourceDefinitions", &d.cause));
            return 0;
        }
    };
    for name in CRDS {
        let object = format!("CustomResourceDefinition {name}");
        let Some(crd) = crds.iter().find(|c| c.name == name) else {
            findings.push(finding(
                ESO_CRD_MISSING,
                Status::Error,
                object,
                "not installed".into(),
                super::crd_version::missing_crds_fix(s),
            ));
            continue;
        };
        let v1_served = crd.served.iter().any(|v| v == "v1");
        if v1_served && crd.stored.iter().any(|v| v == "v1beta1") {
            findings.push(finding(
                ESO_CRD_STORED_VERSION,
                Status::Warning,
                object,
                format!(
                    "objects may still be stored as deprecated v1beta1 (storedVersions: {})",
                    crd.stored.join(", ")
                ),
                "re-write the objects as v1 (kubectl get ... -o yaml | kubectl replace -f -), \
                 then drop v1beta1 from status.storedVersions"
                    .into(),
            ));
        }
    }
    CRDS.len()
}

fn deployments(
    s: &InstallSnapshot,
    unclassed_stores: &[String],
    findings: &mut Vec<Finding>,
) -> usize {
    let deployments = match &s.deployments {
        Ok(d) => d,
        Err(d) => {
            findings.push(unreadable("Deployments", &d.cause));
            return 0;
        }
    };
    // Issue 12: the webhook configurations still send ExternalSecrets and stores to a webhook
    // no pod serves: every create and update of them is refused (the chart sets failurePolicy
    // Fail), while ESO itself keeps syncing. One finding in place of the component's own.
    let configured: Vec<&str> = match &s.webhook_configurations {
        Ok(present) => WEBHOOKS
            .iter()
            .copied()
            .filter(|w| present.iter().any(|p| p == w))
            .collect(),
        Err(_) => Vec::new(),
    };
    let webhooks: Vec<&DeploymentFacts> = deployments
        .iter()
        .filter(|d| d.component == "external-secrets-webhook")
        .collect();
    let webhook_down = !configured.is_empty() && webhooks.iter().all(|d| d.ready <= 0);
    if webhook_down {
        findings.push(webhook_unavailable(&configured, webhooks.first().copied()));
    }
    for (component, missing) in COMPONENTS {
        if webhook_down && component == "external-secrets-webhook" {
            continue;
        }
        let found: Vec<&DeploymentFacts> = deployments
            .iter()
            .filter(|d| d.component == component)
            .collect();
        let controller = component == "external-secrets";
        if found.is_empty() {
            let f = finding(
                if controller {
                    ESO_CONTROLLER_MISSING
                } else {
                    ESO_COMPONENT_MISSING
                },
                missing,
                format!("Deployment app.kubernetes.io/name={component}"),
                "not found in any namespace".into(),
                "install or repair ESO with its Helm chart; if it was left out on purpose, \
                 ignore this"
                    .into(),
            );
            findings.push(if controller { f.about_controller() } else { f });
        }
        if controller {
            findings.extend(duplicate(&found, unclassed_stores));
        }
        for &d in &found {
            // A second installation scaled to zero while a controller of its class runs: parked,
            // not a cause (the running one reconciles).
            let parked = controller
                && d.desired <= 0
                && found.iter().any(|o| {
                    o.ready > 0
                        && o.scope.class == d.scope.class
                        && (o.scope.namespace.is_none() || o.scope.namespace == d.scope.namespace)
                });
            if parked {
                continue;
            }
            if d.desired <= 0 || d.ready < d.desired {
                let f = finding(
                    if controller {
                        ESO_CONTROLLER_NOT_READY
                    } else {
                        ESO_COMPONENT_NOT_READY
                    },
                    Status::Error,
                    format!(
                        "Deployment {}/{}",
                        sanitize::line(&d.namespace),
                        sanitize::line(&d.name)
                    ),
                    match (d.desired <= 0, controller) {
                        (true, true) => "scaled to zero replicas: nothing reconciles \
                                         ExternalSecrets, stores or ClusterExternalSecrets, so \
                                         every Secret keeps its last value"
                            .into(),
                        (true, false) => "scaled to zero replicas".into(),
                        (false, true) => format!(
                            "{}/{} replicas ready: while none is, nothing reconciles \
                             ExternalSecrets",
                            d.ready, d.desired
                        ),
                        (false, false) => format!("{}/{} replicas ready", d.ready, d.desired),
                    },
                    if d.desired <= 0 {
                        format!(
                            "kubectl scale deployment {name} -n {ns} --replicas=1 (first ask who \
                             scaled it down: kubectl get deployment {name} -n {ns} \
                             --show-managed-fields -o yaml shows the manager of spec.replicas)",
                            name = sanitize::line(&d.name),
                            ns = sanitize::line(&d.namespace)
                        )
                    } else {
                        format!(
                            "kubectl get pods -n {} -l app.kubernetes.io/name={component}; \
                             kubectl describe deployment {} -n {}",
                            sanitize::line(&d.namespace),
                            sanitize::line(&d.name),
                            sanitize::line(&d.namespace)
                        )
                    },
                );
                findings.push(if controller { f.about_controller() } else { f });
            }
        }
    }
    COMPONENTS.len()
}

/// Issue 12: more than one active controller reconciling the same objects. Two controllers clash
/// when the namespaces they watch (`--namespace`) overlap and either their classes are the same
/// or a store sets no `spec.controller`, which ESO lets every class use (`ShouldProcessStore`).
/// Controllers of distinct classes whose stores all name a class are the supported setup.
fn duplicate(found: &[&DeploymentFacts], unclassed_stores: &[String]) -> Option<Finding> {
    let active: Vec<&DeploymentFacts> = found.iter().copied().filter(|d| d.ready > 0).collect();
    let mut same_class = Vec::new();
    let mut via_stores = Vec::new();
    for (i, a) in active.iter().enumerate() {
        for b in &active[i + 1..] {
            if !a.scope.namespaces_overlap(&b.scope) {
                continue;
            }
            if a.scope.class == b.scope.class {
                same_class.extend([*a, *b]);
            } else if !unclassed_stores.is_empty() {
                via_stores.extend([*a, *b]);
            }
        }
    }
    let name = |d: &DeploymentFacts| sanitize::line(&format!("{}/{}", d.namespace, d.name));
    let names = |ds: &mut Vec<&DeploymentFacts>| {
        ds.sort_by_key(|d| (&d.namespace, &d.name));
        ds.dedup_by_key(|d| (&d.namespace, &d.name));
        ds.iter().map(|d| name(d)).collect::<Vec<_>>()
    };
    let object = "Deployment app.kubernetes.io/name=external-secrets".to_string();
    let f = if !same_class.is_empty() {
        let names = names(&mut same_class);
        finding(
            ESO_CONTROLLER_DUPLICATE,
            Status::Error,
            object,
            format!(
                "{} ESO controllers are running ({}): both reconcile the same ExternalSecrets, so \
                 their status flaps between the two controllers' views",
                names.len(),
                names.join(", ")
            ),
            "keep one installation (helm list -A | grep external-secrets), or give each its own \
             controllerClass / scope"
                .into(),
        )
    } else if !via_stores.is_empty() {
        let classes: Vec<String> = {
            via_stores.sort_by_key(|d| (&d.namespace, &d.name));
            via_stores.dedup_by_key(|d| (&d.namespace, &d.name));
            via_stores
                .iter()
                .map(|d| {
                    format!(
                        "{} (class {})",
                        name(d),
                        sanitize::line(d.scope.class_name())
                    )
                })
                .collect()
        };
        let shown: Vec<String> = unclassed_stores
            .iter()
            .take(3)
            .map(|s| sanitize::line(s))
            .collect();
        let more = unclassed_stores.len().saturating_sub(shown.len());
        finding(
            ESO_CONTROLLER_DUPLICATE,
            Status::Error,
            object,
            format!(
                "ESO controllers of different classes are running ({}), and {}{} set{} no \
                 spec.controller: ESO lets every class use such a store, so both controllers \
                 reconcile its ExternalSecrets and their status flaps between the two views",
                classes.join(", "),
                shown.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() },
                if unclassed_stores.len() == 1 { "s" } else { "" },
            ),
            "set spec.controller on each store to the class of the controller that should serve \
             it (kubectl get secretstores,clustersecretstores -A -o \
             custom-columns=NAME:.metadata.name,NAMESPACE:.metadata.namespace,CLASS:.spec.controller)"
                .into(),
        )
    } else {
        return None;
    };
    Some(f.about_controller())
}

fn webhook_unavailable(configured: &[&str], webhook: Option<&DeploymentFacts>) -> Finding {
    let (object, why, next) = match webhook {
        Some(d) => {
            let (ns, name) = (sanitize::line(&d.namespace), sanitize::line(&d.name));
            (
                format!("Deployment {ns}/{name}"),
                if d.desired <= 0 {
                    "is scaled to zero replicas".to_string()
                } else {
                    format!("has 0/{} replicas ready", d.desired)
                },
                if d.desired <= 0 {
                    format!("kubectl scale deployment {name} -n {ns} --replicas=1")
                } else {
                    format!(
                        "kubectl get pods -n {ns} -l app.kubernetes.io/name=external-secrets-webhook; \
                         kubectl describe deployment {name} -n {ns}"
                    )
                },
            )
        }
        None => (
            "Deployment app.kubernetes.io/name=external-secrets-webhook".to_string(),
            "is not installed in any namespace".to_string(),
            "re-install ESO's Helm chart with webhook.create=true, or, if the webhook was left out \
             on purpose, delete its leftover configurations: kubectl get \
             validatingwebhookconfigurations -l external-secrets.io/component=webhook"
                .to_string(),
        ),
    };
    finding(
        ESO_WEBHOOK_UNAVAILABLE,
        Status::Error,
        object,
        format!(
            "ESO's webhook {why}, but {} {} still {} every create and update of {} to it \
             (failurePolicy Fail in the chart): kubectl apply of them is refused (failed calling \
             webhook), while ESO keeps syncing what exists",
            if configured.len() > 1 {
                "ValidatingWebhookConfigurations"
            } else {
                "ValidatingWebhookConfiguration"
            },
            configured.join(", "),
            if configured.len() > 1 {
                "send"
            } else {
                "sends"
            },
            match configured {
                ["secretstore-validate"] => "SecretStores and ClusterSecretStores",
                ["externalsecret-validate"] => "ExternalSecrets",
                _ => "ExternalSecrets and stores",
            }
        ),
        next,
    )
    .field("spec.replicas")
}

fn webhooks(s: &InstallSnapshot, findings: &mut Vec<Finding>) -> usize {
    let present = match &s.webhook_configurations {
        Ok(w) => w,
        Err(d) => {
            findings.push(unreadable("ValidatingWebhookConfigurations", &d.cause));
            return 0;
        }
    };
    for name in WEBHOOKS {
        if !present.iter().any(|p| p == name) {
            findings.push(finding(
                ESO_WEBHOOK_MISSING,
                Status::Warning,
                format!("ValidatingWebhookConfiguration {name}"),
                "not found: invalid stores and ExternalSecrets are not rejected at apply time"
                    .into(),
                "re-install ESO's Helm chart with webhook.create=true".into(),
            ));
        }
    }
    WEBHOOKS.len()
}

fn unreadable(what: &str, cause: &str) -> Finding {
    finding(
        CHECK_NOT_RUN,
        Status::Warning,
        what.to_string(),
        format!("could not be checked: {}", sanitize::line(cause)),
        "run doctor with rights to list it (cluster-wide), or check it by hand".into(),
    )
}
