//! The pipeline as a CI job runs it: one job, one state file, several apps. Deploy to staging,
//! verify, notify; promote to production, verify (rolling back on failure), notify — each step
//! a separate run of the real binary, as CI runs them, against the sandbox's Heroku and Slack.

mod common;

use std::time::Duration;

use common::{block_text, step_record, Run, Shipline, World};
use shipline_sandbox::slack::{Message, DEPLOYS};
use shipline_sandbox::{DynoBoot, Script};

const STAGING: &str = "shop-staging";
const PRODUCTION: &str = "shop";
const EU: &str = "shop-eu";
/// The step that ships staging's slug to production.
const PROMOTE: [&str; 5] = ["promote", "--from", STAGING, "--app", PRODUCTION];

/// A repository with a live commit and a new one, staging and production apps in one Heroku
/// pipeline running the live commit, and a Slack webhook; with the live and the new commit.
fn world(name: &str, production: &[&str]) -> (World, String, String) {
    let w = World::new(name).with_heroku().with_slack_webhook();
    let (live, new) = w
        .repo()
        .web_app_and_change("Say \"hello\" on the home page (#7)");
    let heroku = w.heroku();
    let pipeline = heroku.create_pipeline("shop");
    for (app, stage) in std::iter::once((STAGING, "staging"))
        .chain(production.iter().map(|app| (*app, "production")))
    {
        heroku.create_app(app);
        heroku.seed_release(app, &live, None);
        heroku.couple(&pipeline, app, stage);
    }
    (w, live, new)
}

/// One step of the job, as a CI step would run it: same directory, same state file; the
/// steps that wait on Heroku poll every 50ms.
fn job_step(w: &World, args: &[&str]) -> Shipline {
    let poll: &[&str] = match args[0] {
        "deploy" | "promote" | "verify" => &["--poll", "50ms"],
        _ => &[],
    };
    w.shipline(args).args(poll)
}

/// Runs one step of the job with the variables `extra` besides the world's.
fn step(w: &World, args: &[&str], extra: &[(&str, &str)]) -> Run {
    job_step(w, args).envs(extra.iter().copied()).run()
}

/// The messages in the deploys channel.
fn deploys_channel(w: &World) -> Vec<Message> {
    w.slack().messages(DEPLOYS)
}

/// How many requests Heroku received on exactly `method path`.
fn requests(w: &World, method: &str, path: &str) -> usize {
    w.heroku_requests(method, path)
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[test]
fn staging_then_production_is_announced_once_for_each() {
    let (w, live, new) = world("pipeline-ok", &[PRODUCTION]);
    let staging_before = w.current_version(STAGING);
    let production_before = w.current_version(PRODUCTION);

    let run = step(&w, &["deploy", "--app", STAGING], &[]);
    run.code(0);
    let run = step(&w, &["verify"], &[]);
    run.code(0)
        .stdout_has(&format!("Verifying v{} of {STAGING}", staging_before + 1));
    let run = step(&w, &["notify"], &[]);
    run.code(0);

    let run = step(&w, &PROMOTE, &[]);
    run.code(0).stdout_has("Pipeline promotion");
    let run = step(&w, &["verify"], &[]);
    run.code(0);
    assert!(
        run.stdout.contains(&format!(
            "Verifying v{} of {PRODUCTION}",
            production_before + 1
        )),
        "verify follows the promotion: {run:?}"
    );
    let run = step(&w, &["notify"], &[]);
    run.code(0)
        .stdout_has("Posted to Slack through the incoming webhook: succeeded at verify (shop)");

    let messages = deploys_channel(&w);
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
        requests(&w, "POST", &format!("/apps/{PRODUCTION}/builds")),
        0,
        "production gets staging's slug, not a second build"
    );

    let state = w.state();
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
    assert_eq!(state["apps"][PRODUCTION]["change"]["commit"], new.as_str());
    assert_eq!(
        state["apps"][PRODUCTION]["change"]["previous_release"]["commit"],
        live.as_str()
    );
    assert_eq!(state["apps"][PRODUCTION]["verify"]["passed"], true);
    assert_eq!(
        state["apps"][PRODUCTION]["notes"]["commits"][0]["sha"],
        new.as_str()
    );
}

#[test]
fn a_production_crash_is_reported_as_production_with_its_releases_and_the_mention() {
    let (w, _, _) = world("pipeline-crash", &[PRODUCTION]);
    let before = w.current_version(PRODUCTION);
    for args in [
        vec!["deploy", "--app", STAGING],
        vec!["verify"],
        vec!["notify"],
    ] {
        let run = step(&w, &args, &[]);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    w.heroku().script_next_dyno_boot(
        PRODUCTION,
        DynoBoot::crash_after(Duration::from_millis(100)),
    );
    let run = step(&w, &PROMOTE, &[]);
    run.code(0);
    let run = step(&w, &["verify", "--rollback-on-failure"], &[]);
    run.code(1).stderr_has("crashed");
    assert_eq!(
        w.current_version(PRODUCTION),
        before + 2,
        "the rollback release is live"
    );
    let run = step(&w, &["notify", "--mention-on-failure", "@here"], &[]);
    run.code(0);

    let messages = deploys_channel(&w);
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
    std::fs::remove_file(w.state_path()).unwrap();
    let run = step(&w, &PROMOTE, &[]);
    run.code(0).stdout_has("Rollback to");
}

#[test]
fn a_skipped_staging_deploy_skips_the_promotion_and_says_why() {
    let (w, live, _) = world("pipeline-skip", &[PRODUCTION]);
    let run = step(&w, &["deploy", "--app", STAGING, "--ref", &live], &[]);
    run.code(0).stdout_has("already live");
    let run = step(
        &w,
        &[
            "promote", "--from", STAGING, "--app", PRODUCTION, "--ref", &live,
        ],
        &[],
    );
    run.code(0);
    run.stdout_has(&format!(
        "Skipped: the deploy of {STAGING} skipped this run ({} is already live as v",
        &live[..7]
    ))
    .stdout_has("), so there is nothing new to promote");
    assert_eq!(requests(&w, "POST", "/pipeline-promotions"), 0);

    // Another app's deploy does not depend on staging's, so it is not skipped.
    let run = step(&w, &["deploy", "--app", PRODUCTION], &[]);
    run.code(0).stdout_has("Released v");
    assert_eq!(step_record(&w.state(), "deploy")["outcome"], "done");
}

#[test]
fn a_promotion_to_several_apps_fails_naming_the_app_and_the_state_of_the_others() {
    let (w, _, _) = world("pipeline-multi", &[PRODUCTION, EU]);
    let eu_before = w.current_version(EU);
    let run = step(&w, &["deploy", "--app", STAGING], &[]);
    run.code(0);
    w.heroku().set_release_phase(
        EU,
        Some(Script::fail([
            "Running release command...",
            "migration failed: lock timeout",
        ])),
    );
    let run = step(
        &w,
        &[
            "promote", "--from", STAGING, "--app", PRODUCTION, "--app", EU,
        ],
        &[],
    );
    run.code(1);
    let production_now = w.current_version(PRODUCTION);
    let expected = format!(
        "promotion failed on {EU}: release v{} (release",
        eu_before + 1
    );
    run.stderr_has(&expected);
    run.stderr_has(&format!(
        "meanwhile {PRODUCTION} is live on v{production_now}"
    ));
    assert_eq!(
        requests(&w, "POST", "/pipeline-promotions"),
        1,
        "one promotion"
    );
    assert_eq!(
        w.current_version(EU),
        eu_before,
        "the EU app keeps what was live"
    );

    // verify and notify take the promotion's apps, one message each.
    let run = step(&w, &["verify"], &[]);
    run.stdout_has(&format!("of {PRODUCTION}"))
        .stdout_has(&format!("of {EU}"));
    let run = step(&w, &["notify"], &[]);
    run.code(0);
    let headlines: Vec<String> = deploys_channel(&w).iter().map(|m| m.text.clone()).collect();
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
    let (w, _, _) = world("pipeline-outputs", &[PRODUCTION]);
    let gha = [
        ("GITHUB_RUN_ID", "77"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "deploy"),
    ];
    let run = job_step(&w, &["notes", "--app", PRODUCTION, "--format", "markdown"])
        .github_actions()
        .envs(gha)
        .run();
    run.code(0);
    let key = w.heroku().api_key();
    assert!(
        !run.stdout.contains("::") && !run.stdout.contains(key),
        "standard output is the notes alone: {run:?}"
    );
    assert!(
        run.stderr.contains("::add-mask::"),
        "the mask still reaches the runner: {run:?}"
    );
    let outputs = run.outputs_text();
    assert!(
        outputs.contains("Say \"hello\" on the home page (#7)"),
        "{outputs}"
    );
    assert!(outputs.contains("outcome=done"), "{outputs}");
    assert!(
        !outputs.contains(key) && !outputs.lines().any(|l| l.starts_with("::")),
        "{outputs}"
    );

    let mut outputs = String::new();
    for args in [
        vec!["deploy", "--app", STAGING],
        PROMOTE.to_vec(),
        vec!["verify"],
    ] {
        let run = job_step(&w, &args).github_actions().envs(gha).run();
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        outputs.push_str(run.outputs_text());
    }
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
    let (w, _, _) = world("pipeline-bot", &[PRODUCTION]);
    let bot_env = w.slack_bot_env();
    let mut bot = vec![
        ("SLACK_WEBHOOK_URL", ""),
        ("SHIPLINE_CHANNEL", DEPLOYS),
        ("SHIPLINE_MENTION_ON_FAILURE", "<!subteam^S0ONCALL>"),
    ];
    bot.extend(bot_env.iter().map(|(k, v)| (*k, v.as_str())));
    for args in [
        vec!["deploy", "--app", STAGING],
        vec!["notify"],
        vec!["verify"],
        vec!["notify"],
        PROMOTE.to_vec(),
        vec!["notify"],
    ] {
        let run = step(&w, &args, &bot);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    let messages = deploys_channel(&w);
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
    let state = w.state();
    assert_ne!(
        state["slack"]["messages"][STAGING]["ts"],
        state["slack"]["messages"][PRODUCTION]["ts"]
    );

    // A later step of the job fails (the action passes `job.status`): production's message
    // turns red and only its thread gets the on-call reply.
    let run = step(&w, &["notify", "--status", "failed"], &bot);
    run.code(0);
    let messages = deploys_channel(&w);
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
