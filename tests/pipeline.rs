//! The pipeline as a CI job runs it: one job, one state file, several apps. Deploy to staging,
//! verify, notify; promote to production, verify (rolling back on failure), notify — each step
//! a separate run of the real binary, as CI runs them, against the sandbox's Heroku and Slack.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{shipline, step_record, Repo, Run};
use serde_json::Value;
use shipline_sandbox::slack::{Message, Slack, DEPLOYS};
use shipline_sandbox::{DynoBoot, Heroku, Script};

const STAGING: &str = "shop-staging";
const PRODUCTION: &str = "shop";
const EU: &str = "shop-eu";

/// A repository with a live commit and a new one, staging and production apps in one Heroku
/// pipeline running the live commit, and a Slack webhook.
struct Job {
    heroku: Heroku,
    slack: Slack,
    repo: Repo,
    live: String,
    new: String,
}

impl Job {
    fn new(name: &str, production: &[&str]) -> Job {
        let repo = Repo::new(name);
        repo.write("Procfile", "web: node index.js\n");
        repo.write("index.js", "console.log('v1')\n");
        let live = repo.commit("Initial app");
        repo.write("index.js", "console.log(\"v2\")\n");
        let new = repo.commit("Say \"hello\" on the home page (#7)");
        let heroku = Heroku::start();
        let pipeline = heroku.create_pipeline("shop");
        for (app, stage) in std::iter::once((STAGING, "staging"))
            .chain(production.iter().map(|app| (*app, "production")))
        {
            heroku.create_app(app);
            heroku.seed_release(app, &live, None);
            heroku.couple(&pipeline, app, stage);
        }
        Job {
            heroku,
            slack: Slack::start(),
            repo,
            live,
            new,
        }
    }

    /// Runs one step of the job, as a CI step would: same directory, same state file.
    fn step(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let key = self.heroku.api_key().to_string();
        let url = self.heroku.url();
        let webhook = self.slack.webhook_url();
        let mut env = vec![
            ("HEROKU_API_KEY", key.as_str()),
            ("SHIPLINE_HEROKU_API_URL", url.as_str()),
            ("SLACK_WEBHOOK_URL", webhook.as_str()),
        ];
        env.extend_from_slice(extra);
        let mut all = args.to_vec();
        if matches!(args[0], "deploy" | "promote" | "verify") {
            all.extend_from_slice(&["--poll", "50ms"]);
        }
        shipline(self.repo.path(), &all, &env)
    }

    fn state_path(&self) -> PathBuf {
        self.repo.path().join(".shipline/state.json")
    }

    fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).unwrap()).unwrap()
    }

    fn messages(&self) -> Vec<Message> {
        self.slack.messages(DEPLOYS)
    }

    fn current(&self, app: &str) -> u64 {
        self.heroku
            .releases(app)
            .into_iter()
            .find(|r| r["current"] == true)
            .and_then(|r| r["version"].as_u64())
            .expect("a current release")
    }

    /// Whatever the Heroku fake received on `method path`.
    fn requests(&self, method: &str, path: &str) -> usize {
        self.heroku
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }
}

/// Every text of a message's blocks, joined by newlines.
fn block_text(message: &Message) -> String {
    let mut out = Vec::new();
    for block in message.blocks.as_array().unwrap() {
        out.extend(block["text"]["text"].as_str().map(str::to_string));
        for field in block["fields"].as_array().into_iter().flatten() {
            out.extend(field["text"].as_str().map(str::to_string));
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            out.extend(element["text"].as_str().map(str::to_string));
        }
    }
    out.join("\n")
}

#[test]
fn staging_then_production_is_announced_once_for_each() {
    let job = Job::new("pipeline-ok", &[PRODUCTION]);
    let staging_before = job.current(STAGING);
    let production_before = job.current(PRODUCTION);

    let run = job.step(&["deploy", "--app", STAGING], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = job.step(&["verify"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("Verifying v{} of {STAGING}", staging_before + 1)),
        "{run:?}"
    );
    let run = job.step(&["notify"], &[]);
    assert_eq!(run.code, 0, "{run:?}");

    let run = job.step(&["promote", "--from", STAGING, "--app", PRODUCTION], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Pipeline promotion"), "{run:?}");
    let run = job.step(&["verify"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "Verifying v{} of {PRODUCTION}",
            production_before + 1
        )),
        "verify follows the promotion: {run:?}"
    );
    let run = job.step(&["notify"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("Posted to Slack through the incoming webhook: succeeded at verify (shop)"),
        "{run:?}"
    );

    let messages = job.messages();
    let headlines: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        headlines,
        [
            format!(
                ":white_check_mark: Deployed {STAGING} to staging (v{})",
                staging_before + 1
            ),
            format!(
                ":white_check_mark: Deployed {PRODUCTION} to production (v{})",
                production_before + 1
            ),
        ]
    );
    let production = block_text(&messages[1]);
    for part in [
        format!(
            "*Release*\nv{production_before} → v{}",
            production_before + 1
        ),
        "`lock`".to_string(),
        "`promote` done → `verify` done".to_string(),
        "Say \"hello\" on the home page (#7)".to_string(),
    ] {
        if part == "`lock`" {
            assert!(!production.contains(&part), "no lock ran: {production}");
        } else {
            assert!(
                production.contains(&part),
                "missing {part:?} in:\n{production}"
            );
        }
    }
    assert!(
        !production.contains("`deploy`"),
        "production's message lists production's steps: {production}"
    );
    assert_eq!(
        job.requests("POST", &format!("/apps/{PRODUCTION}/builds")),
        0,
        "production gets staging's slug, not a second build"
    );

    let state = job.state();
    let steps: Vec<(String, String)> = state["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["apps"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("deploy", STAGING),
        ("verify", STAGING),
        ("notify", STAGING),
        ("promote", PRODUCTION),
        ("verify", PRODUCTION),
        ("notify", PRODUCTION),
    ]
    .iter()
    .map(|(s, a)| (s.to_string(), a.to_string()))
    .collect();
    assert_eq!(steps, expected);
    assert_eq!(state["apps"][STAGING]["change"]["kind"], "deploy");
    assert_eq!(state["apps"][PRODUCTION]["change"]["kind"], "promote");
    assert_eq!(
        state["apps"][PRODUCTION]["change"]["commit"],
        job.new.as_str()
    );
    assert_eq!(
        state["apps"][PRODUCTION]["change"]["previous_release"]["commit"],
        job.live.as_str()
    );
    assert_eq!(state["apps"][PRODUCTION]["verify"]["passed"], true);
    assert_eq!(
        state["apps"][PRODUCTION]["notes"]["commits"][0]["sha"],
        job.new.as_str()
    );
}

#[test]
fn a_production_crash_is_reported_as_production_with_its_releases_and_the_mention() {
    let job = Job::new("pipeline-crash", &[PRODUCTION]);
    let before = job.current(PRODUCTION);
    for step in [
        vec!["deploy", "--app", STAGING],
        vec!["verify"],
        vec!["notify"],
    ] {
        let run = job.step(&step, &[]);
        assert_eq!(run.code, 0, "{step:?}: {run:?}");
    }
    job.heroku.script_next_dyno_boot(
        PRODUCTION,
        DynoBoot::crash_after(Duration::from_millis(100)),
    );
    let run = job.step(&["promote", "--from", STAGING, "--app", PRODUCTION], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = job.step(&["verify", "--rollback-on-failure"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("crashed"), "{run:?}");
    assert_eq!(
        job.current(PRODUCTION),
        before + 2,
        "the rollback release is live"
    );
    let run = job.step(&["notify", "--mention-on-failure", "@here"], &[]);
    assert_eq!(run.code, 0, "{run:?}");

    let messages = job.messages();
    assert_eq!(
        messages.len(),
        2,
        "staging's success, then production's failure"
    );
    let failure = &messages[1];
    assert!(
        failure.text.starts_with(&format!(
            "<!here> :x: Deploy of {PRODUCTION} to production failed at verify"
        )),
        "{}",
        failure.text
    );
    let text = block_text(failure);
    let releases = format!(
        "*Release*\nv{before} → v{}, rolled back to v{before} as v{}",
        before + 1,
        before + 2
    );
    assert!(text.contains(&releases), "missing {releases:?} in:\n{text}");
    assert!(
        !text.contains(STAGING) || text.contains(&format!("Promote {STAGING}")),
        "production's message does not speak of staging's app: {text}"
    );

    // The next job skips by the rollback guard: continuous deployment is paused.
    std::fs::remove_file(job.state_path()).unwrap();
    let run = job.step(&["promote", "--from", STAGING, "--app", PRODUCTION], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Rollback to"), "{run:?}");
}

#[test]
fn a_skipped_staging_deploy_skips_the_promotion_and_says_why() {
    let job = Job::new("pipeline-skip", &[PRODUCTION]);
    let run = job.step(&["deploy", "--app", STAGING, "--ref", &job.live], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("already live"), "{run:?}");
    let run = job.step(
        &[
            "promote", "--from", STAGING, "--app", PRODUCTION, "--ref", &job.live,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "Skipped: the deploy of {STAGING} skipped this run ({} is already live as v",
            &job.live[..7]
        )) && run.stdout.contains("), so there is nothing new to promote"),
        "{run:?}"
    );
    assert_eq!(job.requests("POST", "/pipeline-promotions"), 0);

    // Another app's deploy does not depend on staging's, so it is not skipped.
    let run = job.step(&["deploy", "--app", PRODUCTION], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Released v"), "{run:?}");
    assert_eq!(step_record(&job.state(), "deploy")["outcome"], "done");
}

#[test]
fn a_promotion_to_several_apps_fails_naming_the_app_and_the_state_of_the_others() {
    let job = Job::new("pipeline-multi", &[PRODUCTION, EU]);
    let eu_before = job.current(EU);
    let run = job.step(&["deploy", "--app", STAGING], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    job.heroku.set_release_phase(
        EU,
        Some(Script::fail([
            "Running release command...",
            "migration failed: lock timeout",
        ])),
    );
    let run = job.step(
        &[
            "promote", "--from", STAGING, "--app", PRODUCTION, "--app", EU,
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let production_now = job.current(PRODUCTION);
    let expected = format!(
        "promotion failed on {EU}: release v{} (release",
        eu_before + 1
    );
    assert!(run.stderr.contains(&expected), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "meanwhile {PRODUCTION} is live on v{production_now}"
        )),
        "{run:?}"
    );
    assert_eq!(
        job.requests("POST", "/pipeline-promotions"),
        1,
        "one promotion"
    );
    assert_eq!(job.current(EU), eu_before, "the EU app keeps what was live");

    // verify and notify take the promotion's apps, one message each.
    let run = job.step(&["verify"], &[]);
    assert!(run.stdout.contains(&format!("of {PRODUCTION}")), "{run:?}");
    assert!(run.stdout.contains(&format!("of {EU}")), "{run:?}");
    let run = job.step(&["notify"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let headlines: Vec<String> = job.messages().iter().map(|m| m.text.clone()).collect();
    assert_eq!(headlines.len(), 2, "{headlines:?}");
    assert!(
        headlines[0].starts_with(&format!(
            ":white_check_mark: Deployed {PRODUCTION} to production (v{production_now})"
        )),
        "the app that went live is reported as such: {headlines:?}"
    );
    assert!(
        headlines[1].starts_with(&format!(
            ":x: Deploy of {EU} to production failed at promote: release v{}",
            eu_before + 1
        )),
        "{headlines:?}"
    );
}

#[test]
fn github_actions_gets_the_web_url_and_notes_without_a_secret() {
    let job = Job::new("pipeline-outputs", &[PRODUCTION]);
    let output = job.repo.path().join("github-output");
    let output_path = output.to_str().unwrap().to_string();
    let gha = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", output_path.as_str()),
        ("GITHUB_RUN_ID", "77"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "deploy"),
    ];
    let run = job.step(
        &["notes", "--app", PRODUCTION, "--format", "markdown"],
        &gha,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let key = job.heroku.api_key();
    assert!(
        !run.stdout.contains("::") && !run.stdout.contains(key),
        "standard output is the notes alone: {run:?}"
    );
    assert!(
        run.stderr.contains("::add-mask::"),
        "the mask still reaches the runner: {run:?}"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.contains("Say \"hello\" on the home page (#7)"),
        "{outputs}"
    );
    assert!(outputs.contains("outcome=done"), "{outputs}");
    assert!(
        !outputs.contains(key) && !outputs.lines().any(|l| l.starts_with("::")),
        "{outputs}"
    );

    std::fs::write(&output, "").unwrap();
    for step in [
        vec!["deploy", "--app", STAGING],
        vec!["promote", "--from", STAGING, "--app", PRODUCTION],
        vec!["verify"],
    ] {
        let run = job.step(&step, &gha);
        assert_eq!(run.code, 0, "{step:?}: {run:?}");
    }
    let outputs = std::fs::read_to_string(&output).unwrap();
    let urls: Vec<&str> = outputs
        .lines()
        .filter_map(|l| l.strip_prefix("web-url="))
        .collect();
    assert_eq!(urls.len(), 3, "{outputs}");
    assert!(
        urls[0].starts_with(&format!("https://{STAGING}-")),
        "{urls:?}"
    );
    assert!(
        urls[1].starts_with(&format!("https://{PRODUCTION}-")),
        "{urls:?}"
    );
    assert_eq!(urls[1], urls[2], "verify hands on the app it verified");
}

#[test]
fn through_the_web_api_each_app_has_its_own_message_and_only_the_failing_one_a_reply() {
    let job = Job::new("pipeline-bot", &[PRODUCTION]);
    let token = job.slack.bot_token().to_string();
    let api = job.slack.api_url();
    let bot = [
        ("SLACK_WEBHOOK_URL", ""),
        ("SLACK_BOT_TOKEN", token.as_str()),
        ("SHIPLINE_SLACK_API_URL", api.as_str()),
        ("SHIPLINE_CHANNEL", DEPLOYS),
        ("SHIPLINE_MENTION_ON_FAILURE", "<!subteam^S0ONCALL>"),
    ];
    for step in [
        vec!["deploy", "--app", STAGING],
        vec!["notify"],
        vec!["verify"],
        vec!["notify"],
        vec!["promote", "--from", STAGING, "--app", PRODUCTION],
        vec!["notify"],
    ] {
        let run = job.step(&step, &bot);
        assert_eq!(run.code, 0, "{step:?}: {run:?}");
    }
    let messages = job.messages();
    assert_eq!(messages.len(), 2, "one message per app, updated in place");
    let (staging, production) = (&messages[0], &messages[1]);
    assert!(staging
        .text
        .starts_with(":white_check_mark: Deployed shop-staging to staging"));
    assert_eq!(
        staging.edits.len(),
        1,
        "staging's message was updated after its verify"
    );
    assert!(production
        .text
        .starts_with(":white_check_mark: Deployed shop to production"));
    assert!(staging.replies.is_empty() && production.replies.is_empty());
    let state = job.state();
    assert_ne!(
        state["slack"]["messages"][STAGING]["ts"],
        state["slack"]["messages"][PRODUCTION]["ts"]
    );

    // A later step of the job fails (the action passes `job.status`): production's message
    // turns red and only its thread gets the on-call reply.
    let run = job.step(&["notify", "--status", "failed"], &bot);
    assert_eq!(run.code, 0, "{run:?}");
    let messages = job.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[1]
            .text
            .starts_with(":x: Deploy of shop to production failed"),
        "{}",
        messages[1].text
    );
    assert_eq!(
        messages[1].replies.len(),
        1,
        "the failing app's thread gets the mention"
    );
    assert!(messages[1].replies[0]
        .text
        .starts_with("<!subteam^S0ONCALL>"));
    assert!(
        messages[0].replies.is_empty(),
        "staging's thread stays quiet"
    );
    assert!(
        messages[0].text.starts_with(":white_check_mark:"),
        "staging's message is untouched"
    );
}
