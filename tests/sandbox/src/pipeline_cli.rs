//! `shipline-sandbox pipeline` (start a [`Scenario`] and its control API, write the env
//! files, serve until killed) and `shipline-sandbox slack-transcript` (print what Slack
//! received). Flag errors are returned as one line; `main` prints them and exits 2.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shipline_sandbox::control::{self, Control};
use shipline_sandbox::scenario::{Scenario, Spec};
use shipline_sandbox::tls::TestCa;
use shipline_sandbox::transcript::{self, Directory, Style};
use shipline_sandbox::web::Web;

/// The CA certificate's file name, beside the env file, with `--tls`.
pub const CA_FILE: &str = "sandbox-ca.pem";

/// What `pipeline` was asked for.
pub struct PipelineArgs {
    spec: Spec,
    env_file: PathBuf,
    control_port: u16,
    tls: bool,
}

/// Parses `pipeline`'s flags (after the subcommand).
pub fn parse_pipeline(args: &[String]) -> Result<PipelineArgs, String> {
    let mut spec = Spec::default();
    let mut production: Vec<String> = Vec::new();
    let mut env_file = None;
    let mut control_port = 0;
    let mut tls = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--env-file" => env_file = Some(PathBuf::from(value()?)),
            "--staging" => spec.staging = value()?,
            "--production" => production.extend(value()?.split(',').map(|s| s.trim().into())),
            "--pipeline" => spec.pipeline = value()?,
            "--live-commit" => spec.live_commit = Some(value()?),
            "--release-phase" => spec.release_phase = true,
            "--preboot" => spec.preboot = true,
            "--tls" if inline.is_none() => tls = true,
            "--circleci-builds" => spec.circleci_builds = numbers(flag, &value()?)?,
            "--github-runs" => spec.github_runs = numbers(flag, &value()?)?,
            "--api-key" => spec.api_key = value()?,
            "--slack-usergroup" => {
                let v = value()?;
                let (id, handle) = v
                    .split_once('=')
                    .filter(|(id, h)| id.starts_with('S') && !h.is_empty())
                    .ok_or_else(|| {
                        format!(
                            "--slack-usergroup takes ID=HANDLE (e.g. S0ONCALL=oncall), not {v:?}"
                        )
                    })?;
                spec.usergroups
                    .push((id.into(), handle.trim_start_matches('@').into()));
            }
            "--dyno-boot" => {
                let v = value()?;
                let secs: f64 = v
                    .trim_end_matches('s')
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 600.0)
                    .ok_or_else(|| {
                        format!("--dyno-boot takes seconds between 0 and 600 (e.g. 1.5), not {v:?}")
                    })?;
                spec.boot = Duration::from_secs_f64(secs);
            }
            "--control-port" => {
                let v = value()?;
                control_port = v
                    .parse()
                    .map_err(|_| format!("--control-port takes a port number, not {v:?}"))?;
            }
            other => {
                return Err(format!(
                    "unknown flag {other:?} for `pipeline`; see `shipline-sandbox --help`"
                ))
            }
        }
    }
    if !production.is_empty() {
        spec.production = production;
    }
    let env_file = env_file.ok_or(
        "--env-file PATH is required: the file the sandbox writes its URLs and credentials to",
    )?;
    spec.validate()?;
    Ok(PipelineArgs {
        spec,
        env_file,
        control_port,
        tls,
    })
}

/// `101,102,103` → numbers.
fn numbers(flag: &str, text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_start_matches('#').parse::<u64>().map_err(|_| {
                format!("{flag} takes build numbers separated by commas (e.g. 101,102,103), not {text:?}")
            })
        })
        .collect()
}

/// Starts everything, writes the env files (the main one last, whole), and serves until the
/// process is killed. Returns only on a start-up error.
pub fn run_pipeline(mut args: PipelineArgs) -> String {
    let dir = args
        .env_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    // With --tls: a CA of this run's own, its certificate beside the env file for
    // SSL_CERT_FILE, and every service serving a certificate it signed.
    let mut tls_env = Vec::new();
    if args.tls {
        let ca = TestCa::new();
        let path = std::path::absolute(dir.join(CA_FILE)).unwrap_or_else(|_| dir.join(CA_FILE));
        if let Err(e) = ca.write_pem(&path) {
            return format!(
                "cannot write {}: {e}; pass an --env-file in a writable directory",
                path.display()
            );
        }
        args.spec.tls = Some(ca.server_cert());
        tls_env.push(("SSL_CERT_FILE".to_string(), path.display().to_string()));
    }
    let scenario = match Scenario::start(args.spec) {
        Ok(s) => Arc::new(s),
        Err(e) => return e,
    };
    let web = match Web::start(scenario.clone()) {
        Ok(w) => w,
        Err(e) => return format!("cannot start the apps' web front on 127.0.0.1: {e}"),
    };
    let mut web_env = web_env(&scenario, &web);
    web_env.extend(tls_env.iter().cloned());
    let control = match Control::start_with(scenario.clone(), args.control_port, web_env.clone()) {
        Ok(c) => c,
        Err(e) => {
            return format!(
                "cannot start the control API on 127.0.0.1:{}: {e}",
                args.control_port
            )
        }
    };
    let mut job_files = Vec::new();
    for &n in &scenario.spec().circleci_builds {
        let path = dir.join(format!("circleci-{n}.env"));
        let env = scenario.circleci_env(n).unwrap_or_default();
        if let Err(e) = write_env(&path, &env) {
            return e;
        }
        job_files.push(path);
    }
    for &n in &scenario.spec().github_runs {
        let path = dir.join(format!("github-{n}.env"));
        let env = scenario.github_env(n).unwrap_or_default();
        if let Err(e) = write_env(&path, &env) {
            return e;
        }
        job_files.push(path);
    }
    let mut env = scenario.env(&control.url());
    env.extend(web_env);
    if let Err(e) = write_env(&args.env_file, &env) {
        return e;
    }
    let spec = scenario.spec();
    eprintln!(
        "shipline-sandbox: pipeline {:?}: staging {:?}, production {}; fake Heroku {}, fake \
         Slack {}, control API {}; environment in {}{}{}; stop with Ctrl-C",
        spec.pipeline,
        spec.staging,
        spec.production
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        scenario.heroku.url(),
        scenario.slack.url(),
        control.url(),
        args.env_file.display(),
        match tls_env.first() {
            Some((_, ca)) => format!(
                "; the services speak HTTPS with certificates from a CA of their own, in {ca} \
                 (SSL_CERT_FILE in the environment; curl --cacert {ca})"
            ),
            None => String::new(),
        },
        if job_files.is_empty() {
            String::new()
        } else {
            format!(
                ", CI jobs' in {}",
                job_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The apps' URLs for the env file: `SHIPLINE_SANDBOX_STAGING_URL`,
/// `SHIPLINE_SANDBOX_PRODUCTION_URL` (the first production app) and
/// `SHIPLINE_SANDBOX_PRODUCTION_URLS` (all, comma-separated, in order).
fn web_env(scenario: &Scenario, web: &Web) -> Vec<(String, String)> {
    let spec = scenario.spec();
    let url = |app: &str| web.url(app).unwrap_or_default().to_string();
    let production: Vec<String> = spec.production.iter().map(|a| url(a)).collect();
    vec![
        ("SHIPLINE_SANDBOX_STAGING_URL".into(), url(&spec.staging)),
        (
            "SHIPLINE_SANDBOX_PRODUCTION_URL".into(),
            production[0].clone(),
        ),
        (
            "SHIPLINE_SANDBOX_PRODUCTION_URLS".into(),
            production.join(","),
        ),
    ]
}

/// Writes `KEY=VALUE` lines whole (a temporary file, then a rename), so a script polling for
/// the file never reads half of it.
fn write_env(path: &Path, env: &[(String, String)]) -> Result<(), String> {
    let mut text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if text.is_empty() {
        text.push('\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            format!(
                "cannot write {}: {e}; pass an --env-file in a writable directory",
                path.display()
            )
        })
}

/// Parses `slack-transcript`'s flags: the control URL (`--control`, else
/// `SHIPLINE_SANDBOX_CONTROL`).
pub fn parse_transcript(args: &[String]) -> Result<String, String> {
    let mut control_url = std::env::var("SHIPLINE_SANDBOX_CONTROL").ok();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "--control" => {
                control_url = Some(
                    inline
                        .or_else(|| iter.next().cloned())
                        .ok_or("--control needs a value: the control URL")?,
                )
            }
            other => {
                return Err(format!(
                    "unknown flag {other:?} for `slack-transcript`; it takes --control URL"
                ))
            }
        }
    }
    control_url.filter(|u| !u.is_empty()).ok_or_else(|| {
        "--control URL is required (or SHIPLINE_SANDBOX_CONTROL): the control API of a \
         running `shipline-sandbox pipeline`"
            .to_string()
    })
}

/// Prints every message the scenario's Slack received, in order, laid out for a terminal
/// (bold only on a terminal without `NO_COLOR`).
pub fn run_transcript(url: &str) -> Result<(), String> {
    let messages = control::get_json(url, "/slack/messages")?;
    let directory = Directory::from_json(&control::get_json(url, "/slack/directory")?);
    let style = Style::for_output(
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    print!("{}", transcript::render(&messages, &directory, style));
    Ok(())
}
