//! `kubectl eso bundle` (issue 17): the runbook's "capture evidence" step. It runs doctor, reads
//! the ESO objects, the target Secrets' metadata, Events and pods of the scope, and writes
//! `eso-incident-YYYYMMDD-HHMM/` under `--out`: `doctor.json`, `summary.md`, redacted YAML of the
//! objects, `events.yaml`, `pods.yaml` (statuses only) and ESO's log lines under `logs/`. Every
//! string passes the log redaction first; the folder is the only thing written (nothing to the
//! cluster). Exit code: doctor's. `--archive` packs the folder into one `.tar.gz` (and removes the
//! folder); `doctor --evidence DIR` and `describe-chain --evidence DIR` write the same folder
//! through [`evidence`], describe-chain adding its own report.

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
    let dir = write(cfg, &mut run, &args.out, &[]).await?;
    let shown = if args.archive { archive(&dir)? } else { dir };
    writeln!(out, "{}", shown.display()).map_err(Error::Output)?;
    Ok(Exit::from_findings(fails(&run.report)))
}

/// `doctor --evidence DIR` / `describe-chain --evidence DIR`: the bundle's folder, written after
/// the command printed its own output (which stays as it was); the folder's path goes to stderr.
pub(crate) async fn evidence(
    cfg: &Config,
    run: &mut crate::cmd::doctor::DoctorRun,
    out: &Path,
    reports: &[(&str, String)],
) -> Result<()> {
    let dir = write(cfg, run, out, reports).await?;
    let line = crate::redact::output(&format!("evidence: {}", dir.display()), false);
    eprintln!("{}", crate::sanitize::line(&line));
    Ok(())
}

/// Writes `eso-incident-YYYYMMDD-HHMM/` under `out` from one doctor run (kept with its redactor)
/// and what it reads besides; `reports` are more files (name, text) the caller adds, such as
/// describe-chain's JSON report. Returns the folder.
pub(crate) async fn write(
    cfg: &Config,
    run: &mut crate::cmd::doctor::DoctorRun,
    out: &Path,
    reports: &[(&str, String)],
) -> Result<PathBuf> {
    let diag = Diag::new(cfg.verbosity);
    let (client, default_ns) = client::connect(&cfg.kube).await?;
    let eso = eso::discover(&client, &diag).await?;
    let namespace = cfg.namespace.resolve(&default_ns);
    let objects = bundle::fetch(&client, &eso, namespace.as_deref(), &diag).await;
    let dir = folder(out, run.now)?;
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
    for (name, text) in reports {
        w.text(name, text)?;
    }
    Ok(dir)
}

/// Packs `dir` into `dir.tar.gz` beside it (the folder's name as the archive's top directory)
/// and removes the folder: one file to attach to a ticket. The files are the folder's, already
/// redacted; nothing else goes in.
fn archive(dir: &Path) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .ok_or_else(|| Error::Usage(format!("{}: not a folder name", dir.display())))?;
    let mut file_name = name.clone();
    file_name.push(".tar.gz");
    let path = dir.with_file_name(file_name);
    let fail = |e: std::io::Error| Error::Usage(format!("cannot write {}: {e}", path.display()));
    let file = std::fs::File::create_new(&path).map_err(fail)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(&name, dir).map_err(fail)?;
    let gz = tar.into_inner().map_err(fail)?;
    gz.finish().map_err(fail)?.sync_all().map_err(fail)?;
    std::fs::remove_dir_all(dir).map_err(fail)?;
    Ok(path)
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
        let dir = out.join(&name);
        if out.join(format!("{name}.tar.gz")).exists() {
            continue;
        }
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
        // The run's own redactor, then the output boundary's (every value the process learned,
        // e.g. describe-chain's credentials), as for stdout.
        let text = crate::redact::output(&self.redactor.redact(text), false);
        std::fs::write(&path, text).map_err(Error::Output)
    }

    fn yaml(&self, name: &str, items: &[Value]) -> Result<()> {
        let text = serde_saphyr::to_string(&items).unwrap_or_default();
        self.text(name, &text)
    }
}
