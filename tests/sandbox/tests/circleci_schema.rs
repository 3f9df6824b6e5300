//! Conformance of the fake CircleCI with CircleCI's own OpenAPI description of API v2.
//!
//! The description is not part of the repository: CI has it beside the clone at
//! `../shared/circleci/openapi.json` (or wherever `SHIPLINE_CIRCLECI_SCHEMA` points). When it
//! is absent the check says so and passes.
//!
//! Builds in every state the lock cares about (testing, blocked, on hold, queued, at the lock,
//! finished, not run, canceled, setting up, tag builds) are read through every endpoint the
//! lock uses, page by page, and each answer is validated against the operation's `200` schema:
//! required properties present, types, enums, `uuid` and `date-time` formats, `x-nullable`.
//! One documented gap is allowed: a job that has not started answers `started_at: null`,
//! though the description marks it required and not nullable.

mod common;

use std::time::Duration;

use common::schema::{load_description, Dialect, Validator};
use common::{is_date_time, is_uuid, Raw};
use serde_json::{json, Value};
use shipline_sandbox::circleci::{BuildSpec, CircleCi, Config};

/// How CircleCI's description reads: OpenAPI 3.0 with Swagger's `x-nullable` too.
fn validator<'a>(root: &'a Value, null_allowed: &'a [&'a str]) -> Validator<'a> {
    Validator {
        root,
        dialect: Dialect {
            nullable: &["nullable", "x-nullable"],
            null_allowed,
            complete: false,
            additional_properties: false,
            formats: &[("uuid", is_uuid), ("date-time", is_date_time)],
            dangling: &[],
        },
    }
}

/// The `GET` operation whose path template matches `path`; `{project-slug}` spans the three
/// segments of a slug, other parameters one segment.
fn operation<'s>(spec: &'s Value, path: &str) -> Option<(&'s str, &'s Value)> {
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    spec["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let mut want = Vec::new();
            for seg in template.split('/').skip(1) {
                if seg == "{project-slug}" {
                    want.extend([None, None, None]);
                } else if seg.starts_with('{') {
                    want.push(None);
                } else {
                    want.push(Some(seg));
                }
            }
            let matches = want.len() == parts.len()
                && want
                    .iter()
                    .zip(&parts)
                    .all(|(w, p)| w.is_none_or(|w| w == *p));
            let get = item.get("get")?;
            matches.then_some((template.as_str(), get))
        })
}

fn load_spec() -> Option<Value> {
    load_description(
        "CircleCI conformance",
        "SHIPLINE_CIRCLECI_SCHEMA",
        "../../../shared/circleci/openapi.json",
    )
}

struct Checker<'a> {
    spec: &'a Value,
    circle: &'a CircleCi,
    errors: Vec<String>,
    checked: Vec<String>,
    statuses: Vec<String>,
}

impl Checker<'_> {
    /// GETs `path` (and every following page) and validates each answer.
    fn get_all(&mut self, path: &str) -> Vec<Value> {
        let bare = path.split('?').next().unwrap_or(path);
        let (template, op) = operation(self.spec, bare)
            .unwrap_or_else(|| panic!("no operation in the description for GET {path}"));
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let validator = validator(self.spec, &["started_at"]);
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = match &token {
                None => format!("{}{path}", self.circle.api_url()),
                Some(t) => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    format!("{}{path}{sep}page-token={t}", self.circle.api_url())
                }
            };
            let resp = Raw::new("GET", &url)
                .header("Circle-Token", self.circle.token())
                .send();
            assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
            let body = resp.json();
            let mut errors = Vec::new();
            validator.validate(schema, &body, "response", &mut errors);
            self.errors
                .extend(errors.into_iter().map(|e| format!("GET {template}: {e}")));
            self.checked.push(template.to_string());
            match body.get("items").and_then(Value::as_array) {
                Some(page) => items.extend(page.iter().cloned()),
                None => return vec![body],
            }
            for item in items.iter() {
                if let Some(s) = item["status"].as_str() {
                    self.statuses.push(s.to_string());
                }
            }
            match body["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return items,
            }
        }
    }
}

#[test]
fn sandbox_answers_match_circlecis_openapi_description() {
    let Some(spec) = load_spec() else { return };
    let circle = CircleCi::start_with(Config {
        page_size: 2,
        ..Config::default()
    })
    .unwrap();
    let ms = Duration::from_millis;
    let done = circle.start_build(BuildSpec::branch("main", ms(0)));
    assert!(circle.wait_at_lock(&done, Duration::from_secs(5)));
    circle.finish(&done, true);
    circle.start_build(BuildSpec::branch("main", ms(0)).failing());
    circle.start_build(BuildSpec::branch("main", ms(0)).with_approval());
    let canceled = circle.start_build(BuildSpec::branch("main", Duration::from_secs(60)));
    circle.cancel(&canceled);
    circle.start_build(BuildSpec::branch("main", ms(0)).queued_for(Duration::from_secs(60)));
    circle.start_build(BuildSpec::branch("main", Duration::from_secs(60)));
    circle.start_build(BuildSpec::branch("main", ms(0)).with_setup(Duration::from_secs(60)));
    let at_lock = circle.start_build(BuildSpec::branch("main", ms(0)).job("deploy prod"));
    circle.start_build(BuildSpec::tag("v1.0.0", ms(0)));
    assert!(circle.wait_at_lock(&at_lock, Duration::from_secs(5)));
    std::thread::sleep(ms(50));

    let mut c = Checker {
        spec: &spec,
        circle: &circle,
        errors: Vec::new(),
        checked: Vec::new(),
        statuses: Vec::new(),
    };
    c.get_all("/me");
    let slug = circle.project();
    let mut pipelines = c.get_all(&format!("/project/{slug}/pipeline?branch=main"));
    pipelines.extend(c.get_all(&format!("/project/{slug}/pipeline")));
    assert!(pipelines.len() >= 9, "{pipelines:?}");
    for pipeline in &pipelines {
        let id = pipeline["id"].as_str().unwrap();
        for workflow in c.get_all(&format!("/pipeline/{id}/workflow")) {
            let wid = workflow["id"].as_str().unwrap();
            c.get_all(&format!("/workflow/{wid}"));
            c.get_all(&format!("/workflow/{wid}/job"));
        }
    }

    assert!(
        c.errors.is_empty(),
        "answers that do not match the description:\n{}",
        c.errors.join("\n")
    );
    let mut kinds = c.checked.clone();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    c.statuses.sort();
    c.statuses.dedup();
    for status in [
        "blocked", "canceled", "failed", "not_run", "on_hold", "queued", "running", "success",
    ] {
        assert!(
            c.statuses.iter().any(|s| s == status),
            "{status} never seen: {:?}",
            c.statuses
        );
    }
    eprintln!(
        "validated {} answers of {} operations; statuses seen: {}",
        c.checked.len(),
        kinds.len(),
        c.statuses.join(", ")
    );
}

#[test]
fn errors_have_circlecis_shape_and_explain_nothing_more() {
    let circle = CircleCi::start();
    let get = |path: &str, token: Option<&str>| {
        let url = format!("{}{path}", circle.api_url());
        let mut raw = Raw::new("GET", &url);
        if let Some(t) = token {
            raw = raw.header("Circle-Token", t);
        }
        raw.send()
    };
    let unauthenticated = get("/me", None);
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(
        unauthenticated.json(),
        json!({"message": "You must log in first."})
    );
    let project_token = circle.project_token();
    let refused = get("/project/gh/acme/shop/pipeline", Some(&project_token));
    assert_eq!(refused.status, 404);
    assert_eq!(refused.json()["message"], "Project not found");
    let escaped = get("/project/gh%2Facme%2Fshop/pipeline", Some(circle.token()));
    assert_eq!(escaped.status, 200, "{}", escaped.text());
    let long = get("/project/github/acme/shop/pipeline", Some(circle.token()));
    assert_eq!(long.status, 200);
    let missing = get(
        "/workflow/00000000-0000-4000-8000-000000000000",
        Some(circle.token()),
    );
    assert_eq!(missing.status, 404);
    assert!(missing.json()["message"].is_string());
    let bad_token = get(
        "/project/gh/acme/shop/pipeline?page-token=nonsense",
        Some(circle.token()),
    );
    assert_eq!(bad_token.status, 404);
}

#[test]
fn the_validator_catches_what_it_should() {
    let root = json!({"components": {"schemas": {"Job": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["running", "success"]},
            "stopped_at": {"type": "string", "format": "date-time", "x-nullable": true},
            "started_at": {"type": "string", "format": "date-time"},
            "number": {"type": "integer"}
        }
    }}}});
    let schema = json!({"$ref": "#/components/schemas/Job"});
    let check = |value: Value| {
        let mut errors = Vec::new();
        validator(&root, &[]).validate(&schema, &value, "job", &mut errors);
        errors
    };
    let good = json!({"id": "01234567-89ab-4def-8123-456789abcdef", "status": "running", "stopped_at": null, "number": 3});
    assert!(check(good).is_empty());
    assert_eq!(check(json!({"status": "running"})).len(), 1);
    let bad = json!({"id": "x", "status": "flying", "started_at": null, "number": "3"});
    assert_eq!(check(bad).len(), 4, "{:?}", check(json!({})));
    let spec = json!({"paths": {
        "/project/{project-slug}/pipeline": {"get": {"operationId": "listPipelinesForProject"}},
        "/workflow/{id}/job": {"get": {"operationId": "listWorkflowJobs"}},
        "/workflow/{id}": {"get": {"operationId": "getWorkflowById"}}
    }});
    assert_eq!(
        operation(&spec, "/project/gh/a/b/pipeline").map(|(t, _)| t),
        Some("/project/{project-slug}/pipeline")
    );
    assert_eq!(
        operation(&spec, "/workflow/w/job").map(|(t, _)| t),
        Some("/workflow/{id}/job")
    );
    assert_eq!(operation(&spec, "/workflow/w/x"), None);
}
