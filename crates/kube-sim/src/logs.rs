//! Container logs and the `pods/log` subresource (issue 17): the simulated cluster's pods have no
//! processes, so whoever plays them (the sandbox's ESO controller, its kubelet, a scenario) writes
//! their lines here, and `GET /api/v1/namespaces/NS/pods/NAME/log` answers them with the kubelet's
//! query parameters (`container`, `previous`, `sinceSeconds`, `sinceTime`, `tailLines`, `limitBytes`,
//! `timestamps`) and the apiserver's 400/404 Status errors, so `kubectl logs` and the product read
//! them as they would on a real cluster.
//!
//! Lines are kept per pod and container. Lines written for a workload (`deployment NAME`) are what
//! every pod of that workload prints unless the pod has lines of its own: pods get random names, and a
//! scenario knows only the Deployment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::status::ApiStatus;

/// One line a container printed.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub time: jiff::Timestamp,
    pub text: String,
}

/// What one container printed: its current instance and, after a restart, the one before.
#[derive(Debug, Clone, Default)]
pub struct ContainerLog {
    pub current: Vec<LogLine>,
    pub previous: Option<Vec<LogLine>>,
}

/// Whose lines: one pod, or every pod of a workload that has none of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogOwner {
    Pod(String),
    Workload(String),
}

type Key = (String, LogOwner, String);

/// Every container's lines; cheap to clone (one shared map). Bounded per container like a kubelet's
/// log rotation, so a long-running sandbox does not grow without end.
#[derive(Clone, Default)]
pub struct PodLogs(Arc<Mutex<HashMap<Key, ContainerLog>>>);

/// Lines kept per container instance (the oldest are dropped first).
const KEPT_LINES: usize = 5_000;

impl PodLogs {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<Key, ContainerLog>) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut map)
    }

    /// Append one line to the current instance of `container`.
    pub fn append(&self, namespace: &str, owner: LogOwner, container: &str, line: LogLine) {
        self.with(|m| {
            let log = m
                .entry((namespace.to_string(), owner, container.to_string()))
                .or_default();
            log.current.push(line);
            if log.current.len() > KEPT_LINES {
                let excess = log.current.len() - KEPT_LINES;
                log.current.drain(..excess);
            }
        });
    }

    /// Replace both instances of `container` at once (what a scenario or a restarted pod sets).
    pub fn set(&self, namespace: &str, owner: LogOwner, container: &str, log: ContainerLog) {
        self.with(|m| {
            m.insert((namespace.to_string(), owner, container.to_string()), log);
        });
    }

    /// The container restarted: its current lines become `previous`, and it starts empty.
    pub fn restart(&self, namespace: &str, owner: LogOwner, container: &str) {
        self.with(|m| {
            let log = m
                .entry((namespace.to_string(), owner, container.to_string()))
                .or_default();
            log.previous = Some(std::mem::take(&mut log.current));
        });
    }

    /// The lines of a pod's container: its own, else its workload's.
    pub fn get(
        &self,
        namespace: &str,
        pod: &str,
        workload: Option<&str>,
        container: &str,
    ) -> Option<ContainerLog> {
        self.with(|m| {
            let key = |o: LogOwner| (namespace.to_string(), o, container.to_string());
            m.get(&key(LogOwner::Pod(pod.to_string())))
                .or_else(|| workload.and_then(|w| m.get(&key(LogOwner::Workload(w.to_string())))))
                .cloned()
        })
    }
}

/// The Deployment a pod belongs to, as its name says: `<deployment>-<pod-template-hash>-<suffix>`.
pub fn workload_of(pod: &Value) -> Option<String> {
    let name = pod.pointer("/metadata/name")?.as_str()?;
    let hash = pod
        .pointer("/metadata/labels/pod-template-hash")?
        .as_str()?;
    let prefix = name.strip_suffix(
        name.rsplit_once('-')
            .map(|(_, suffix)| suffix)
            .unwrap_or_default(),
    )?;
    prefix
        .strip_suffix('-')?
        .strip_suffix(hash)?
        .strip_suffix('-')
        .map(str::to_string)
}

/// The query of a `pods/log` GET, validated as the apiserver validates `PodLogOptions`.
#[derive(Debug, Default, PartialEq)]
pub struct LogQuery {
    pub container: Option<String>,
    pub previous: bool,
    pub since_seconds: Option<i64>,
    pub since_time: Option<jiff::Timestamp>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
    pub timestamps: bool,
}

fn flag(v: Option<&str>, name: &str) -> Result<bool, ApiStatus> {
    match v {
        None | Some("false" | "0" | "") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ApiStatus::bad_request(format!(
            "strconv.ParseBool: parsing \"{other}\": invalid syntax for {name}"
        ))),
    }
}

fn number(v: Option<&str>) -> Result<Option<i64>, ApiStatus> {
    v.map(|s| {
        s.parse::<i64>().map_err(|_| {
            ApiStatus::bad_request(format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))
        })
    })
    .transpose()
}

fn invalid(field: &str, value: i64, message: &str) -> ApiStatus {
    ApiStatus::invalid(
        "PodLogOptions",
        "",
        "",
        vec![crate::status::Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {message}"),
            field: field.into(),
        }],
    )
}

impl LogQuery {
    pub fn parse(param: impl Fn(&str) -> Option<String>) -> Result<Self, ApiStatus> {
        let q = LogQuery {
            container: param("container").filter(|c| !c.is_empty()),
            previous: flag(param("previous").as_deref(), "previous")?,
            since_seconds: number(param("sinceSeconds").as_deref())?,
            since_time: param("sinceTime")
                .map(|s| {
                    s.parse::<jiff::Timestamp>().map_err(|_| {
                        ApiStatus::bad_request(format!(
                            "parsing time \"{s}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                        ))
                    })
                })
                .transpose()?,
            tail_lines: number(param("tailLines").as_deref())?,
            limit_bytes: number(param("limitBytes").as_deref())?,
            timestamps: flag(param("timestamps").as_deref(), "timestamps")?,
        };
        if let Some(s) = q.since_seconds.filter(|s| *s < 1) {
            return Err(invalid("sinceSeconds", s, "must be greater than 0"));
        }
        if q.since_seconds.is_some() && q.since_time.is_some() {
            return Err(ApiStatus::invalid(
                "PodLogOptions",
                "",
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueForbidden".into(),
                    message:
                        "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                            .into(),
                    field: "sinceSeconds".into(),
                }],
            ));
        }
        if let Some(t) = q.tail_lines.filter(|t| *t < 0) {
            return Err(invalid(
                "tailLines",
                t,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(l) = q.limit_bytes.filter(|l| *l < 1) {
            return Err(invalid("limitBytes", l, "must be greater than 0"));
        }
        Ok(q)
    }
}

/// The container the request names, checked against the pod as the apiserver checks it.
pub fn pick_container(pod: &Value, wanted: Option<&str>) -> Result<String, ApiStatus> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    match wanted {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiStatus::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(ApiStatus::bad_request(format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// 400 for a container that has not started (the kubelet has nothing to read), as the apiserver words it.
fn not_started(pod: &Value, container: &str) -> Option<ApiStatus> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    let reason = match status {
        None => "ContainerCreating".to_string(),
        Some(s) => {
            let ran = s.pointer("/state/running").is_some()
                || s.pointer("/state/terminated").is_some()
                || s.pointer("/lastState/terminated").is_some();
            if ran {
                return None;
            }
            s.pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .unwrap_or("ContainerCreating")
                .to_string()
        }
    };
    Some(ApiStatus::bad_request(format!(
        "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"
    )))
}

/// The body of a `pods/log` answer for `pod`, or the apiserver's error.
pub fn render(
    logs: &PodLogs,
    pod: &Value,
    q: &LogQuery,
    now: jiff::Timestamp,
) -> Result<String, ApiStatus> {
    let container = pick_container(pod, q.container.as_deref())?;
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let log = logs
        .get(ns, pod_name, workload_of(pod).as_deref(), &container)
        .unwrap_or_default();
    let lines = if q.previous {
        log.previous.ok_or_else(|| {
            ApiStatus::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            ))
        })?
    } else {
        if let Some(e) = not_started(pod, &container) {
            return Err(e);
        }
        log.current
    };
    let since = q.since_time.or_else(|| {
        q.since_seconds
            .and_then(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).ok())
    });
    let mut kept: Vec<&LogLine> = lines
        .iter()
        .filter(|l| since.is_none_or(|s| l.time >= s))
        .collect();
    if let Some(tail) = q.tail_lines {
        let tail = usize::try_from(tail).unwrap_or(0);
        let skip = kept.len().saturating_sub(tail);
        kept.drain(..skip);
    }
    let mut out = String::new();
    for l in kept {
        if q.timestamps {
            out.push_str(&l.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string());
            out.push(' ');
        }
        out.push_str(&l.text);
        out.push('\n');
    }
    if let Some(limit) = q.limit_bytes.and_then(|l| usize::try_from(l).ok())
        && out.len() > limit
    {
        // The kubelet cuts at the byte; a cut inside a UTF-8 character is sent as is, lossily here.
        let bytes = out.as_bytes()[..limit].to_vec();
        out = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], running: bool) -> Value {
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                if running {
                    json!({"name": c, "state": {"running": {}}})
                } else {
                    json!({"name": c, "state": {"waiting": {"reason": "CreateContainerConfigError"}}})
                }
            })
            .collect();
        json!({
            "metadata": {"name": "netbox-5d8f7c9b4-x2k4q", "namespace": "netbox",
                         "labels": {"pod-template-hash": "5d8f7c9b4"}},
            "spec": {"containers": containers.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()},
            "status": {"containerStatuses": statuses},
        })
    }

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap_or_default()
    }

    fn logs_with(lines: &[(i64, &str)]) -> PodLogs {
        let logs = PodLogs::default();
        for (t, text) in lines {
            logs.append(
                "netbox",
                LogOwner::Workload("netbox".into()),
                "netbox",
                LogLine {
                    time: at(*t),
                    text: text.to_string(),
                },
            );
        }
        logs
    }

    fn query(pairs: &[(&str, &str)]) -> Result<LogQuery, ApiStatus> {
        LogQuery::parse(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_workload_is_the_pod_name_without_hash_and_suffix() {
        assert_eq!(
            workload_of(&pod(&["netbox"], true)).as_deref(),
            Some("netbox")
        );
        let mut bare = pod(&["netbox"], true);
        bare["metadata"]["labels"] = json!({});
        assert_eq!(workload_of(&bare), None);
    }

    #[test]
    fn since_tail_limit_and_timestamps_select_like_the_kubelet() {
        let logs = logs_with(&[(0, "one"), (50, "two"), (90, "three")]);
        let p = pod(&["netbox"], true);
        let all = render(&logs, &p, &query(&[]).unwrap_or_default(), at(100));
        assert_eq!(all.as_deref(), Ok("one\ntwo\nthree\n"));
        let since = query(&[("sinceSeconds", "60")]).unwrap_or_default();
        assert_eq!(
            render(&logs, &p, &since, at(100)).as_deref(),
            Ok("two\nthree\n")
        );
        let tail = query(&[("tailLines", "1")]).unwrap_or_default();
        assert_eq!(render(&logs, &p, &tail, at(100)).as_deref(), Ok("three\n"));
        let limit = query(&[("limitBytes", "6")]).unwrap_or_default();
        assert_eq!(render(&logs, &p, &limit, at(100)).as_deref(), Ok("one\ntw"));
        let ts = query(&[("timestamps", "true"), ("tailLines", "1")]).unwrap_or_default();
        let out = render(&logs, &p, &ts, at(100)).unwrap_or_default();
        assert!(
            out.ends_with("Z three\n") && out.starts_with("2027-"),
            "{out}"
        );
    }

    #[test]
    fn a_pod_s_own_lines_win_over_its_workload_s() {
        let logs = logs_with(&[(0, "workload line")]);
        logs.append(
            "netbox",
            LogOwner::Pod("netbox-5d8f7c9b4-x2k4q".into()),
            "netbox",
            LogLine {
                time: at(1),
                text: "pod line".into(),
            },
        );
        let out = render(&logs, &pod(&["netbox"], true), &LogQuery::default(), at(2));
        assert_eq!(out.as_deref(), Ok("pod line\n"));
    }

    #[test]
    fn errors_are_the_apiserver_s() {
        let logs = logs_with(&[(0, "x")]);
        let two = pod(&["a", "b"], true);
        let e = render(&logs, &two, &LogQuery::default(), at(1)).err();
        assert_eq!(
            e.map(|e| (e.code, e.message)),
            Some((
                400,
                "a container name must be specified for pod netbox-5d8f7c9b4-x2k4q, choose one of: [a b]"
                    .to_string()
            ))
        );
        let wrong = query(&[("container", "c")]).unwrap_or_default();
        assert_eq!(
            render(&logs, &two, &wrong, at(1)).map_err(|e| e.code),
            Err(400)
        );
        let waiting = pod(&["netbox"], false);
        let e = render(&logs, &waiting, &LogQuery::default(), at(1)).err();
        assert_eq!(
            e.map(|e| e.message),
            Some(
                "container \"netbox\" in pod \"netbox-5d8f7c9b4-x2k4q\" is waiting to start: CreateContainerConfigError"
                    .to_string()
            )
        );
        let prev = query(&[("previous", "true")]).unwrap_or_default();
        let e = render(&logs, &pod(&["netbox"], true), &prev, at(1)).err();
        assert!(e.is_some_and(|e| e.message.starts_with("previous terminated container")));
        assert_eq!(
            query(&[("sinceSeconds", "0")]).map_err(|e| e.code),
            Err(422)
        );
        assert_eq!(query(&[("tailLines", "x")]).map_err(|e| e.code), Err(400));
    }

    #[test]
    fn a_restart_keeps_the_last_instance_as_previous() {
        let logs = logs_with(&[(0, "crashed: authentication failed")]);
        logs.restart("netbox", LogOwner::Workload("netbox".into()), "netbox");
        let prev = query(&[("previous", "true")]).unwrap_or_default();
        let p = pod(&["netbox"], true);
        assert_eq!(
            render(&logs, &p, &prev, at(1)).as_deref(),
            Ok("crashed: authentication failed\n")
        );
        assert_eq!(
            render(&logs, &p, &LogQuery::default(), at(1)).as_deref(),
            Ok("")
        );
    }
}
