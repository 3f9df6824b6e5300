//! No panic and no hang on any input: property tests of every parser of text shipline does not
//! control — flags and variables, the state file, API answers, commit messages and the Slack
//! message built from them, and the log lines that quote them.

use std::ffi::OsString;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;
use shipline::cli;
use shipline::notes::{Entry, Notes, NotesSource, RangeKind, Recorded};
use shipline::slack::message::{
    self, CiContext, DeployRecord, Facts, Mention, NotifyStatus, ReleaseRef,
};

/// Text as it arrives from elsewhere: anything, with a bias to the characters that matter
/// (quotes, backslashes, newlines, Slack and workflow-command syntax, multi-byte characters).
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<String>(),
        Just("<!channel>".to_string()),
        Just("<!here>".to_string()),
        Just("<@U0123>".to_string()),
        Just("<!subteam^S1>".to_string()),
        Just("::add-mask::x".to_string()),
        Just("##[set-output name=a;]b".to_string()),
        Just("\"\\\n\r\t&<>*_~`|".to_string()),
        Just("ünïcødé 🚀 日本".to_string()),
        "[a-z:#<>@!|\\n]{0,12}",
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|p| p.concat())
}

/// A JSON value of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        hostile().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![
                "version|steps|apps|lock|slack|run|step|outcome|change|kind|commit|release|version|status|id|app|name|reason".prop_map(String::from),
                hostile()
            ], inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn entry(subject: String, body: String, author: String) -> Entry {
    Entry {
        sha: "a".repeat(40),
        short: "aaaaaaa".into(),
        author,
        email: "dev@example.com".into(),
        subject,
        body,
        pr: None,
        url: None,
    }
}

/// The mentions a payload carries: what Slack would ping. A header is plain text, which Slack
/// shows as written and never reads as a mention, so it is left out.
fn pings(payload: &Value) -> Vec<String> {
    let mut payload = payload.clone();
    for block in payload["blocks"].as_array_mut().into_iter().flatten() {
        if block["type"] == "header" {
            block["text"]["text"] = Value::Null;
        }
    }
    let text = payload.to_string();
    let mut found = Vec::new();
    for marker in ["<!channel", "<!here", "<!everyone", "<@", "<!subteam"] {
        if text.contains(marker) {
            found.push(marker.to_string());
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_command_line_never_panics(
        args in prop::collection::vec(prop_oneof![
            "(deploy|verify|notify|promote|rollback|lock|notes|--app|--timeout|--poll|--check|--status|--on|--mention-on-failure|--release|--to|--from|--expect-status|--check-header|--state|--|-h)".prop_map(String::from),
            hostile(),
            "[0-9]{1,25}(ms|s|m|h)?".prop_map(String::from),
        ], 0..8),
        env in prop::collection::vec((
            "SHIPLINE_(APP|TIMEOUT|POLL|STATUS|ON|CHECK|EXPECT_STATUS|CHECK_HEADER|FORCE|DRY_RUN|MODE|RELEASE|STALE_AFTER)".prop_map(String::from),
            hostile(),
        ), 0..4),
    ) {
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Err(error) = cli::parse_with_env(args, &lookup) {
            prop_assert!(!error.0.is_empty());
        }
    }

    #[test]
    fn a_duration_is_bounded_or_refused(text in prop_oneof![hostile(), "[0-9.]{0,30}(ms|s|m|h){0,3}[0-9]{0,5}".prop_map(String::from)]) {
        if let Ok(d) = cli::parse_duration(&text) {
            // Each unit is capped, so the sum stays representable; the flag caps it at 24h.
            prop_assert!(d < Duration::from_secs(u64::MAX / 2));
        }
        let args = vec![OsString::from("verify"), "--app".into(), "shop".into(), "--timeout".into(), text.clone().into()];
        if let Ok(cli::Command::Verify(v)) = cli::parse_with_env(args, &|_| None) {
            prop_assert!(v.timeout <= cli::MAX_DURATION);
        }
    }

    #[test]
    fn a_state_file_of_any_content_is_read_or_refused_never_reset(bytes in prop_oneof![
        any_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
        any_json().prop_map(|v| { let mut t = v.to_string().into_bytes(); t.truncate(t.len() / 2); t }),
    ]) {
        let dir = std::env::temp_dir().join(format!("shipline-prop-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        std::fs::write(&path, &bytes).unwrap();
        match shipline::state::State::load(&path, None) {
            Ok(state) => {
                state.save().unwrap();
                let again = shipline::state::State::load(&path, None);
                prop_assert!(again.is_ok(), "what shipline wrote it reads back");
            }
            Err(error) => {
                let text = format!("{error:#}");
                prop_assert!(text.contains("state.json"), "{}", text);
                prop_assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
            }
        }
    }

    #[test]
    fn api_answers_of_any_shape_are_typed_or_refused(value in any_json()) {
        let text = value.to_string();
        let _ = serde_json::from_str::<Vec<shipline::heroku::Release>>(&text);
        let _ = serde_json::from_str::<shipline::heroku::Release>(&text);
        let _ = serde_json::from_str::<shipline::heroku::Build>(&text);
        let _ = serde_json::from_str::<Vec<shipline::heroku::Dyno>>(&text);
        let _ = serde_json::from_str::<Vec<shipline::heroku::PromotionTarget>>(&text);
        let _ = serde_json::from_str::<shipline::github::Comparison>(&text);
        let _ = serde_json::from_str::<Recorded>(&text);
    }

    #[test]
    fn a_link_header_of_any_text_yields_a_page_or_none(link in hostile()) {
        if let Some(next) = shipline::github::next_link(&link) {
            prop_assert!(!next.is_empty());
        }
    }

    #[test]
    fn any_commit_text_makes_a_valid_slack_message_that_pings_no_one_unless_asked(
        subjects in prop::collection::vec((hostile(), hostile(), hostile()), 0..40),
        reason in hostile(),
        app in hostile(),
        failed in any::<bool>(),
        mention in any::<bool>(),
    ) {
        let notes = Recorded::Notes(Notes {
            version: 1,
            from: "b".repeat(40),
            to: "a".repeat(40),
            range: RangeKind::Forward,
            source: NotesSource::Git,
            first_parent: false,
            commits: subjects.iter().map(|(s, b, a)| entry(s.clone(), b.clone(), a.clone())).collect(),
            removed: Vec::new(),
            compare_url: Some("https://github.com/acme/shop/compare/b...a".into()),
        });
        let deploy = DeployRecord {
            app: Some(app.clone()),
            commit: Some("a".repeat(40)),
            release: Some(ReleaseRef { version: Some(42) }),
            previous_release: Some(ReleaseRef { version: Some(41) }),
            dry_run: false,
            web_url: None,
            rolled_back: None,
            adopted: None,
        };
        let ci = CiContext::from_env(|_| None);
        let on_call = Mention::parse("<!subteam^S0ONCALL>").unwrap();
        let steps = vec![("deploy".to_string(), "failed".to_string())];
        let facts = Facts {
            status: if failed { NotifyStatus::Failed } else { NotifyStatus::Succeeded },
            step: Some("deploy"),
            reason: Some(&reason),
            steps: &steps,
            deploy: Some(&deploy),
            notes: Some(&notes),
            ci: &ci,
            app: Some(&app),
            environment: Some("production"),
            title: None,
            duration: None,
            mention: mention.then_some(&on_call),
        };
        let payload = message::build(&facts);
        prop_assert!(message::check_limits(&payload).is_ok(), "{:?}", message::check_limits(&payload));
        let round_trip: Value = serde_json::from_str(&payload.to_string()).unwrap();
        prop_assert_eq!(&round_trip, &payload);
        let pinged = pings(&payload);
        if mention && failed {
            prop_assert_eq!(pinged, vec!["<!subteam".to_string()]);
        } else {
            prop_assert!(pinged.is_empty(), "pings {:?}", pinged);
        }
    }

    #[test]
    fn every_line_shipline_prints_is_harmless_to_the_runner_and_reads_as_written(text in hostile()) {
        let safe = shipline::ci::neutralise(&text);
        for line in safe.split(['\n', '\r']) {
            prop_assert!(!line.trim_start().starts_with("::"), "{:?}", line);
            prop_assert!(!line.contains("##["), "{:?}", line);
        }
        prop_assert_eq!(safe.replace('\u{200B}', ""), text);
    }

    #[test]
    fn shortening_never_cuts_inside_a_character(text in hostile(), n in 0usize..20) {
        let short = shipline::text::prefix(&text, n);
        prop_assert!(text.starts_with(short));
        prop_assert!(short.chars().count() <= n);
    }
}
