//! `shipline-sandbox`: runs fake services until killed, for `scripts/demo`, end-to-end tests
//! and manual trials: `heroku` (one app), `pipeline` (staging → production with Slack, CI
//! builds and a control API), `slack-transcript` (what Slack received), and `bench-lock`
//! (the lock simulation benchmark).

mod bench_lock;
mod pipeline_cli;

use std::process::ExitCode;
use std::time::Duration;

use shipline_sandbox::{Config, Heroku, Script};

const USAGE: &str = "\
shipline-sandbox: fake services on 127.0.0.1 for shipline's demo and tests

USAGE:
    shipline-sandbox heroku --app NAME [OPTIONS]
    shipline-sandbox pipeline --env-file PATH [PIPELINE OPTIONS]
    shipline-sandbox slack-transcript [--control URL]
    shipline-sandbox bench-lock --shipline PATH [BENCH OPTIONS]

HEROKU starts a fake Heroku Platform API with one Cedar app, prints its base URL (or writes it to
--port-file) and serves until killed. Every build prints realistic heroku/nodejs buildpack
output a few hundred milliseconds per line and succeeds.

OPTIONS:
    --app NAME            app to create (required)
    --live-commit SHA     seed a live release whose slug has this commit
    --api-key KEY         the accepted HEROKU_API_KEY [default: shipline-demo-key]
    --port N              port to listen on [default: a free one]
    --port-file PATH      write the base URL to PATH instead of stdout
    --release-phase       give the app a release phase (migrations) run on every release
    --preboot             enable the preboot feature
    --slack-webhook-file PATH
                          also start a fake Slack and write its incoming-webhook URL to PATH
    --circleci-env-file PATH
                          also start a fake CircleCI with one build of `main` whose `deploy`
                          job has reached the lock, and write the environment that job would
                          have (CIRCLE_*, CIRCLE_TOKEN, SHIPLINE_CIRCLECI_API_URL) to PATH,
                          one KEY=VALUE per line
    --github-env-file PATH
                          the same for GitHub Actions: a fake GitHub with one run of `main`
                          whose `deploy` job has reached the lock (GITHUB_*, GITHUB_TOKEN,
                          GITHUB_API_URL)
    -h, --help            show this help

PIPELINE starts everything one CI job of staging -> production talks to, and serves until
killed: a fake Heroku with the staging app and the production apps coupled to one pipeline
(stages `staging` and `production`), all live at --live-commit, whose builds print realistic
buildpack output; a fake Slack (incoming webhook and Web API, channel C0DEPLOYS); optionally
a fake CircleCI and a fake GitHub with builds of `main`; and a control API (JSON over HTTP on
its own port; the fakes' ports answer only what the real services answer). When everything
listens it writes --env-file whole (KEY=VALUE lines, for `set -a; . FILE`):
    HEROKU_API_KEY, SHIPLINE_HEROKU_API_URL, SLACK_WEBHOOK_URL, SLACK_BOT_TOKEN,
    SHIPLINE_SLACK_API_URL, SHIPLINE_SANDBOX_CONTROL (the control API's base URL),
    SHIPLINE_SANDBOX_STAGING_APP, SHIPLINE_SANDBOX_PRODUCTION_APP (the first),
    SHIPLINE_SANDBOX_PRODUCTION_APPS (comma-separated), SHIPLINE_SANDBOX_PIPELINE,
    SHIPLINE_SANDBOX_SLACK_CHANNEL, SHIPLINE_SANDBOX_CIRCLECI_BUILDS, SHIPLINE_SANDBOX_GITHUB_RUNS,
    SHIPLINE_SANDBOX_STAGING_URL, SHIPLINE_SANDBOX_PRODUCTION_URL, SHIPLINE_SANDBOX_PRODUCTION_URLS,
    and SSL_CERT_FILE with --tls
Each app also has a URL of its own (the *_URL variables) answering every path as Heroku's
router would from its dynos: 200 {\"status\": \"ok\", \"commit\": SHA, \"release\": \"vN\"} from
the newest release with a web dyno up, else 503 with Heroku's Application error page (H10
crashed, H20 booting): a target for `shipline verify --check URL/health --expect-body SHA`.
And, beside the env file, one file per CI build with the environment its `deploy` job has:
circleci-N.env (CI, CIRCLECI, CIRCLE_*, CIRCLE_TOKEN, SHIPLINE_CIRCLECI_API_URL) and
github-N.env (CI, GITHUB_*, GITHUB_TOKEN, GITHUB_API_URL), written before --env-file.
Builds start in their tests; passing a build's tests through the control API makes its
`deploy` job run at once (reach the lock), so the order and timing are the caller's.
A job's steps are the caller's too: when they are done (also after its lock skipped), finish
its `deploy` job through the control API, as CI would; a lock waiting behind it proceeds.
    --env-file PATH       where to write the environment (required)
    --staging NAME        the staging app [default: shop-staging]
    --production NAME     a production app; repeatable or comma-separated [default: shop]
    --pipeline NAME       the Heroku pipeline [default: shop]
    --live-commit SHA     every app starts with a release of this commit (40 hex digits)
    --release-phase       every app has a release phase (migrations) that streams
    --preboot             every app has preboot on
    --circleci-builds N,N...
                          CircleCI pipelines of `main` with these numbers (e.g. 101,102,103)
    --github-runs N,N...  GitHub Actions runs of `main` (deploy.yml) with these numbers
    --api-key KEY         the accepted HEROKU_API_KEY [default: shipline-demo-key]
    --slack-usergroup ID=HANDLE
                          a user group of the Slack workspace, for transcripts; repeatable
                          [default: S0ONCALL=oncall]
    --dyno-boot SECONDS   how long a new release's dynos are `starting` [default: 1.5]
    --control-port N      port of the control API [default: a free one]
    --tls                 every service and app URL speaks HTTPS (the control API stays HTTP)
                          with a certificate for 127.0.0.1 and localhost from a CA made for
                          this run; its certificate is written beside the env file as
                          sandbox-ca.pem, and the env file gets SSL_CERT_FILE=<its path>

CONTROL API (base URL in SHIPLINE_SANDBOX_CONTROL; JSON answers; errors {\"error\": \"...\"}):
    GET  /                                 the scenario, its env, its builds, these endpoints
    POST /heroku/apps/APP/next-boot        the app's next release boots as told; body
                                           {\"crash\": true, \"starting_ms\": 1500, \"only_one\": false}
                                           (all optional: by default its dynos go `starting`
                                           then `crashed`; releases after it boot normally)
    GET  /heroku/apps/APP/releases         its releases as the Platform API renders them
    GET  /heroku/apps/APP/builds           its builds
    GET  /heroku/apps/APP/dynos            its dynos now
    GET  /heroku/promotions                every pipeline promotion, with its targets
    GET  /requests/SERVICE                 every request heroku, slack, circleci or github
                                           received, in order: method, path, query, headers,
                                           body (text; null with body_bytes when binary)
    GET  /slack/messages                   every Slack message in arrival order (webhook and
                                           Web API) with thread replies and earlier versions
    GET  /slack/directory                  names Slack shows for IDs (channels, user groups)
    GET  /circleci/builds, /github/runs    each build's number and `deploy` job status
    POST /circleci/builds/N/tests          its tests end now ({\"passed\": false} fails them);
    POST /github/runs/N/tests              answers once its `deploy` job runs
    POST /circleci/builds/N/finish         its `deploy` job ends ({\"success\": false} fails
    POST /github/runs/N/finish             it): a lock waiting behind it proceeds
    POST /circleci/builds/N/cancel         its workflow is cancelled

SLACK-TRANSCRIPT prints every message the pipeline's Slack received, in order, laid out as
Slack shows it: header, text, fields, release notes, context line, thread replies indented
under their parent, mentions as @oncall (user groups from --slack-usergroup), links as
`text (url)`. Plain text, bold only on a
terminal without NO_COLOR.
    --control URL         the control API [default: $SHIPLINE_SANDBOX_CONTROL]

BENCH-LOCK runs builds arriving over a period on the fake CircleCI (or GitHub), each running
`shipline lock -- <deploy>` in its deploy job, time scaled down, and reports the hand-off
delay and API requests per waiting build per minute (in unscaled time; on GitHub also those
counted against the rate limit, which 304s are not). It exits 1 when deploys overlapped, a
build failed, or a target was missed: a hand-off within one poll plus 1 s; in queue mode at
most 10 requests per waiting build per minute on CircleCI, 2 rate-limited ones on GitHub:
    --shipline PATH       the shipline binary (required)
    --builds N            builds [default: 10]
    --over SECONDS        period over which they arrive [default: 60]
    --tests SECONDS       how long each build's tests run (±10 %) [default: 120]
    --deploy SECONDS      how long each deploy holds the lock [default: 45]
    --poll SECONDS        shipline's --poll [default: 10 on circleci, 30 on github]
    --scale N             time runs N times faster [default: 20]
    --mode MODE           queue or latest [default: queue]
    --provider CI         circleci or github [default: circleci]
";

/// Demo default so scripts can export the key before the server starts.
const DEMO_API_KEY: &str = "shipline-demo-key";

struct Options {
    app: String,
    live_commit: Option<String>,
    api_key: String,
    port: u16,
    port_file: Option<String>,
    release_phase: bool,
    preboot: bool,
    slack_webhook_file: Option<String>,
    circleci_env_file: Option<String>,
    github_env_file: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut iter = args.iter();
    match iter.next().map(String::as_str) {
        Some("heroku") => {}
        Some(other) => {
            return Err(format!(
                "unknown command {other:?} (expected `heroku`, `pipeline`, `slack-transcript` \
                 or `bench-lock`)"
            ))
        }
        None => return Err("missing command (expected `heroku` or `pipeline`)".into()),
    }
    let mut options = Options {
        app: String::new(),
        live_commit: None,
        api_key: DEMO_API_KEY.into(),
        port: 0,
        port_file: None,
        release_phase: false,
        preboot: false,
        slack_webhook_file: None,
        circleci_env_file: None,
        github_env_file: None,
    };
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--app" => options.app = value()?,
            "--live-commit" => options.live_commit = Some(value()?),
            "--api-key" => options.api_key = value()?,
            "--port" => {
                let v = value()?;
                options.port = v.parse().map_err(|_| format!("invalid --port {v:?}"))?;
            }
            "--port-file" => options.port_file = Some(value()?),
            "--release-phase" => options.release_phase = true,
            "--preboot" => options.preboot = true,
            "--slack-webhook-file" => options.slack_webhook_file = Some(value()?),
            "--circleci-env-file" => options.circleci_env_file = Some(value()?),
            "--github-env-file" => options.github_env_file = Some(value()?),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if options.app.is_empty() {
        return Err("--app is required".into());
    }
    Ok(options)
}

fn bench(args: &[String]) -> Result<bench_lock::Bench, String> {
    let mut bench = bench_lock::Bench {
        shipline: Default::default(),
        builds: 10,
        over: Duration::from_secs(60),
        tests: Duration::from_secs(120),
        deploy: Duration::from_secs(45),
        poll: Duration::ZERO,
        scale: 20.0,
        mode: "queue".into(),
        provider: "circleci".into(),
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = || -> Result<Duration, String> {
            value
                .trim_end_matches('s')
                .parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|_| format!("{flag} takes seconds, not {value:?}"))
        };
        match flag.as_str() {
            "--shipline" => bench.shipline = value.into(),
            "--builds" => {
                bench.builds = value
                    .parse()
                    .map_err(|_| format!("bad --builds {value:?}"))?
            }
            "--over" => bench.over = secs()?,
            "--tests" => bench.tests = secs()?,
            "--deploy" => bench.deploy = secs()?,
            "--poll" => bench.poll = secs()?,
            "--scale" => {
                bench.scale = value
                    .parse()
                    .map_err(|_| format!("bad --scale {value:?}"))?
            }
            "--mode" => bench.mode = value.clone(),
            "--provider" => match value.as_str() {
                "circleci" | "github" => bench.provider = value.clone(),
                other => {
                    return Err(format!(
                        "--provider takes circleci or github, not {other:?}"
                    ))
                }
            },
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if bench.shipline.as_os_str().is_empty() {
        return Err("--shipline PATH is required".into());
    }
    if bench.poll.is_zero() {
        // shipline lock's default poll on each CI.
        bench.poll = Duration::from_secs(if bench.provider == "github" { 30 } else { 10 });
    }
    Ok(bench)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench-lock") {
        return match bench(&args[1..]).and_then(|b| bench_lock::run(&b)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shipline-sandbox bench-lock: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match args.first().map(String::as_str) {
        Some("pipeline") => {
            return match pipeline_cli::parse_pipeline(&args[1..]) {
                Ok(parsed) => {
                    eprintln!(
                        "shipline-sandbox pipeline: {}",
                        pipeline_cli::run_pipeline(parsed)
                    );
                    ExitCode::FAILURE
                }
                Err(e) => usage_error("pipeline", &e),
            }
        }
        Some("slack-transcript") => {
            return match pipeline_cli::parse_transcript(&args[1..]) {
                Ok(url) => match pipeline_cli::run_transcript(&url) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("shipline-sandbox slack-transcript: {e}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => usage_error("slack-transcript", &e),
            }
        }
        _ => {}
    }
    if args.is_empty() {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("shipline-sandbox: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let heroku = match Heroku::start_with(Config {
        api_key: options.api_key.clone(),
        port: options.port,
        ..Config::default()
    }) {
        Ok(h) => h,
        Err(e) => {
            eprintln!(
                "shipline-sandbox: cannot listen on 127.0.0.1:{}: {e}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    heroku.create_app(&options.app);
    if let Some(commit) = &options.live_commit {
        heroku.seed_release(&options.app, commit, None);
    }
    heroku.set_preboot(&options.app, options.preboot);
    if options.release_phase {
        heroku.set_release_phase(&options.app, Some(Script::demo_release_phase()));
    }
    heroku.script_every_build(
        &options.app,
        Some(Script::demo_build(options.release_phase)),
    );

    // Kept alive until the process ends, like the Heroku fake.
    let _slack = match &options.slack_webhook_file {
        None => None,
        Some(path) => {
            let slack = shipline_sandbox::slack::Slack::start();
            if let Err(e) = write_whole(path, &slack.webhook_url()) {
                eprintln!("shipline-sandbox: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
            Some(slack)
        }
    };
    let _circleci = match &options.circleci_env_file {
        None => None,
        Some(path) => {
            let circleci = shipline_sandbox::circleci::CircleCi::start();
            let build = circleci.start_build(shipline_sandbox::circleci::BuildSpec::branch(
                "main",
                std::time::Duration::ZERO,
            ));
            circleci.wait_at_lock(&build, std::time::Duration::from_secs(10));
            if let Err(e) = write_env(path, circleci.job_env(&build, circleci.token())) {
                eprintln!("shipline-sandbox: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
            Some((circleci, build))
        }
    };
    let _github = match &options.github_env_file {
        None => None,
        Some(path) => {
            let github = shipline_sandbox::GitHub::start();
            let run = github.start_run(shipline_sandbox::github::RunSpec::branch(
                "main",
                std::time::Duration::ZERO,
            ));
            github.wait_at_lock(&run, std::time::Duration::from_secs(10));
            if let Err(e) = write_env(path, github.job_env(&run, github.token())) {
                eprintln!("shipline-sandbox: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
            Some((github, run))
        }
    };
    let url = heroku.url();
    match &options.port_file {
        Some(path) => {
            // Written whole then renamed, so a script polling for the file never reads half.
            let tmp = format!("{path}.tmp");
            if let Err(e) =
                std::fs::write(&tmp, format!("{url}\n")).and_then(|()| std::fs::rename(&tmp, path))
            {
                eprintln!("shipline-sandbox: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        None => println!("{url}"),
    }
    eprintln!(
        "shipline-sandbox: fake Heroku for app {:?} on {url} (api key {:?}); stop with Ctrl-C",
        options.app, options.api_key
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A flag error: one line saying what is wrong, exit 2.
fn usage_error(command: &str, message: &str) -> ExitCode {
    eprintln!("shipline-sandbox {command}: {message}");
    eprintln!("Run `shipline-sandbox --help` for the options.");
    ExitCode::from(2)
}

/// Writes `text` to `path` whole (a temporary file, then a rename), so a script polling for
/// the file never reads half of it.
fn write_whole(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, format!("{text}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Writes an environment as `KEY=VALUE` lines, whole.
fn write_env(path: &str, env: Vec<(String, String)>) -> std::io::Result<()> {
    let text: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    write_whole(path, &text.join("\n"))
}
