//! Pure: which pods use a pull secret, what they pull, and which of their containers the kubelet
//! left waiting on an image pull — with the kubelet's own message.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::StuckPod;

const STUCK_REASONS: &[&str] = &["ImagePullBackOff", "ErrImagePull", "InvalidImageName"];

/// What the pods referencing a pull secret pull, and which of them are stuck pulling.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodUsage {
    /// Distinct images, in pod order.
    pub images: Vec<String>,
    pub stuck: Vec<StuckPod>,
}

/// Pure: the pods whose `imagePullSecrets` name `secret`, their images (init containers too) and
/// their containers waiting with an image-pull reason.
pub fn pods_using(pods: &[Pod], secret: &str) -> PodUsage {
    let mut usage = PodUsage::default();
    let mut seen = BTreeSet::new();
    for pod in pods {
        let Some(spec) = &pod.spec else { continue };
        let references = spec
            .image_pull_secrets
            .iter()
            .flatten()
            .any(|r| r.name == secret);
        if !references {
            continue;
        }
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        for image in containers.filter_map(|c| c.image.as_deref()) {
            if seen.insert(image.to_string()) {
                usage.images.push(image.to_string());
            }
        }
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod.status.iter().flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        });
        usage
            .stuck
            .extend(statuses.filter_map(|status| stuck_container(&pod_name, status)));
    }
    usage
}

fn stuck_container(pod: &str, status: &ContainerStatus) -> Option<StuckPod> {
    let waiting = status.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    STUCK_REASONS.contains(&reason).then(|| StuckPod {
        pod: pod.to_string(),
        container: status.name.clone(),
        image: status.image.clone(),
        reason: reason.to_string(),
        message: crate::sanitize::line(waiting.message.as_deref().unwrap_or("")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, secret: &str, image: &str, waiting: Option<(&str, &str)>) -> Pod {
        let status = waiting.map(|(reason, message)| {
            serde_json::json!({"containerStatuses": [{
                "name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}}
            }]})
        });
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "prod"},
            "spec": {
                "imagePullSecrets": [{"name": secret}],
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": image}]
            },
            "status": status,
        });
        serde_json::from_value(value).unwrap_or_else(|e| panic!("pod: {e}"))
    }

    #[test]
    fn pods_referencing_the_secret_give_images_and_stuck_containers() {
        let pods = vec![
            pod(
                "order-service-1",
                "regcred",
                "reg:5000/order-service:1.4.2",
                Some((
                    "ImagePullBackOff",
                    "Back-off pulling image \"reg:5000/order-service:1.4.2\"",
                )),
            ),
            pod(
                "order-service-2",
                "regcred",
                "reg:5000/order-service:1.4.2",
                None,
            ),
            pod(
                "other",
                "other-regcred",
                "reg:5000/other:1",
                Some(("ErrImagePull", "x")),
            ),
            pod(
                "crashing",
                "regcred",
                "reg:5000/order-service:1.4.2",
                Some(("CrashLoopBackOff", "back-off")),
            ),
        ];
        let usage = pods_using(&pods, "regcred");
        assert_eq!(
            usage.images,
            vec![
                "busybox:1.36".to_string(),
                "reg:5000/order-service:1.4.2".to_string()
            ]
        );
        assert_eq!(usage.stuck.len(), 1, "{:?}", usage.stuck);
        assert_eq!(usage.stuck[0].pod, "order-service-1");
        assert_eq!(usage.stuck[0].reason, "ImagePullBackOff");
        assert!(usage.stuck[0].message.contains("Back-off pulling image"));
    }
}
