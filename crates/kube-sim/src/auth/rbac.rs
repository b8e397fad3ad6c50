//! The RBAC authorizer: rbac.authorization.k8s.io/v1 objects in the Store decide who may do what.
//!
//! It follows kube-apiserver's `RBACAuthorizer`: ClusterRoleBindings first, then RoleBindings in the
//! request's namespace, the first rule that matches wins, and the allow reason names binding, role and
//! subject in the same words (recording 52). A few bootstrap bindings real clusters ship are built in
//! (not stored) so every authenticated user can ask what it may do and read discovery.

use serde_json::Value;

use super::authn::{GROUP_AUTHENTICATED, GROUP_MASTERS, GROUP_UNAUTHENTICATED, service_account_of};
use super::{Decision, RequestAttributes, UserInfo};
use crate::Store;

const RBAC: &str = "rbac.authorization.k8s.io/v1";

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    fn from_json(v: &Value) -> Self {
        let strings = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            verbs: strings("verbs"),
            api_groups: strings("apiGroups"),
            resources: strings("resources"),
            resource_names: strings("resourceNames"),
            non_resource_urls: strings("nonResourceURLs"),
        }
    }

    fn new(verbs: &[&str], groups: &[&str], resources: &[&str], urls: &[&str]) -> Self {
        let own = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        Self {
            verbs: own(verbs),
            api_groups: own(groups),
            resources: own(resources),
            resource_names: Vec::new(),
            non_resource_urls: own(urls),
        }
    }

    /// kube's `RuleAllows` for a resource request.
    pub fn allows(&self, attrs: &RequestAttributes) -> bool {
        let verb_ok = self.verbs.iter().any(|v| v == "*" || *v == attrs.verb);
        let group_ok = self
            .api_groups
            .iter()
            .any(|g| g == "*" || *g == attrs.api_group);
        let combined = match &attrs.subresource {
            Some(sub) => format!("{}/{sub}", attrs.resource),
            None => attrs.resource.clone(),
        };
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || attrs
                    .subresource
                    .as_deref()
                    .is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
        });
        let name_ok = self.resource_names.is_empty()
            || attrs
                .name
                .as_deref()
                .is_some_and(|n| self.resource_names.iter().any(|r| r == n));
        verb_ok && group_ok && resource_ok && name_ok
    }

    /// kube's `RuleAllows` for a non-resource request (`/version`, `/apis`, ...).
    pub fn allows_path(&self, verb: &str, path: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
            && self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == path
                    || u.strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            })
    }

    fn to_resource_rule_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("verbs".into(), self.verbs.clone().into());
        m.insert("apiGroups".into(), self.api_groups.clone().into());
        m.insert("resources".into(), self.resources.clone().into());
        if !self.resource_names.is_empty() {
            m.insert("resourceNames".into(), self.resource_names.clone().into());
        }
        Value::Object(m)
    }

    fn to_non_resource_rule_json(&self) -> Value {
        serde_json::json!({"verbs": self.verbs, "nonResourceURLs": self.non_resource_urls})
    }
}

/// A binding's subject together with the binding it came from, for the allow reason.
#[derive(Debug, Clone)]
struct Grant {
    /// e.g. `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`.
    source: String,
    rules: Vec<PolicyRule>,
    /// Bootstrap grants kube-sim adds for its own sake; SelfSubjectRulesReview leaves them out so its
    /// answer stays what a real cluster says.
    simulation_only: bool,
}

/// The built-in bindings (name, role, groups, rules, simulation-only).
fn bootstrap_grants(user: &UserInfo) -> Vec<Grant> {
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let table: Vec<(&str, &[&str], Vec<PolicyRule>, bool)> = vec![
        (
            "system:masters-cluster-admin",
            &[GROUP_MASTERS],
            vec![
                PolicyRule::new(&["*"], &["*"], &["*"], &[]),
                PolicyRule::new(&["*"], &[], &[], &["*"]),
            ],
            false,
        ),
        (
            "system:basic-user",
            &[GROUP_AUTHENTICATED],
            vec![
                PolicyRule::new(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &[],
                ),
                PolicyRule::new(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &[],
                ),
            ],
            false,
        ),
        // Real clusters deny discovery to anonymous users; the simulation allows it (see module docs of auth).
        (
            "system:discovery",
            &[GROUP_AUTHENTICATED, GROUP_UNAUTHENTICATED],
            vec![PolicyRule::new(&["get"], &[], &[], &discovery_urls)],
            false,
        ),
        (
            "system:public-info-viewer",
            &[GROUP_AUTHENTICATED, GROUP_UNAUTHENTICATED],
            vec![PolicyRule::new(&["get"], &[], &[], &public_urls)],
            false,
        ),
        (
            "system:service-account-issuer-discovery",
            &[GROUP_AUTHENTICATED],
            vec![PolicyRule::new(
                &["get"],
                &[],
                &[],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
            false,
        ),
        (
            "system:well-known",
            &[GROUP_AUTHENTICATED],
            vec![PolicyRule::new(
                &["get"],
                &[],
                &[],
                &["/.well-known", "/.well-known/*"],
            )],
            false,
        ),
        // Lets a Vault/OpenBao kubernetes auth backend send TokenReview with the client's own JWT as bearer,
        // as `system:auth-delegator` would; granted to every authenticated user in this simulation.
        (
            "kube-sim:auth-delegator",
            &[GROUP_AUTHENTICATED],
            vec![
                PolicyRule::new(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["tokenreviews"],
                    &[],
                ),
                PolicyRule::new(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                    &[],
                ),
            ],
            true,
        ),
    ];
    table
        .into_iter()
        .filter_map(|(name, groups, rules, simulation_only)| {
            let group = groups.iter().find(|g| user.groups.iter().any(|ug| ug == *g))?;
            let role = if name == "system:masters-cluster-admin" { "cluster-admin" } else { name };
            let binding = if name == "system:masters-cluster-admin" { "cluster-admin" } else { name };
            Some(Grant {
                source: format!("ClusterRoleBinding \"{binding}\" of ClusterRole \"{role}\" to Group \"{group}\""),
                rules,
                simulation_only,
            })
        })
        .collect()
}

/// Does `subject` (a binding's `subjects[]` entry) name this user?
fn describe_matching_subject(
    subject: &Value,
    user: &UserInfo,
    binding_namespace: &str,
) -> Option<String> {
    let kind = subject.get("kind").and_then(Value::as_str)?;
    let name = subject.get("name").and_then(Value::as_str)?;
    match kind {
        "User" => (user.username == name).then(|| format!("User \"{name}\"")),
        "Group" => user
            .groups
            .iter()
            .any(|g| g == name)
            .then(|| format!("Group \"{name}\"")),
        "ServiceAccount" => {
            let ns = subject
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            let (user_ns, user_name) = service_account_of(&user.username)?;
            (user_ns == ns && user_name == name).then(|| format!("ServiceAccount \"{name}/{ns}\""))
        }
        _ => None,
    }
}

fn role_rules(
    store: &Store,
    role_kind: &str,
    role_name: &str,
    namespace: Option<&str>,
) -> Vec<PolicyRule> {
    let role = match role_kind {
        "ClusterRole" => store.get(RBAC, "ClusterRole", None, role_name),
        "Role" => store.get(RBAC, "Role", namespace, role_name),
        _ => None,
    };
    role.and_then(|r| {
        r.get("rules")
            .and_then(Value::as_array)
            .map(|rules| rules.iter().map(PolicyRule::from_json).collect())
    })
    .unwrap_or_default()
}

fn grants_from_binding(
    store: &Store,
    user: &UserInfo,
    binding: &Value,
    namespace: Option<&str>,
) -> Option<Grant> {
    let binding_name = binding.pointer("/metadata/name").and_then(Value::as_str)?;
    let role_kind = binding.pointer("/roleRef/kind").and_then(Value::as_str)?;
    let role_name = binding.pointer("/roleRef/name").and_then(Value::as_str)?;
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    let subject = subjects
        .iter()
        .find_map(|s| describe_matching_subject(s, user, namespace.unwrap_or_default()))?;
    let source = match namespace {
        Some(ns) => format!(
            "RoleBinding \"{binding_name}/{ns}\" of {role_kind} \"{role_name}\" to {subject}"
        ),
        None => format!(
            "ClusterRoleBinding \"{binding_name}\" of {role_kind} \"{role_name}\" to {subject}"
        ),
    };
    Some(Grant {
        source,
        rules: role_rules(store, role_kind, role_name, namespace),
        simulation_only: false,
    })
}

/// Every grant that applies to `user` in `namespace` (cluster-wide ones first, like the real visitor).
fn grants(store: &Store, user: &UserInfo, namespace: Option<&str>) -> Vec<Grant> {
    let mut out = bootstrap_grants(user);
    if store.strict_token_review() {
        out.retain(|g| !g.source.contains("\"kube-sim:auth-delegator\""));
    }
    for crb in store.list(RBAC, "ClusterRoleBinding", None) {
        out.extend(grants_from_binding(store, user, &crb, None));
    }
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        for rb in store.list(RBAC, "RoleBinding", Some(ns)) {
            out.extend(grants_from_binding(store, user, &rb, Some(ns)));
        }
    }
    out
}

/// RBAC decision for a resource request. A request with an empty `resource` is a non-resource
/// request (discovery) and is checked against `name` as its path, defaulting to `/api`.
pub fn authorize(store: &Store, user: &UserInfo, attrs: &RequestAttributes) -> Decision {
    // system:masters is allowed before any authorizer runs, so such answers carry no reason.
    if user.groups.iter().any(|g| g == GROUP_MASTERS) {
        return Decision {
            allowed: true,
            reason: None,
        };
    }
    let path = attrs.name.as_deref().unwrap_or("/api");
    for grant in grants(store, user, attrs.namespace.as_deref()) {
        let allowed = grant.rules.iter().any(|rule| {
            if attrs.resource.is_empty() {
                rule.allows_path(&attrs.verb, path)
            } else {
                rule.allows(attrs)
            }
        });
        if allowed {
            return Decision {
                allowed: true,
                reason: Some(format!("RBAC: allowed by {}", grant.source)),
            };
        }
    }
    Decision {
        allowed: false,
        reason: None,
    }
}

/// The rules SelfSubjectRulesReview reports: (resourceRules, nonResourceRules) as JSON arrays.
pub fn rules_for(
    store: &Store,
    user: &UserInfo,
    namespace: Option<&str>,
) -> (Vec<Value>, Vec<Value>) {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for grant in grants(store, user, namespace)
        .into_iter()
        .filter(|g| !g.simulation_only)
    {
        for rule in grant.rules {
            if rule.non_resource_urls.is_empty() {
                resource_rules.push(rule.to_resource_rule_json());
            } else {
                non_resource_rules.push(rule.to_non_resource_rule_json());
            }
        }
    }
    (resource_rules, non_resource_rules)
}

/// The Forbidden text kube-apiserver writes: `<resource>[.group] ["name"] is forbidden: User "u" cannot ...`.
pub fn forbidden_message(
    user: &UserInfo,
    attrs: &RequestAttributes,
    reason: Option<&str>,
) -> String {
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    let resource = match &attrs.subresource {
        Some(sub) => format!("{}/{sub}", attrs.resource),
        None => attrs.resource.clone(),
    };
    let scope = match attrs.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let subject = match attrs.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let mut message = format!(
        "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        user.username, attrs.verb, attrs.api_group
    );
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        message.push_str(": ");
        message.push_str(reason);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: Option<&str>,
        name: Option<&str>,
    ) -> RequestAttributes {
        RequestAttributes {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.map(Into::into),
            namespace: Some("prod".into()),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn rule_matching_follows_kube_rule_allows() {
        let rule = PolicyRule::from_json(&serde_json::json!({
            "apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["get", "list"]
        }));
        assert!(rule.allows(&attrs(
            "list",
            "external-secrets.io",
            "externalsecrets",
            None,
            None
        )));
        assert!(!rule.allows(&attrs("list", "", "secrets", None, None)));
        assert!(!rule.allows(&attrs(
            "patch",
            "external-secrets.io",
            "externalsecrets",
            None,
            None
        )));
        assert!(!rule.allows(&attrs(
            "get",
            "external-secrets.io",
            "externalsecrets",
            Some("status"),
            None
        )));

        let sub = PolicyRule::new(&["*"], &["*"], &["*/status"], &[]);
        assert!(sub.allows(&attrs("patch", "apps", "deployments", Some("status"), None)));
        assert!(!sub.allows(&attrs("patch", "apps", "deployments", None, None)));

        let named = PolicyRule::from_json(&serde_json::json!({
            "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["a"]
        }));
        assert!(named.allows(&attrs("get", "", "secrets", None, Some("a"))));
        assert!(!named.allows(&attrs("get", "", "secrets", None, Some("b"))));
        assert!(!named.allows(&attrs("get", "", "secrets", None, None)));
    }

    #[test]
    fn non_resource_urls_match_with_trailing_star() {
        let rule = PolicyRule::new(&["get"], &[], &[], &["/apis/*", "/version"]);
        assert!(rule.allows_path("get", "/apis/apps/v1"));
        assert!(rule.allows_path("get", "/version"));
        assert!(!rule.allows_path("get", "/metrics"));
        assert!(!rule.allows_path("post", "/version"));
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let sa = UserInfo {
            username: "system:serviceaccount:prod:readonly".into(),
            groups: vec!["system:serviceaccounts".into(), GROUP_AUTHENTICATED.into()],
            ..UserInfo::default()
        };
        let s =
            serde_json::json!({"kind": "ServiceAccount", "name": "readonly", "namespace": "prod"});
        assert_eq!(
            describe_matching_subject(&s, &sa, "prod").as_deref(),
            Some("ServiceAccount \"readonly/prod\"")
        );
        let other_ns = serde_json::json!({"kind": "ServiceAccount", "name": "readonly", "namespace": "netbox"});
        assert_eq!(describe_matching_subject(&other_ns, &sa, "prod"), None);
        let group = serde_json::json!({"kind": "Group", "name": "system:serviceaccounts"});
        assert_eq!(
            describe_matching_subject(&group, &sa, "prod").as_deref(),
            Some("Group \"system:serviceaccounts\"")
        );
        let user = serde_json::json!({"kind": "User", "name": "alice"});
        assert_eq!(describe_matching_subject(&user, &sa, "prod"), None);
    }

    #[test]
    fn forbidden_message_names_object_and_reason() {
        let user = UserInfo {
            username: "alice".into(),
            ..UserInfo::default()
        };
        let mut a = attrs("impersonate", "", "serviceaccounts", None, Some("readonly"));
        assert_eq!(
            forbidden_message(&user, &a, None),
            "serviceaccounts \"readonly\" is forbidden: User \"alice\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"prod\""
        );
        a.namespace = None;
        a.resource = "users".into();
        assert!(forbidden_message(&user, &a, Some("no")).ends_with("at the cluster scope: no"));
    }
}
