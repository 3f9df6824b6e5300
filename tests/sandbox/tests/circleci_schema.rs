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

use std::path::PathBuf;
use std::time::Duration;

use common::{is_date_time, is_uuid, Raw};
use serde_json::{json, Value};
use shipline_sandbox::circleci::{BuildSpec, CircleCi, Config};

// ------------------------------------------------------------------------------------------
// A validator for the subset of OpenAPI 3.0 schemas CircleCI's description uses.
// ------------------------------------------------------------------------------------------

struct Validator<'a> {
    root: &'a Value,
    /// `(property, path fragment)` pairs allowed to be null despite the description.
    null_allowed: &'a [&'a str],
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut current = schema;
        for _ in 0..32 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return current;
            };
            current = self
                .root
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        panic!("$ref loop");
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            let nullable = schema.get("x-nullable") == Some(&json!(true))
                || schema.get("nullable") == Some(&json!(true));
            let field = at.rsplit('.').next().unwrap_or_default();
            if !nullable && !self.null_allowed.contains(&field) {
                errors.push(format!("{at}: null, but not nullable"));
            }
            return;
        }
        for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let passing = options
                    .iter()
                    .filter(|option| {
                        let mut sub = Vec::new();
                        self.validate(option, value, at, &mut sub);
                        sub.is_empty()
                    })
                    .count();
                if passing == 0 || (exactly_one && passing > 1) {
                    errors.push(format!("{at}: matches {passing} of the {keyword} options"));
                }
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, errors);
            }
        }
        if let Some(kind) = schema.get("type").and_then(Value::as_str) {
            let ok = match kind {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: expected {kind}, got {value}"));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                errors.push(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        if let (Some(format), Some(text)) =
            (schema.get("format").and_then(Value::as_str), value.as_str())
        {
            let ok = match format {
                "uuid" => is_uuid(text),
                "date-time" => is_date_time(text),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: {text:?} is not a {format}"));
            }
        }
        if let Some(object) = value.as_object() {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: missing required property {name:?}"));
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if let Some(v) = object.get(name) {
                        self.validate(property, v, &format!("{at}.{name}"), errors);
                    }
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
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

fn spec_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SHIPLINE_CIRCLECI_SCHEMA") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/circleci/openapi.json")
}

fn load_spec() -> Option<Value> {
    let path = spec_path();
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the description is JSON")),
        // CI must check it: a skip there would be a test that cannot fail.
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CircleCI conformance cannot be checked under CI=true: cannot read {} ({e}); set SHIPLINE_CIRCLECI_SCHEMA to its path",
            path.display()
        ),
        Err(e) => {
            eprintln!(
                "SKIPPED: CircleCI conformance not checked: cannot read {} ({e}); set SHIPLINE_CIRCLECI_SCHEMA to its path",
                path.display()
            );
            None
        }
    }
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
        let validator = Validator {
            root: self.spec,
            null_allowed: &["started_at"],
        };
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
        Validator {
            root: &root,
            null_allowed: &[],
        }
        .validate(&schema, &value, "job", &mut errors);
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
