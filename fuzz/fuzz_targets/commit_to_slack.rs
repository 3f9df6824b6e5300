//! A commit object of any bytes parses to a release-notes entry, and whatever its text, the
//! Slack message built from it is valid JSON within Slack's limits that pings no one unless
//! asked, and every log line quoting it is harmless to the GitHub runner.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shipline::notes::{self, Notes, NotesSource, RangeKind, Recorded};
use shipline::slack::message::{self, CiContext, DeployRecord, Facts, NotifyStatus, ReleaseRef};

fuzz_target!(|data: &[u8]| {
    let entry = notes::entry_from_raw(&"a".repeat(40), data, None);
    let text = String::from_utf8_lossy(data);
    let notes = Recorded::Notes(Notes {
        version: 1,
        from: "b".repeat(40),
        to: "a".repeat(40),
        range: RangeKind::Forward,
        source: NotesSource::Git,
        first_parent: false,
        commits: vec![entry; 3],
        removed: Vec::new(),
        compare_url: None,
    });
    let deploy = DeployRecord {
        app: Some(text.to_string()),
        commit: Some(text.to_string()),
        release: Some(ReleaseRef { version: Some(2) }),
        previous_release: Some(ReleaseRef { version: Some(1) }),
        dry_run: false,
        web_url: Some(text.to_string()),
        rolled_back: None,
        adopted: Some(text.to_string()),
    };
    let ci = CiContext::from_env(|_| None);
    let steps = vec![(text.to_string(), text.to_string())];
    let facts = Facts {
        status: NotifyStatus::Failed,
        step: Some(&text),
        reason: Some(&text),
        steps: &steps,
        deploy: Some(&deploy),
        notes: Some(&notes),
        ci: &ci,
        app: Some(&text),
        environment: Some(&text),
        title: None,
        duration: None,
        mention: None,
    };
    let mut payload = message::build(&facts);
    assert!(message::check_limits(&payload).is_ok());
    for block in payload["blocks"].as_array_mut().into_iter().flatten() {
        if block["type"] == "header" {
            block["text"]["text"] = Value::Null;
        }
    }
    let json = payload.to_string();
    for mention in ["<!channel", "<!here", "<!everyone", "<@", "<!subteam"] {
        assert!(!json.contains(mention), "pings: {json}");
    }
    let safe = shipline::ci::neutralise(&text);
    for line in safe.split(['\n', '\r']) {
        assert!(!line.trim_start().starts_with("::") && !line.contains("##["));
    }
    let _ = shipline::text::prefix(&text, 7);
});
