//! Registry host names and image references, normalised the way container runtimes do it, so that
//! `verify-regcred` finds the same `auths` entry for an image that the kubelet would, and talks to
//! the host a runtime would talk to (Docker Hub's keys all mean `registry-1.docker.io`).

use std::fmt;

/// The name runtimes use for Docker Hub in image references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API answers on.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Every spelling of Docker Hub found in `auths` keys and image references.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// An `auths` key reduced to what a runtime matches on: host (lower case, port kept, Docker Hub
/// aliases folded into `docker.io`) and an optional repository path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryKey {
    pub host: String,
    pub path: Option<String>,
}

/// Normalises an `auths` key: `https://index.docker.io/v1/` -> `docker.io`,
/// `http://registry.internal:5000/` -> `registry.internal:5000`, `quay.io/team` -> host
/// `quay.io` with path `team`. Returns `None` when nothing usable is left.
pub fn normalise_key(key: &str) -> Option<RegistryKey> {
    let trimmed = key.trim();
    let lower = trimmed.to_ascii_lowercase();
    let without_scheme = if lower.starts_with("https://") {
        &trimmed[8..]
    } else if lower.starts_with("http://") {
        &trimmed[7..]
    } else {
        trimmed
    };
    let (host, path) = match without_scheme.split_once('/') {
        Some((host, path)) => (host, path.trim_matches('/')),
        None => (without_scheme, ""),
    };
    let host = normalise_host(host)?;
    // A path no repository name can have (control or bidi characters, white space: anything
    // but printable ASCII) matches nothing a runtime would pull: the key is unusable, not
    // silently kept (found by the issue 18 fuzzer).
    if !path.chars().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    // Docker Hub's legacy key `https://index.docker.io/v1/` carries the API version, not a repository.
    let path = if host == DOCKER_HUB && (path == "v1" || path == "v2") {
        ""
    } else {
        path
    };
    Some(RegistryKey {
        host,
        path: (!path.is_empty()).then(|| path.to_string()),
    })
}

/// Lower-cases a host[:port] and folds Docker Hub aliases into [`DOCKER_HUB`].
pub fn normalise_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    if host.starts_with('[') {
        return normalise_ipv6_host(&host);
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !name_ok || !port_ok {
        return None;
    }
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        return Some(DOCKER_HUB.to_string());
    }
    Some(host)
}

/// `[::1]:5000`: a bracketed IPv6 address (as in a URL), optionally with a port (issue 18: such
/// keys were rejected as malformed).
fn normalise_ipv6_host(host: &str) -> Option<String> {
    let (inside, after) = host.strip_prefix('[')?.split_once(']')?;
    inside.parse::<std::net::Ipv6Addr>().ok()?;
    let port_ok = match after.strip_prefix(':') {
        Some(port) => !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()),
        None => after.is_empty(),
    };
    port_ok.then(|| host.to_string())
}

/// The host to send registry API requests to for a normalised registry name.
pub fn api_host(host: &str) -> &str {
    if host == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        host
    }
}

/// A parsed image reference: `registry.internal:5000/order-service:1.4.2`,
/// `nginx` (= `docker.io/library/nginx:latest`), `repo@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    /// Normalised registry name (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// What to ask the manifest endpoint for: the digest when pinned, else the tag.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Why an image reference could not be parsed (the reference itself is not secret, so it is named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference {0:?}: repository name must be lower case")]
    UpperCase(String),
    #[error("image reference {0:?}: invalid character or empty path component")]
    InvalidName(String),
    #[error("image reference {0:?}: invalid tag")]
    InvalidTag(String),
    #[error("image reference {0:?}: invalid digest (want ALGORITHM:HEX)")]
    InvalidDigest(String),
}

/// Parses an image reference with the rules of the Docker reference grammar: the first path
/// component is a registry only if it contains `.` or `:` or is `localhost`; Docker Hub
/// single-name repositories live under `library/`; no tag and no digest means `latest`.
pub fn parse_image(image: &str) -> Result<ImageRef, ImageRefError> {
    let input = image.trim();
    if input.is_empty() {
        return Err(ImageRefError::Empty);
    }
    let (name_and_tag, digest) = match input.split_once('@') {
        Some((rest, digest)) => {
            if !valid_digest(digest) {
                return Err(ImageRefError::InvalidDigest(input.to_string()));
            }
            (rest, Some(digest.to_string()))
        }
        None => (input, None),
    };
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => {
            let split = last_slash + i;
            (&name_and_tag[..split], Some(&name_and_tag[split + 1..]))
        }
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return Err(ImageRefError::InvalidTag(input.to_string()));
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            let host = normalise_host(first)
                .ok_or_else(|| ImageRefError::InvalidName(input.to_string()))?;
            (host, rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ImageRefError::UpperCase(input.to_string()));
    }
    if !valid_repository(&repository) {
        return Err(ImageRefError::InvalidName(input.to_string()));
    }
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some("latest".to_string()),
    };
    Ok(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.split('/').all(|component| {
            !component.is_empty()
                && component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric())
                && component.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && algorithm
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Whether an `auths` key applies to an image: same host (a `*` label in the key matches one
/// label, as the kubelet allows) and, when the key has a path, the repository is under it.
pub fn key_matches(key: &RegistryKey, image: &ImageRef) -> bool {
    if !host_matches(&key.host, &image.registry) {
        return false;
    }
    match &key.path {
        None => true,
        Some(prefix) => {
            image.repository == *prefix
                || image
                    .repository
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let (pattern_name, pattern_port) = split_port(pattern);
    let (host_name, host_port) = split_port(host);
    if pattern_port != host_port {
        return false;
    }
    let pattern_labels: Vec<&str> = pattern_name.split('.').collect();
    let host_labels: Vec<&str> = host_name.split('.').collect();
    pattern_labels.len() == host_labels.len()
        && pattern_labels
            .iter()
            .zip(&host_labels)
            .all(|(p, h)| *p == "*" || p == h)
}

fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    }
}

/// Picks the entry a runtime would use for an image: among matching keys, the most specific one
/// (a key with a longer repository path beats a bare host). Returns the index into `keys`.
pub fn best_match(keys: &[Option<RegistryKey>], image: &ImageRef) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter_map(|(i, key)| key.as_ref().map(|key| (i, key)))
        .filter(|(_, key)| key_matches(key, image))
        .max_by_key(|(i, key)| {
            (
                key.path.as_ref().map_or(0, String::len),
                !key.host.contains('*'),
                std::cmp::Reverse(*i),
            )
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> RegistryKey {
        normalise_key(k).unwrap_or_else(|| panic!("key {k} should normalise"))
    }

    #[test]
    fn issue_18_bracketed_ipv6_keys_are_accepted() {
        let k = key("https://[::1]:5000/");
        assert_eq!(k.host, "[::1]:5000");
        assert_eq!(key("[::1]").host, "[::1]");
        for bad in [
            "[::1",
            "[nothost]:5000",
            "[::1]:",
            "[::1]x",
            "[::1]:50a",
            "registry.internal/team\u{9d}0;t",
            "registry.internal/a b",
        ] {
            assert_eq!(normalise_key(bad), None, "{bad}");
        }
        let image = parse_image("[::1]:5000/team/app:1.0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.registry, "[::1]:5000");
        assert!(key_matches(&k, &image));
        assert!(!key_matches(&key("[::1]:5001"), &image));
    }

    #[test]
    fn docker_hub_spellings_all_mean_docker_io() {
        for spelling in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "https://registry-1.docker.io",
            "HTTPS://INDEX.DOCKER.IO/v1/",
        ] {
            let k = normalise_key(spelling);
            assert_eq!(
                k,
                Some(RegistryKey {
                    host: "docker.io".into(),
                    path: None
                }),
                "{spelling}"
            );
        }
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
    }

    #[test]
    fn scheme_path_and_trailing_slash_are_stripped_ports_kept() {
        assert_eq!(
            key("https://registry.internal:5000/").host,
            "registry.internal:5000"
        );
        assert_eq!(
            key("http://registry.internal:5000").host,
            "registry.internal:5000"
        );
        assert_eq!(key("registry.internal:5000").path, None);
        let with_path = key("quay.io/team/");
        assert_eq!(with_path.host, "quay.io");
        assert_eq!(with_path.path.as_deref(), Some("team"));
        assert_eq!(normalise_key("   "), None);
        assert_eq!(normalise_key("https://"), None);
        assert_eq!(normalise_key("https:"), None);
        assert_eq!(normalise_key("bad host"), None);
        assert_eq!(normalise_key("host:port"), None);
    }

    #[test]
    fn image_references_parse_like_docker() {
        let nginx = parse_image("nginx").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
        let own = parse_image("registry.internal:5000/order-service:1.4.2")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own.registry, "registry.internal:5000");
        assert_eq!(own.repository, "order-service");
        assert_eq!(own.reference(), "1.4.2");
        let user = parse_image("someone/tool").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.to_string(), "docker.io/someone/tool:latest");
        let hub = parse_image("index.docker.io/nginx:1.27").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hub.to_string(), "docker.io/library/nginx:1.27");
        let local = parse_image("localhost/app").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.registry, "localhost");
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned =
            parse_image(&format!("ghcr.io/org/app@{digest}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.reference(), digest);
        let both =
            parse_image(&format!("ghcr.io/org/app:v1@{digest}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(both.tag.as_deref(), Some("v1"));
        assert_eq!(both.reference(), digest);
    }

    #[test]
    fn bad_image_references_are_rejected() {
        assert_eq!(parse_image(""), Err(ImageRefError::Empty));
        assert!(matches!(
            parse_image("Nginx"),
            Err(ImageRefError::UpperCase(_))
        ));
        assert!(matches!(
            parse_image("a//b"),
            Err(ImageRefError::InvalidName(_))
        ));
        assert!(matches!(
            parse_image("app:"),
            Err(ImageRefError::InvalidTag(_))
        ));
        assert!(matches!(
            parse_image("app@sha256:zz"),
            Err(ImageRefError::InvalidDigest(_))
        ));
    }

    #[test]
    fn the_most_specific_matching_key_wins() {
        let keys = vec![
            normalise_key("registry.internal:5000"),
            normalise_key("registry.internal:5000/team"),
            normalise_key("registry.internal"),
            normalise_key("https://index.docker.io/v1/"),
            normalise_key("*.example.com"),
        ];
        let image = |s: &str| parse_image(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            best_match(&keys, &image("registry.internal:5000/team/app")),
            Some(1)
        );
        assert_eq!(
            best_match(&keys, &image("registry.internal:5000/teamx/app")),
            Some(0)
        );
        assert_eq!(best_match(&keys, &image("registry.internal/app")), Some(2));
        assert_eq!(best_match(&keys, &image("nginx")), Some(3));
        assert_eq!(best_match(&keys, &image("eu.example.com/app")), Some(4));
        assert_eq!(best_match(&keys, &image("a.b.example.com/app")), None);
        assert_eq!(
            best_match(&keys, &image("registry.internal:5001/app")),
            None
        );
    }
}
