//! The kubelet's matching of an image to a pull secret's `auths` keys (issue 12), as a pure
//! function checked statically, without a network: the rules of the kubelet's credential keyring
//! (`pkg/credentialprovider/keyring.go`), not Docker's. A key is reduced the way the keyring's
//! `Add` reduces it (scheme and user info dropped, a leading `/v1/` or `/v2/` dropped, host with
//! its port plus path kept); an image is looked up by its normalised name (`docker.io/library/nginx`);
//! a key matches when the ports are equal (a key without a port never matches `host:5000`), the
//! host names have as many labels and each label matches (`*` globs one label), and the key's path
//! is a string prefix of the image's path. When nothing matches, a Docker Hub image falls back to
//! a key that reduces to `index.docker.io` (`https://index.docker.io/v1/`).
//!
//! Also [`without_userinfo`], which every display of an `auths` key goes through: a key written
//! `https://user:password@host` must never be printed as written.

use std::borrow::Cow;

use super::reference::{DOCKER_HUB, ImageRefError, parse_image};

/// The key the keyring files Docker Hub credentials under for its fallback.
const DEFAULT_REGISTRY_KEY: &str = "index.docker.io";

/// An `auths` key with any `user:password@` in front of its host removed (the kubelet ignores
/// it; printing it would print a credential). Keys without user info come back unchanged.
pub fn without_userinfo(key: &str) -> Cow<'_, str> {
    let after_scheme = key.find("://").map_or(0, |i| i + 3);
    let rest = &key[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}{}", &key[..after_scheme], &rest[at + 1..])),
        None => Cow::Borrowed(key),
    }
}

/// An `auths` key as the keyring indexes it: `https://registry.internal:5000/v2/` ->
/// `registry.internal:5000`, `quay.io/team` -> `quay.io/team`. `None` when no host is left.
pub fn keyring_key(key: &str) -> Option<String> {
    let key = key.trim();
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let path = if path.starts_with("/v1/") || path.starts_with("/v2/") {
        &path[3..]
    } else {
        path
    };
    Some(if path.is_empty() || path == "/" {
        host.to_string()
    } else {
        format!("{host}{path}")
    })
}

/// The name the kubelet looks an image up by: its registry host as written (Docker Hub's
/// `index.docker.io` folded into `docker.io`, no registry meaning `docker.io`) and its repository,
/// without tag or digest.
pub fn lookup_name(image: &str) -> Result<String, ImageRefError> {
    let parsed = parse_image(image)?;
    let trimmed = image.trim();
    let host = match trimmed.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            if first == "index.docker.io" {
                DOCKER_HUB
            } else {
                first
            }
        }
        _ => DOCKER_HUB,
    };
    Ok(format!("{host}/{}", parsed.repository))
}

/// The registry host part of a lookup name (`registry.internal:5000`).
pub fn host_of(lookup_name: &str) -> &str {
    lookup_name.split('/').next().unwrap_or_default()
}

/// Splits `host[:port]` like Go's `net.SplitHostPort`, with "no port" as `""`.
fn split_port(host: &str) -> (&str, &str) {
    if let Some(rest) = host.strip_prefix('[')
        && let Some((name, after)) = rest.split_once(']')
    {
        return (name, after.strip_prefix(':').unwrap_or_default());
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name, port),
        _ => (host, ""),
    }
}

fn split_url(url: &str) -> (&str, &str) {
    match url.find('/') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    }
}

/// `filepath.Match` for one host label: `*` is any run of characters, `?` any one character.
fn glob_label(pattern: &str, label: &str) -> bool {
    fn go(p: &[char], l: &[char]) -> bool {
        match p.split_first() {
            None => l.is_empty(),
            Some(('*', rest)) => (0..=l.len()).any(|i| go(rest, &l[i..])),
            Some(('?', rest)) => !l.is_empty() && go(rest, &l[1..]),
            Some((c, rest)) => l.first() == Some(c) && go(rest, &l[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let l: Vec<char> = label.chars().collect();
    go(&p, &l)
}

/// The keyring's `URLsMatch`: port equal, same number of host labels each matching, key path a
/// prefix of the image path. Both arguments are already reduced (no scheme).
pub fn key_matches(key: &str, lookup_name: &str) -> bool {
    let (key_host, key_path) = split_url(key);
    let (image_host, image_path) = split_url(lookup_name);
    let (key_name, key_port) = split_port(key_host);
    let (image_name, image_port) = split_port(image_host);
    if key_port != image_port || !image_path.starts_with(key_path) {
        return false;
    }
    let key_labels: Vec<&str> = key_name.split('.').collect();
    let image_labels: Vec<&str> = image_name.split('.').collect();
    key_labels.len() == image_labels.len()
        && key_labels
            .iter()
            .zip(&image_labels)
            .all(|(k, i)| glob_label(k, i))
}

/// Whether the kubelet would pull `lookup_name` from Docker Hub (`isDefaultRegistryMatch`).
fn is_default_registry(lookup_name: &str) -> bool {
    match lookup_name.split_once('/') {
        None => !lookup_name.is_empty(),
        Some(("", _)) => false,
        Some((first, _)) => {
            first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':'])
        }
    }
}

/// The reduced keys (see [`keyring_key`]) the kubelet would use for `lookup_name`, in the
/// keyring's order (most specific first); empty when none applies.
pub fn matching_keys<'a>(keys: &'a [String], lookup_name: &str) -> Vec<&'a str> {
    let mut hits: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| key_matches(k, lookup_name))
        .collect();
    if hits.is_empty()
        && is_default_registry(lookup_name)
        && let Some(k) = keys.iter().find(|k| *k == DEFAULT_REGISTRY_KEY)
    {
        hits.push(k);
    }
    hits.sort_by(|a, b| b.cmp(a));
    hits.dedup();
    hits
}

/// Why a key that almost names the image's registry does not: the same host name with another
/// port (or none), or the right host with a path the image is not under. `None` for keys about
/// other hosts altogether.
pub fn near_miss(key: &str, lookup_name: &str) -> Option<&'static str> {
    if key_matches(key, lookup_name) {
        return None;
    }
    let (key_host, key_path) = split_url(key);
    let (image_host, _) = split_url(lookup_name);
    let (key_name, key_port) = split_port(key_host);
    let (image_name, image_port) = split_port(image_host);
    let same_name = key_name.eq_ignore_ascii_case(image_name);
    if same_name && key_port != image_port {
        return Some(match (key_port.is_empty(), image_port.is_empty()) {
            (true, false) => "the key has no port and the image's registry has one",
            (false, true) => "the key has a port and the image's registry has none",
            _ => "the key names another port",
        });
    }
    if same_name && key_name != image_name {
        return Some("the host name differs in case (the kubelet compares it exactly)");
    }
    if same_name && !key_path.is_empty() {
        return Some("the image is not under the key's path");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().filter_map(|k| keyring_key(k)).collect()
    }

    fn name(image: &str) -> String {
        lookup_name(image).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_are_reduced_like_the_keyring_add() {
        assert_eq!(
            keyring_key("https://index.docker.io/v1/").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            keyring_key("http://registry.internal:5000/").as_deref(),
            Some("registry.internal:5000")
        );
        assert_eq!(
            keyring_key("registry.internal:5000/v2/team").as_deref(),
            Some("registry.internal:5000/team")
        );
        assert_eq!(keyring_key("quay.io/team").as_deref(), Some("quay.io/team"));
        assert_eq!(
            keyring_key("https://robot:hunter2@registry.internal:5000").as_deref(),
            Some("registry.internal:5000")
        );
        assert_eq!(keyring_key("https://"), None);
        assert_eq!(keyring_key("bad host"), None);
    }

    #[test]
    fn images_are_looked_up_by_normalised_name() {
        assert_eq!(name("nginx"), "docker.io/library/nginx");
        assert_eq!(
            name("index.docker.io/nginx:1.27"),
            "docker.io/library/nginx"
        );
        assert_eq!(
            name("registry.internal:5000/order-service:1.4.2"),
            "registry.internal:5000/order-service"
        );
        assert_eq!(host_of(&name("ghcr.io/org/app")), "ghcr.io");
    }

    #[test]
    fn hits_host_port_aliases_paths_and_globs() {
        let k = keys(&[
            "registry.internal:5000",
            "https://index.docker.io/v1/",
            "quay.io/team",
            "*.example.com",
        ]);
        let hit = |image: &str| matching_keys(&k, &name(image));
        assert_eq!(
            hit("registry.internal:5000/order-service:1.4.2"),
            vec!["registry.internal:5000"]
        );
        assert_eq!(hit("nginx"), vec!["index.docker.io"]);
        assert_eq!(hit("docker.io/someone/tool"), vec!["index.docker.io"]);
        assert_eq!(hit("quay.io/team/app"), vec!["quay.io/team"]);
        assert_eq!(hit("eu.example.com/app"), vec!["*.example.com"]);
        // The keyring's path check is a plain string prefix.
        assert_eq!(hit("quay.io/teamx/app"), vec!["quay.io/team"]);
        let hub = keys(&["docker.io"]);
        assert_eq!(matching_keys(&hub, &name("nginx")), vec!["docker.io"]);
    }

    #[test]
    fn near_misses_do_not_match() {
        let k = keys(&[
            "registry.internal",
            "registry.internal:5001",
            "quay.io/team",
            "*.example.com",
            "https://registry-1.docker.io",
        ]);
        let miss = |image: &str| matching_keys(&k, &name(image)).is_empty();
        // Port missing from the key, another port, a subdomain, a glob over two labels.
        assert!(miss("registry.internal:5000/order-service:1.4.2"));
        assert!(miss("eu.registry.internal/app"));
        assert!(miss("a.b.example.com/app"));
        assert!(miss("example.com/app"));
        assert!(miss("quay.io/other/app"));
        // The kubelet does not treat registry-1.docker.io as a Docker Hub key.
        assert!(miss("nginx"));
        assert_eq!(
            near_miss("registry.internal", &name("registry.internal:5000/app")),
            Some("the key has no port and the image's registry has one")
        );
        assert_eq!(
            near_miss(
                "registry.internal:5001",
                &name("registry.internal:5000/app")
            ),
            Some("the key names another port")
        );
        assert_eq!(
            near_miss("quay.io/team", &name("quay.io/other/app")),
            Some("the image is not under the key's path")
        );
        assert_eq!(
            near_miss("ghcr.io", &name("registry.internal:5000/app")),
            None
        );
        assert_eq!(
            near_miss(
                "registry.internal:5000",
                &name("registry.internal:5000/app")
            ),
            None
        );
    }

    #[test]
    fn userinfo_is_dropped_from_displayed_keys() {
        assert_eq!(
            without_userinfo("https://robot:hunter2@registry.internal:5000/v2/"),
            "https://registry.internal:5000/v2/"
        );
        assert_eq!(
            without_userinfo("robot:hunter2@quay.io/team"),
            "quay.io/team"
        );
        assert_eq!(without_userinfo("quay.io/a@b"), "quay.io/a@b");
        assert_eq!(
            without_userinfo("registry.internal:5000"),
            "registry.internal:5000"
        );
    }
}
