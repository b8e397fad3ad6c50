//! `kubectl eso bundle` (issue 17): the runbook's "capture evidence" step. It runs doctor, reads
//! the ESO objects, the target Secrets' metadata, Events and pods of the scope, and writes
//! `eso-incident-YYYYMMDD-HHMM/` under `--out`: `doctor.json`, `summary.md`, redacted YAML of the
//! objects, `events.yaml`, `pods.yaml` (statuses only) and ESO's log lines under `logs/`. Every
//! string passes the log redaction first; the folder is the only thing written (nothing to the
//! cluster). Exit code: doctor's.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::analysis::bundle::{self as content, Happening};
use crate::analysis::doctor::fails;
use crate::analysis::eso_logs::redact::Redactor;
use crate::cli::BundleArgs;
use crate::config::Config;
use crate::diag::Diag;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::kube::{bundle, client, eso};
use crate::model::scope::Fetched;

pub async fn run(cfg: &Config, args: &BundleArgs, out: &mut impl Write) -> Result<Exit> {
    let mut run = crate::cmd::doctor::report(cfg, &args.doctor, true).await?;
    let diag = Diag::new(cfg.verbosity);
    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    let objects = bundle::fetch(&client, &eso, namespace.as_deref(), &diag).await;
    let dir = folder(&args.out, run.now)?;
    // Every value doctor read, then token shapes: for the application lines read below and, as
    // the last step, for every file.
    let redactor = run.redactor.take().unwrap_or_default();
    let w = Writer {
        dir: dir.clone(),
        redactor: &redactor,
    };
    let mut unreadable = Vec::new();
    let mut keep = |name: &str,
                    listed: &Fetched<Vec<Value>>,
                    shape: fn(&Value) -> Value|
     -> Result<Vec<Value>> {
        match listed {
            Ok(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .map(|o| content::redact_value(shape(o), &redactor))
                    .collect();
                w.yaml(name, &kept)?;
                Ok(kept)
            }
            Err(d) => {
                unreadable.push(format!("{name}: {}", d.cause));
                Ok(Vec::new())
            }
        }
    };
    let mut eso_objects = keep(
        "externalsecrets.yaml",
        &objects.external_secrets,
        content::eso_object,
    )?;
    eso_objects.extend(keep(
        "secretstores.yaml",
        &objects.secret_stores,
        content::eso_object,
    )?);
    eso_objects.extend(keep(
        "clustersecretstores.yaml",
        &objects.cluster_secret_stores,
        content::eso_object,
    )?);
    eso_objects.extend(keep(
        "clusterexternalsecrets.yaml",
        &objects.cluster_external_secrets,
        content::eso_object,
    )?);
    let secrets = keep(
        "secrets-metadata.yaml",
        &objects.secrets_metadata,
        content::secret_metadata,
    )?;
    let events = keep("events.yaml", &objects.events, content::event)?;
    keep("pods.yaml", &objects.pods, content::pod_status)?;
    let timeline: Vec<Happening> = content::timeline(&eso_objects, &secrets, &events, &redactor);
    let report = content::redact_value(
        serde_json::to_value(&run.report).unwrap_or(Value::Null),
        &redactor,
    );
    w.text(
        "doctor.json",
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    let targets: Vec<(String, String)> = secrets
        .iter()
        .filter_map(|s| {
            Some((
                s["metadata"]["namespace"].as_str()?.to_string(),
                s["metadata"]["name"].as_str()?.to_string(),
            ))
        })
        .collect();
    let pods = objects.pods.as_deref().unwrap_or_default();
    let apps = bundle::app_logs(&client, pods, &targets, &redactor, &diag).await;
    for app in &apps {
        let name = format!("logs/app-{}-{}.log", safe(&app.namespace), safe(&app.pod));
        let mut text = format!("# {}/{} ({})\n", app.namespace, app.pod, app.source);
        for l in &app.lines {
            text.push_str(l);
            text.push('\n');
        }
        w.text(&name, &text)?;
    }
    let app_lines: Vec<(String, Vec<String>)> = apps
        .iter()
        .filter(|a| !a.lines.is_empty())
        .map(|a| {
            (
                format!("{}/{} ({})", a.namespace, a.pod, a.source),
                a.lines.clone(),
            )
        })
        .collect();
    w.text(
        "summary.md",
        &content::summary(&run.report, &timeline, &app_lines, run.now, &redactor),
    )?;
    for log in &run.eso_logs {
        let name = format!(
            "logs/{}-{}{}.log",
            safe(&log.pod),
            safe(&log.container),
            if log.previous { "-previous" } else { "" }
        );
        let mut text = log
            .lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
        w.text(&name, &text)?;
    }
    if !unreadable.is_empty() {
        w.text("unreadable.txt", &format!("{}\n", unreadable.join("\n")))?;
    }
    writeln!(out, "{}", dir.display()).map_err(Error::Output)?;
    Ok(Exit::from_findings(fails(&run.report)))
}

/// A file name from an object name: its own characters only where they are safe.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `OUT/eso-incident-YYYYMMDD-HHMM`, created; a second bundle in the same minute gets `-2`, `-3`, ...
fn folder(out: &Path, now: jiff::Timestamp) -> Result<PathBuf> {
    let base = format!("eso-incident-{}", now.strftime("%Y%m%d-%H%M"));
    for n in 1..100 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Usage(format!(
                    "cannot create {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Err(Error::Usage(format!(
        "too many bundles named {base} in {}",
        out.display()
    )))
}

struct Writer<'a> {
    dir: PathBuf,
    redactor: &'a Redactor,
}

impl Writer<'_> {
    /// Every file's whole text passes the redaction once more, as the last step before the disk.
    fn text(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::Output)?;
        }
        std::fs::write(&path, self.redactor.redact(text)).map_err(Error::Output)
    }

    fn yaml(&self, name: &str, items: &[Value]) -> Result<()> {
        let text = serde_saphyr::to_string(&items).unwrap_or_default();
        self.text(name, &text)
    }
}
