//! The `pipeline` scenario, its control API and the Slack transcript, as a test or the demo
//! drives them: over HTTP, the way `scripts/demo` and end-to-end tests use them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shipline_sandbox::control::{get_json, http, post_json, Control};
use shipline_sandbox::scenario::{Scenario, Spec};
use shipline_sandbox::transcript::{render, Directory, Style};

const LIVE: &str = "1111111111111111111111111111111111111111";
const NEXT: &str = "2222222222222222222222222222222222222222";

fn start(spec: Spec) -> (Arc<Scenario>, Control) {
    let scenario = Arc::new(Scenario::start(spec).expect("the scenario starts"));
    let control = Control::start(scenario.clone(), 0).expect("the control API starts");
    (scenario, control)
}

fn spec() -> Spec {
    Spec {
        live_commit: Some(LIVE.into()),
        boot: Duration::from_millis(150),
        ..Spec::default()
    }
}

/// The dyno states of the app's current release, as its dyno list shows them now.
fn states(control: &str, app: &str, version: u64) -> Vec<String> {
    get_json(control, &format!("/heroku/apps/{app}/dynos"))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["release"]["version"] == version)
        .map(|d| d["state"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_apps_share_one_pipeline_and_start_live_at_the_commit() {
    let (scenario, control) = start(Spec {
        production: vec!["shop".into(), "shop-eu".into()],
        ..spec()
    });
    let url = control.url();
    let overview = get_json(&url, "/").unwrap();
    assert_eq!(overview["staging"], "shop-staging");
    assert_eq!(overview["production"], json!(["shop", "shop-eu"]));
    let env = &overview["env"];
    assert_eq!(env["SHIPLINE_SANDBOX_CONTROL"], url.as_str());
    assert_eq!(env["SHIPLINE_SANDBOX_PRODUCTION_APPS"], "shop,shop-eu");
    assert_eq!(env["HEROKU_API_KEY"], scenario.heroku.api_key());
    for app in ["shop-staging", "shop", "shop-eu"] {
        let releases = get_json(&url, &format!("/heroku/apps/{app}/releases")).unwrap();
        let live = releases.as_array().unwrap().last().unwrap().clone();
        assert_eq!(live["current"], true, "{app}: {live}");
        let slug = &live["slug"]["id"];
        let slugs = scenario.heroku.slugs(app);
        let commit = slugs.iter().find(|s| &s["id"] == slug).unwrap()["commit"].clone();
        assert_eq!(commit, LIVE, "{app}");
    }
    // The fake Heroku answers the couplings as the Platform API does: both stages, one
    // pipeline.
    let heroku = scenario.heroku.url();
    let key = format!("Bearer {}", scenario.heroku.api_key());
    let headers = [
        ("Accept", "application/vnd.heroku+json; version=3"),
        ("Authorization", key.as_str()),
    ];
    let mut pipelines = Vec::new();
    for (app, stage) in [
        ("shop-staging", "staging"),
        ("shop", "production"),
        ("shop-eu", "production"),
    ] {
        let url = format!("{heroku}/apps/{app}/pipeline-couplings");
        let (status, body) = http("GET", &url, &headers, b"").unwrap();
        assert_eq!(status, 200, "{app}: {body}");
        let coupling: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(coupling["stage"], stage, "{app}");
        pipelines.push(coupling["pipeline"]["id"].clone());
    }
    assert!(
        pipelines.iter().all(|p| *p == pipelines[0]),
        "{pipelines:?}"
    );
}

#[test]
fn the_control_api_crashes_the_next_boot_of_one_app_only() {
    let (scenario, control) = start(spec());
    let url = control.url();
    let answer = post_json(
        &url,
        "/heroku/apps/shop/next-boot",
        &json!({"starting_ms": 100}),
    )
    .unwrap();
    assert_eq!(answer["next_release"]["settles_in"], "crashed");

    // The same slug released on staging boots; on production it starts, then crashes.
    let staging = scenario.heroku.seed_release("shop-staging", NEXT, None);
    let production = scenario.heroku.seed_release("shop", NEXT, None);
    assert_eq!(states(&url, "shop", production), ["starting"]);
    wait_for("production's dynos to crash", || {
        states(&url, "shop", production) == ["crashed"]
    });
    wait_for("staging's dynos to be up", || {
        states(&url, "shop-staging", staging) == ["up"]
    });
    // The release after the crash (a rollback) boots normally.
    let rollback = scenario.heroku.seed_release(
        "shop",
        LIVE,
        Some(&format!("Rollback to v{}", production - 1)),
    );
    wait_for("the rollback's dynos to be up", || {
        states(&url, "shop", rollback) == ["up"]
    });

    let err = post_json(&url, "/heroku/apps/nope/next-boot", &json!({})).unwrap_err();
    assert!(
        err.contains("answered 404") && err.contains("shop-staging, shop"),
        "{err}"
    );
    let err = post_json(
        &url,
        "/heroku/apps/shop/next-boot",
        &json!({"crash": "yes"}),
    )
    .unwrap_err();
    assert!(err.contains("\"crash\" must be true or false"), "{err}");
}

#[test]
fn builds_reach_the_lock_when_their_tests_pass_and_release_it_when_finished() {
    let (scenario, control) = start(Spec {
        circleci_builds: vec![101, 102, 103],
        github_runs: vec![7],
        ..spec()
    });
    let url = control.url();
    let statuses = |path: &str| -> Vec<String> {
        get_json(&url, path)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|b| format!("{}:{}", b["number"], b["deploy_job"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(
        statuses("/circleci/builds"),
        ["101:blocked", "102:blocked", "103:blocked"]
    );
    let answer = post_json(&url, "/circleci/builds/101/tests", &json!({})).unwrap();
    assert_eq!(answer, json!({"number": 101, "deploy_job": "running"}));
    post_json(
        &url,
        "/circleci/builds/102/tests",
        &json!({"passed": false}),
    )
    .unwrap();
    post_json(
        &url,
        "/circleci/builds/101/finish",
        &json!({"success": true}),
    )
    .unwrap();
    post_json(&url, "/circleci/builds/103/cancel", &json!({})).unwrap();
    assert_eq!(
        statuses("/circleci/builds"),
        ["101:success", "102:not_run", "103:canceled"]
    );
    let err = post_json(&url, "/circleci/builds/102/finish", &json!({})).unwrap_err();
    assert!(err.contains("not running"), "{err}");
    let err = post_json(&url, "/circleci/builds/99/tests", &json!({})).unwrap_err();
    assert!(err.contains("101, 102, 103"), "{err}");

    post_json(&url, "/github/runs/7/tests", &json!({})).unwrap();
    assert_eq!(statuses("/github/runs"), ["7:in_progress"]);

    // Each build's job environment names its own workflow and the fake's URL.
    let env = scenario.circleci_env(102).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("CIRCLE_BRANCH").as_deref(), Some("main"));
    assert_eq!(get("CI").as_deref(), Some("true"));
    assert_eq!(
        get("SHIPLINE_CIRCLECI_API_URL"),
        Some(scenario.circleci.as_ref().unwrap().api_url())
    );
    assert!(get("CIRCLE_BUILD_URL")
        .unwrap()
        .starts_with("https://circleci.com/gh/acme/shop/"));
}

#[test]
fn requests_are_listed_with_headers_and_text_bodies() {
    let (scenario, control) = start(spec());
    let url = control.url();
    http(
        "POST",
        &scenario.slack.webhook_url(),
        &[("Content-Type", "application/json")],
        br#"{"text": "hello"}"#,
    )
    .unwrap();
    let requests = get_json(&url, "/requests/slack").unwrap();
    let first = &requests[0];
    assert_eq!(first["method"], "POST");
    assert!(first["path"].as_str().unwrap().starts_with("/services/"));
    assert_eq!(first["body"], r#"{"text": "hello"}"#);
    assert!(first["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "Content-Type" && h[1] == "application/json"));
    let err = get_json(&url, "/requests/jenkins").unwrap_err();
    assert!(err.contains("/requests/heroku"), "{err}");
    let err = get_json(&url, "/nothing/here").unwrap_err();
    assert!(
        err.contains("404") && err.contains("GET /slack/messages"),
        "{err}"
    );
}

/// Posts like `shipline notify` does on the Web API; returns the message's `ts`.
fn post_message(scenario: &Scenario, payload: Value) -> String {
    let (status, body) = http(
        "POST",
        &format!("{}/chat.postMessage", scenario.slack.api_url()),
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            (
                "Authorization",
                &format!("Bearer {}", scenario.slack.bot_token()),
            ),
        ],
        payload.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    answer["ts"].as_str().unwrap().to_string()
}

#[test]
fn the_transcript_lays_out_header_fields_notes_context_and_thread_replies() {
    let (scenario, control) = start(spec());
    let url = control.url();
    http(
        "POST",
        &scenario.slack.webhook_url(),
        &[("Content-Type", "application/json")],
        json!({"text": ":white_check_mark: Deployed shop-staging to staging (v3)"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let ts = post_message(
        &scenario,
        json!({
            "channel": "C0DEPLOYS",
            "text": "fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": ":x: Deploy of shop to production failed"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Failed* at `verify`: web.1 crashed"}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Environment*\nproduction"},
                    {"type": "mrkdwn", "text": "*Release*\nv4 → v5"},
                    {"type": "mrkdwn", "text": "*Commit*\n<https://github.com/acme/shop/commit/abc|`abc1234`>"},
                ]},
                {"type": "divider"},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Release notes* · 1 commit\n• `abc1234` <https://github.com/acme/shop/commit/abc|Fix totals &amp; taxes> — Grace"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://circleci.com/gh/acme/shop/9|CircleCI job 9> · merged by *grace*"}]},
            ],
        }),
    );
    post_message(
        &scenario,
        json!({"channel": "C0DEPLOYS", "thread_ts": ts,
               "text": "<!subteam^S0ONCALL> :x: Deploy of shop to production failed at `verify`"}),
    );
    let messages = get_json(&url, "/slack/messages").unwrap();
    let directory = Directory::from_json(&get_json(&url, "/slack/directory").unwrap());
    let text = render(&messages, &directory, Style::plain());
    let expected = "\
── 1. #deploys · incoming webhook
✅ Deployed shop-staging to staging (v3)

── 2. #deploys · Web API
❌ Deploy of shop to production failed
Failed at `verify`: web.1 crashed
Environment: production           Release: v4 → v5
Commit: `abc1234` (https://github.com/acme/shop/commit/abc)
────────────────────────────────────────────────
Release notes · 1 commit
• `abc1234` Fix totals & taxes (https://github.com/acme/shop/commit/abc) — Grace
CircleCI job 9 (https://circleci.com/gh/acme/shop/9) · merged by grace
   ↳ reply in thread
     @oncall ❌ Deploy of shop to production failed at `verify`
";
    assert_eq!(text, expected, "got:\n{text}");
    assert!(!text.contains('\x1b'));
    let bold = render(&messages, &directory, Style { bold: true });
    assert!(bold.contains("\x1b[1mFailed\x1b[22m at"), "{bold}");
}

/// The binary: bad flags exit 2 with one clear line; a good start writes the env file whole,
/// after everything listens, and the transcript subcommand reads through the control API.
#[test]
fn the_binary_writes_the_env_file_once_everything_listens() {
    let bin = env!("CARGO_BIN_EXE_shipline-sandbox");
    let out = Command::new(bin)
        .args(["pipeline", "--env-file"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--env-file needs a value"), "{err}");
    let out = Command::new(bin)
        .args(["pipeline", "--env-file", "x", "--live-commit", "abc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("40 hex digits"));

    let dir = std::env::temp_dir().join(format!("sandbox-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("env");
    let mut child = Command::new(bin)
        .args(["pipeline", "--circleci-builds", "5,6", "--env-file"])
        .arg(&env_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let text = std::fs::read_to_string(&env_file).unwrap_or_default();
    let build_env = std::fs::read_to_string(dir.join("circleci-6.env")).unwrap_or_default();
    let control = text
        .lines()
        .find_map(|l| l.strip_prefix("SHIPLINE_SANDBOX_CONTROL="))
        .map(str::to_string);
    let transcript = Command::new(bin)
        .args(["slack-transcript", "--control"])
        .arg(control.clone().unwrap_or_default())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(line.contains("stop with Ctrl-C"), "{line}");
    for key in [
        "HEROKU_API_KEY=",
        "SHIPLINE_HEROKU_API_URL=http://127.0.0.1:",
        "SLACK_WEBHOOK_URL=http://127.0.0.1:",
        "SLACK_BOT_TOKEN=xoxb-",
        "SHIPLINE_SLACK_API_URL=http://127.0.0.1:",
        "SHIPLINE_SANDBOX_STAGING_APP=shop-staging",
        "SHIPLINE_SANDBOX_PRODUCTION_APP=shop",
        "SHIPLINE_SANDBOX_CIRCLECI_BUILDS=5,6",
        "SHIPLINE_SANDBOX_STAGING_URL=http://127.0.0.1:",
        "SHIPLINE_SANDBOX_PRODUCTION_URL=http://127.0.0.1:",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(key)),
            "{key} in:\n{text}"
        );
    }
    assert!(build_env.contains("CIRCLE_TOKEN="), "{build_env}");
    assert!(control.is_some());
    assert!(transcript.status.success(), "{transcript:?}");
    assert_eq!(
        String::from_utf8_lossy(&transcript.stdout),
        "(Slack received no message)\n"
    );
}

#[test]
fn each_app_url_answers_from_its_dynos_like_herokus_router() {
    let (scenario, _control) = start(spec());
    let web = shipline_sandbox::web::Web::start(scenario.clone()).unwrap();
    let get = |app: &str| {
        http(
            "GET",
            &format!("{}/health", web.url(app).unwrap()),
            &[],
            b"",
        )
        .unwrap()
    };
    wait_for("the live release to serve", || get("shop").0 == 200);
    let (_, body) = get("shop");
    assert!(body.contains(&format!("\"commit\":\"{LIVE}\"")), "{body}");

    scenario.heroku.script_next_dyno_boot(
        "shop",
        shipline_sandbox::DynoBoot::crash_after(Duration::from_millis(100)),
    );
    scenario.heroku.seed_release("shop", NEXT, None);
    scenario.heroku.seed_release("shop-staging", NEXT, None);
    let (status, body) = get("shop");
    assert_eq!(status, 503, "booting: {body}");
    assert!(body.contains("H20"), "{body}");
    wait_for("production to crash", || get("shop").1.contains("H10"));
    assert!(get("shop").1.contains("Application error"));
    wait_for("staging to serve the new commit", || {
        get("shop-staging").1.contains(NEXT)
    });
}
