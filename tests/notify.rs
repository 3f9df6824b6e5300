//! `shipline notify` through the real binary against the sandbox Slack: what Slack received
//! and kept, what the log says, the exit code, and what the state file records.

mod common;

use common::{block_text, step_record, Repo, Run, Shipline, World};
use serde_json::{json, Value};
use shipline_sandbox::slack::{Message, Via, DEPLOYS};

const ONCALL: &str = "<!subteam^S0ONCALL>";
/// The flags of a production deploy job whose failures page the on-call group.
const PAGE_ONCALL_IN_PRODUCTION: [&str; 4] = [
    "--mention-on-failure",
    ONCALL,
    "--environment",
    "production",
];
/// The run key of the CircleCI job the tests pretend to be.
const RUN: &str = "circleci:wf-1:981";
/// The app the fixtures deploy.
const APP: &str = "shop-prod";
/// The variables CircleCI gives that job.
const CIRCLECI_JOB: [(&str, &str); 5] = [
    ("CIRCLECI", "true"),
    ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/shop/981"),
    ("CIRCLE_BUILD_NUM", "981"),
    ("CIRCLE_WORKFLOW_ID", "wf-1"),
    ("CIRCLE_USERNAME", "jane"),
];

/// A job with a Slack and no repository; each test gives notify the credentials it chooses.
fn world(name: &str) -> World {
    World::without_git(name).with_slack()
}

/// Adds to the state file what earlier steps of the job would have written, keeping what
/// is there (the `slack` record above all): `steps` by name (each acted on the app
/// [`APP`], the lock on none), and the `deploy` and `notes` of [`APP`].
fn add_to_state(w: &World, add: Value) {
    let mut state = std::fs::read_to_string(w.state_path())
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|_| json!({"version": 2, "steps": []}));
    // The CI job the state belongs to (`shipline` sets aside a state file of another job).
    state["run"] = RUN.into();
    for (key, value) in add.as_object().unwrap() {
        match key.as_str() {
            "steps" => {
                let steps = state["steps"].as_array_mut().unwrap();
                for (step, record) in value.as_object().unwrap() {
                    let mut record = record.clone();
                    record["step"] = step.as_str().into();
                    if step != "lock" {
                        record["apps"] = json!([APP]);
                    }
                    steps.push(record);
                }
                steps.sort_by(|a, b| a["started_at"].as_str().cmp(&b["started_at"].as_str()));
            }
            "deploy" => {
                let mut change = value.clone();
                change["kind"] = "deploy".into();
                state["apps"][APP]["change"] = change;
            }
            "notes" => state["apps"][APP]["notes"] = value.clone(),
            _ => state[key] = value.clone(),
        }
    }
    w.write_state(&state);
}

/// `shipline notify ARGS` as a step of the CircleCI job, without Slack credentials: add
/// them, or run it as it is to see what a job without them gets.
fn notify(w: &World, args: &[&str]) -> Shipline {
    w.shipline(["notify"]).args(args).envs(CIRCLECI_JOB)
}

/// Runs notify posting through the incoming webhook.
fn webhook(w: &World, args: &[&str]) -> Run {
    notify(w, args)
        .env("SLACK_WEBHOOK_URL", w.slack().webhook_url())
        .run()
}

/// Runs notify posting through the Web API to the deploys channel.
fn bot(w: &World, args: &[&str]) -> Run {
    let mut all = vec!["--channel", DEPLOYS];
    all.extend_from_slice(args);
    bot_without_channel(w, &all)
}

/// Runs notify with the bot's credentials and no channel but what `args` give.
fn bot_without_channel(w: &World, args: &[&str]) -> Run {
    notify(w, args).envs(w.slack_bot_env()).run()
}

/// The messages in the deploys channel.
fn deploys_channel(w: &World) -> Vec<Message> {
    w.slack().messages(DEPLOYS)
}

/// The one message in the deploys channel; fails, listing them, when there are others.
#[track_caller]
fn only_message(w: &World) -> Message {
    let messages = deploys_channel(w);
    assert_eq!(
        messages.len(),
        1,
        "one message in the channel: {messages:#?}"
    );
    messages.into_iter().next().unwrap()
}

/// How many requests Slack received on `path`.
fn calls(w: &World, path: &str) -> usize {
    w.slack()
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

fn step(outcome: &str, second: u32, reason: Option<&str>) -> Value {
    let mut record = json!({
        "outcome": outcome,
        "started_at": format!("2026-11-27T02:30:{second:02}Z"),
        "duration_ms": 20_000,
    });
    if let Some(reason) = reason {
        record["reason"] = reason.into();
    }
    record
}

fn sha(i: usize) -> String {
    format!("{:07x}{}", 0xa000000 + i, "0".repeat(33))
}

fn entry(i: usize, subject: &str, body: &str) -> Value {
    json!({
        "sha": sha(i),
        "short": &sha(i)[..7],
        "author": format!("Dev {}", i % 4),
        "email": "dev@example.com",
        "subject": subject,
        "body": body,
        "url": format!("https://github.com/acme/shop/commit/{}", sha(i)),
    })
}

fn notes(commits: Vec<Value>) -> Value {
    json!({
        "version": 1,
        "from": sha(0),
        "to": sha(9999),
        "range": "forward",
        "source": "git",
        "first_parent": false,
        "commits": commits,
        "compare_url": "https://github.com/acme/shop/compare/aaa...bbb",
    })
}

/// The change `shipline deploy` records for its app after a release.
fn deploy_record() -> Value {
    json!({
        "commit": sha(9999),
        "ref": "HEAD",
        "previous_release": {"id": "r-41", "version": 41, "commit": sha(0)},
        "release": {"id": "r-42", "version": 42},
        "build_id": "b-1",
        "web_url": "https://shop-prod.herokuapp.com/",
        "timings_ms": {"total": 60_000},
    })
}

fn deployed(world: &World, commits: Vec<Value>) {
    add_to_state(
        world,
        json!({
            "steps": {"lock": step("done", 0, None), "deploy": step("done", 5, None)},
            "deploy": deploy_record(),
            "notes": notes(commits),
        }),
    );
}

#[test]
fn a_webhook_message_tells_app_status_release_commit_build_and_notes() {
    let w = world("notify-webhook");
    deployed(
        &w,
        vec![
            entry(1, "Add the checkout page (#12)", ""),
            entry(2, "Fix rounding in totals", ""),
        ],
    );
    let run = webhook(&w, &["--environment", "production"]);
    run.code(0)
        .stdout_has("Posted to Slack through the incoming webhook: succeeded at deploy");

    let message = only_message(&w);
    assert_eq!(message.via, Via::Webhook);
    assert_eq!(message.payload["unfurl_links"], false);
    assert_eq!(
        message.text,
        ":white_check_mark: Deployed shop-prod to production (v42)"
    );
    let text = block_text(&message);
    for part in [
        ":white_check_mark: Deployed shop-prod to production (v42)",
        "*Succeeded* after `deploy`\n`lock` done → `deploy` done",
        "*Release*\nv41 → v42",
        "*Commit*\n<https://github.com/acme/shop/commit/",
        "*Duration*\n40.0s",
        "*Release notes* · 2 commits by 2 authors · <https://github.com/acme/shop/compare/aaa...bbb|compare>",
        "|Add the checkout page (#12)> — Dev 1",
        "|Fix rounding in totals> — Dev 2",
        "<https://circleci.com/gh/acme/shop/981|CircleCI job 981> · merged by *jane*",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    let state = w.state();
    assert_eq!(step_record(&state, "notify")["outcome"], "done");
    assert_eq!(state["slack"]["transport"], "webhook");
    assert_eq!(state["slack"]["messages"][APP]["delivered"], true);
    // The URL is the secret: neither it nor its path is ever printed or stored.
    let path = w.slack().webhook_path();
    run.log_lacks(&path);
    assert!(!std::fs::read_to_string(w.state_path())
        .unwrap()
        .contains(&path));
}

#[test]
fn a_bot_message_is_updated_across_steps_with_one_thread_reply_on_failure() {
    let w = world("notify-bot");
    add_to_state(&w, json!({"steps": {"lock": step("done", 0, None)}}));
    let run = bot(
        &w,
        &[&PAGE_ONCALL_IN_PRODUCTION[..], &["--app", "shop-prod"]].concat(),
    );
    run.code(0);
    let started = only_message(&w);
    assert_eq!(started.via, Via::WebApi);
    assert_eq!(started.text, ":rocket: Deploying shop-prod to production");
    // No notes in the state file, and `--app` says where they start: notify computes them,
    // and says why it could not (no Heroku key in this job) instead of failing.
    let blocks = block_text(&started);
    assert!(
        blocks.contains("_Release notes unavailable_: HEROKU_API_KEY is not set"),
        "{blocks}"
    );
    let state = w.state();
    assert_eq!(state["slack"]["channel"], DEPLOYS);
    assert_eq!(state["slack"]["messages"][APP]["ts"], started.ts.as_str());

    deployed(&w, vec![entry(1, "Add search", "")]);
    let run = bot(&w, &PAGE_ONCALL_IN_PRODUCTION);
    run.code(0)
        .stdout_has(&format!("Updated the Slack message {}", started.ts));
    let updated = only_message(&w);
    assert_eq!(updated.ts, started.ts);
    assert_eq!(updated.edits.len(), 1);
    assert!(updated
        .text
        .starts_with(":white_check_mark: Deployed shop-prod"));
    assert!(updated.replies.is_empty(), "no reply on success");
    assert_eq!(calls(&w, "/api/chat.postMessage"), 1);

    add_to_state(
        &w,
        json!({"steps": {"verify": step("failed", 50, Some("GET /health answered 503 after 5 attempts"))}}),
    );
    for attempt in 0..2 {
        let run = bot(&w, &PAGE_ONCALL_IN_PRODUCTION);
        assert_eq!(run.code, 0, "attempt {attempt}: {run:?}");
        let failed = only_message(&w);
        assert_eq!(failed.ts, started.ts);
        assert_eq!(failed.edits.len(), 2 + attempt);
        assert!(
            failed
                .text
                .starts_with(":x: Deploy of shop-prod to production failed at verify"),
            "{}",
            failed.text
        );
        assert!(
            !failed.text.contains(ONCALL),
            "an edit notifies nobody; the reply carries the mention"
        );
        assert!(block_text(&failed)
            .contains("*Failed* at `verify`: GET /health answered 503 after 5 attempts"));
        assert_eq!(
            failed.replies.len(),
            1,
            "exactly one reply, also when notify runs again"
        );
        let reply = &failed.replies[0];
        assert_eq!(reply.thread_ts.as_deref(), Some(started.ts.as_str()));
        assert!(
            reply.text.starts_with(&format!(
                "{ONCALL} :x: Deploy of shop-prod to production failed at `verify`"
            )),
            "{}",
            reply.text
        );
    }
    assert_eq!(
        w.state()["slack"]["messages"][APP]["failure_reply_ts"],
        only_message(&w).replies[0].ts.as_str()
    );
}

#[test]
fn adversarial_commit_messages_arrive_intact_and_harmless() {
    let subjects = [
        r#"Fix "quoted" 'strings' and \backslashes\ in C:\paths"#,
        "Subject with\nan embedded newline",
        "Ping <!here> and <!channel> and <@U0BOSS> and <!subteam^S0ALL>",
        "100% done, %s %d %0A %25 {{ secrets.TOKEN }} ${HOME}",
        "Ship it 🚀🎉 — naïve café ✓",
        "Tom & Jerry <b>bold</b> a|b > c",
        "::error::not a workflow command",
    ];
    let body = format!("{}\n\"end\"\\", "long body line\n".repeat(700));
    assert!(body.len() > 10_000);
    let commits: Vec<Value> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| entry(i + 1, s, &body))
        .collect();
    for transport in ["webhook", "bot"] {
        let w = world("notify-adversarial");
        deployed(&w, commits.clone());
        let run = if transport == "webhook" {
            webhook(&w, &[])
        } else {
            bot(&w, &[])
        };
        assert_eq!(run.code, 0, "{transport}: {run:?}");
        let message = only_message(&w);
        let text = block_text(&message);
        let everything = serde_json::to_string(&message.payload).unwrap();
        for raw in [
            "<!here>",
            "<!channel>",
            "<@U0BOSS>",
            "<!subteam^S0ALL>",
            "<b>",
        ] {
            assert!(
                !everything.contains(raw),
                "{transport}: raw {raw} reached Slack:\n{text}"
            );
        }
        for part in [
            r#"|Fix "quoted" 'strings' and \backslashes\ in C:\paths>"#,
            "|Subject with an embedded newline>",
            "|Ping &lt;!here&gt; and &lt;!channel&gt; and &lt;@U0BOSS&gt; and &lt;!subteam^S0ALL&gt;>",
            "|100% done, %s %d %0A %25 {{ secrets.TOKEN }} ${HOME}>",
            "|Ship it 🚀🎉 — naïve café ✓>",
            "|Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; a¦b &gt; c>",
            "|::error::not a workflow command>",
            "*Release notes* · 7 commits by 4 authors",
        ] {
            assert!(text.contains(part), "{transport}: missing {part:?} in:\n{text}");
        }
    }
}

#[test]
fn three_hundred_commits_are_cut_within_slacks_limits_with_a_compare_link() {
    let w = world("notify-300");
    let commits: Vec<Value> = (1..=300)
        .map(|i| {
            entry(
                i,
                &format!("Change number {i}: tidy the & <module> a bit more than before"),
                "",
            )
        })
        .collect();
    deployed(&w, commits);
    let run = bot(&w, &[]);
    run.code(0).log_lacks("warning");
    let message = only_message(&w);
    let blocks = message.blocks.as_array().unwrap();
    assert!(blocks.len() <= 50);
    let text = block_text(&message);
    assert!(text.chars().count() < 13_000);
    let shown = text.matches("• `").count();
    let more = format!(
        "…and {} more commits: <https://github.com/acme/shop/compare/aaa...bbb|see them all in the compare view>",
        300 - shown
    );
    assert!(text.contains(&more), "missing {more:?} in:\n{text}");
    assert!(shown >= 20, "only {shown} commits shown");
    assert!(text.contains("*Release notes* · 300 commits by 4 authors"));
}

#[test]
fn a_slack_error_warns_with_a_hint_and_exits_0_unless_strict() {
    let w = world("notify-error");
    deployed(&w, vec![entry(1, "Add search", "")]);
    let run = bot_without_channel(&w, &["--channel", "C0NOPE"]);
    run.code(0).stdout_has("warning: the Slack message about shop-prod was not delivered: Slack POST /chat.postMessage answered `channel_not_found`: check --channel (SHIPLINE_CHANNEL)").log_lacks(w.slack().bot_token());
    let state = w.state();
    assert_eq!(step_record(&state, "notify")["outcome"], "done");
    assert_eq!(state["slack"]["messages"][APP]["delivered"], false);
    assert!(state["slack"]["messages"][APP]["error"]
        .as_str()
        .unwrap()
        .contains("channel_not_found"));

    let run = bot_without_channel(&w, &["--channel", "C0NOPE", "--strict"]);
    run.code(1).stderr_has("error: the Slack message about shop-prod was not delivered: Slack POST /chat.postMessage answered `channel_not_found`");
    assert_eq!(step_record(&w.state(), "notify")["outcome"], "failed");
}

#[test]
fn a_channel_the_bot_is_not_in_says_to_invite_it() {
    let w = world("notify-not-in-channel");
    w.slack().add_channel("C0GENERAL", "general", false);
    let run = bot_without_channel(&w, &["--channel", "#general", "--status", "started"]);
    run.code(0)
        .stdout_has("`not_in_channel`: invite the bot to the channel with `/invite @your-app`");
}

#[test]
fn a_deleted_webhook_is_explained_without_showing_its_url() {
    let w = world("notify-webhook-gone");
    w.slack().delete_webhook();
    let run = webhook(&w, &["--status", "succeeded"]);
    run.code(0);
    let masked = format!(
        "Slack POST {}/services/*** answered `no_service`",
        w.slack().url()
    );
    run.stdout_has(&masked)
        .stdout_has("update the CI secret SLACK_WEBHOOK_URL")
        .log_lacks(&w.slack().webhook_path());
    let run = webhook(&w, &["--status", "succeeded", "--strict"]);
    run.code(1).log_lacks(&w.slack().webhook_path());
}

#[test]
fn a_rate_limit_is_waited_out_and_posts_once() {
    let w = world("notify-429");
    w.slack().rate_limit_next("/api/chat.postMessage", 1, 1);
    let run = bot(&w, &["--status", "started"]);
    run.code(0);
    assert!(
        run.stdout
            .contains("POST /chat.postMessage answered 429; retrying"),
        "{run:?}"
    );
    assert_eq!(calls(&w, "/api/chat.postMessage"), 2);
    only_message(&w);
    assert_eq!(w.state()["slack"]["messages"][""]["delivered"], true);
}

#[test]
fn an_update_of_a_vanished_message_posts_a_new_one() {
    let w = world("notify-vanished");
    let run = bot(&w, &["--status", "started"]);
    run.code(0);
    w.slack()
        .fail_next("/api/chat.update", "message_not_found", 1);
    let run = bot(&w, &["--status", "succeeded"]);
    run.code(0).stdout_has("posting a new message instead");
    let messages = deploys_channel(&w);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        w.state()["slack"]["messages"][""]["ts"],
        messages[1].ts.as_str()
    );
}

#[test]
fn on_filters_quietly_with_exit_0() {
    let w = world("notify-on");
    deployed(&w, vec![]);
    let run = webhook(&w, &["--on", "failed"]);
    run.code(0);
    run.stdout_has(
        "Skipped: not posting to Slack: the status is succeeded and --on asks for failed only",
    );
    assert!(w.slack().requests().is_empty());
    assert_eq!(step_record(&w.state(), "notify")["outcome"], "skipped");
}

#[test]
fn a_webhook_does_not_post_the_same_status_twice_in_a_run() {
    let w = world("notify-webhook-twice");
    deployed(&w, vec![]);
    assert_eq!(webhook(&w, &[]).code, 0);
    let run = webhook(&w, &[]);
    run.code(0)
        .stdout_has("was already posted through the webhook in this run");
    only_message(&w);
}

#[test]
fn a_webhook_failure_mentions_in_the_message_itself() {
    let w = world("notify-webhook-fail");
    add_to_state(
        &w,
        json!({"steps": {
            "lock": step("done", 0, None),
            "deploy": step("failed", 3, Some("build b-1 failed after 1m02s; the live release stays v41")),
        }}),
    );
    let run = webhook(&w, &["--mention-on-failure", "@here", "--app", "shop-prod"]);
    run.code(0);
    let message = only_message(&w);
    assert!(
        message
            .text
            .starts_with("<!here> :x: Deploy of shop-prod failed at deploy: build b-1 failed"),
        "{}",
        message.text
    );
    assert!(block_text(&message).contains("<!here> *Failed* at `deploy`"));
}

#[test]
fn dry_run_prints_the_payload_and_sends_nothing() {
    let w = world("notify-dry");
    deployed(&w, vec![entry(1, "Add \"search\"", "")]);
    let run = bot(
        &w,
        &[
            "--dry-run",
            "--status",
            "failed",
            "--mention-on-failure",
            "U0123ABC",
        ],
    );
    run.code(0);
    assert!(
        run.stdout
            .contains("Dry run: would post it to C0DEPLOYS (chat.postMessage); nothing was sent"),
        "{run:?}"
    );
    run.stdout_has("\"unfurl_links\": false")
        .stdout_has(r#"|Add \"search\"> — Dev 1"#)
        .stdout_has("\"text\": \"<@U0123ABC> :x: Deploy of shop-prod failed");
    assert!(w.slack().requests().is_empty());
    assert!(w.state().get("slack").is_none());

    let run = notify(&w, &["--dry-run"]).run();
    assert_eq!(run.code, 0, "no credentials are needed to look: {run:?}");
    run.stdout_has("neither is set");
}

#[test]
fn missing_credentials_and_bad_mentions_are_usage_errors() {
    let w = world("notify-usage");
    let run = notify(&w, &[]).run();
    run.code(2);
    run.stderr_has("SLACK_WEBHOOK_URL")
        .stderr_has("SLACK_BOT_TOKEN");

    let run = bot_without_channel(&w, &[]);
    run.code(2)
        .stderr_has("--channel")
        .stderr_has("SHIPLINE_CHANNEL");

    let run = webhook(&w, &["--mention-on-failure", "@jane", "--on", "failed"]);
    run.code(2).stderr_has("`@jane` would not notify anyone");
    assert!(w.slack().requests().is_empty());
}

#[test]
fn the_status_flag_wins_and_a_job_status_word_is_understood() {
    let w = world("notify-status");
    let run = webhook(&w, &["--status", "failure", "--title", "Storefront"]);
    run.code(0);
    let message = only_message(&w);
    assert_eq!(message.text, ":x: Storefront");
    assert!(block_text(&message).contains("*Failed*"));
}

#[test]
fn github_actions_gets_outputs_and_masks_the_token() {
    let w = world("notify-github");
    let run = w
        .shipline(["notify", "--channel", DEPLOYS, "--status", "succeeded"])
        .github_actions()
        .envs([
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_ACTOR", "jane"),
        ])
        .envs(w.slack_bot_env())
        .run();
    run.code(0);
    assert!(
        run.stdout
            .starts_with(&format!("::add-mask::{}", w.slack().bot_token())),
        "{run:?}"
    );
    let message = only_message(&w);
    assert!(block_text(&message).contains(
        "<https://github.com/acme/shop/actions/runs/77|GitHub Actions run 77> · merged by *jane*"
    ));
    let outputs = run.outputs_text();
    assert!(outputs.contains("delivered=true\n"), "{outputs}");
    assert!(
        outputs.contains(&format!("slack-ts={}\n", message.ts)),
        "{outputs}"
    );
    assert!(
        outputs.contains(&format!("slack-channel={DEPLOYS}\n")),
        "{outputs}"
    );
    assert!(outputs.contains("outcome=done\n"), "{outputs}");
}

#[test]
fn without_recorded_notes_notify_computes_them_from_the_range() {
    let w = world("notify-computes");
    let repo = Repo::new("notify-computes-repo");
    repo.write("a.txt", "1\n");
    let first = repo.commit("Initial app");
    repo.write("a.txt", "2\n");
    repo.commit("Add the checkout page (#12)");
    repo.write("a.txt", "3\n");
    repo.commit("Fix rounding of totals & taxes");
    let dir = repo.path().to_str().unwrap().to_string();
    let run = webhook(
        &w,
        &["--status", "succeeded", "--from", &first, "--dir", &dir],
    );
    run.code(0);
    let blocks = block_text(&only_message(&w));
    assert!(blocks.contains("Add the checkout page"), "{blocks}");
    assert!(
        blocks.contains("Fix rounding of totals &amp; taxes"),
        "{blocks}"
    );
    assert!(!blocks.contains("Initial app"), "{blocks}");
}
