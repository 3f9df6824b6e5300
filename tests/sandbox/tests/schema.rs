//! Conformance of the fake Heroku with Heroku's own published JSON hyper-schema.
//!
//! The schema is not part of the repository: CI has it beside the clone at
//! `../shared/heroku/platform-api-schema.json` (or wherever `SHIPLINE_HEROKU_SCHEMA` points).
//! When it is absent the check says so and passes.
//!
//! Every JSON answer of a full deploy (preflight, upload, build, release phase, dynos,
//! rollback, pipeline promotion, ...) is validated against the `targetSchema` of the schema link matching its method and path.
//! Validation is stricter than JSON Schema on one point on purpose: every property the schema
//! lists for an object must be present (nullable ones may be null), because real Heroku
//! answers carry all of them and clients rely on that.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    app_source, is_date_time, is_uuid, sha256_checksum, Api, Raw, Resp, COMMIT, LIVE_COMMIT,
};
use serde_json::{json, Value};
use shipline_sandbox::{DynoBoot, Heroku, Script};

// ------------------------------------------------------------------------------------------
// A validator for the subset of JSON Schema the Heroku document uses.
// ------------------------------------------------------------------------------------------

struct Validator<'a> {
    root: &'a Value,
    /// Require every listed property (the "complete shape" rule for responses).
    complete: bool,
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

impl Validator<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> Result<Option<&'s Value>, String> {
        let mut current = schema;
        for _ in 0..32 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok(Some(current));
            };
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("external $ref {reference}"))?;
            match self.root.pointer(pointer) {
                Some(target) => current = target,
                // Known dangling refs in Heroku's schema (formation update only).
                None if reference.contains("/dyno_size/") => return Ok(None),
                None => return Err(format!("dangling $ref {reference}")),
            }
        }
        Err("$ref loop".into())
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = match self.resolve(schema) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                return;
            }
        };
        if let Some(types) = schema.get("type") {
            let names: Vec<&str> = match types {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !names.iter().any(|t| type_matches(t, value)) {
                errors.push(format!("{at}: expected type {names:?}, got {value}"));
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
                    errors.push(format!(
                        "{at}: {value} matches {passing} of the {keyword} options"
                    ));
                }
            }
        }
        if let Some(object) = value.as_object() {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(name) {
                        errors.push(format!("{at}: missing required property {name:?}"));
                    }
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    match object.get(name) {
                        Some(v) => self.validate(property, v, &format!("{at}.{name}"), errors),
                        None if self.complete => {
                            errors.push(format!("{at}: missing property {name:?}"))
                        }
                        None => {}
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

// ------------------------------------------------------------------------------------------
// Links: method + href pattern → request and response schemas.
// ------------------------------------------------------------------------------------------

enum Segment {
    Literal(String),
    /// A path variable (`{(<url-encoded JSON pointer to an identity schema>)}`).
    Variable,
}

struct Link {
    method: String,
    href: String,
    title: String,
    segments: Vec<Segment>,
    request: Option<Value>,
    response: Option<Value>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn links(schema: &Value) -> Vec<Link> {
    let mut out = Vec::new();
    for definition in schema["definitions"].as_object().unwrap().values() {
        for link in definition["links"].as_array().into_iter().flatten() {
            let href = link["href"].as_str().unwrap_or_default().to_string();
            let segments = href
                .split('/')
                .skip(1)
                .map(
                    |seg| match seg.strip_prefix("{(").and_then(|s| s.strip_suffix(")}")) {
                        Some(_) => Segment::Variable,
                        None => Segment::Literal(seg.to_string()),
                    },
                )
                .collect();
            out.push(Link {
                method: link["method"].as_str().unwrap_or_default().to_string(),
                title: link["title"].as_str().unwrap_or_default().to_string(),
                href,
                segments,
                request: link.get("schema").cloned(),
                response: link.get("targetSchema").cloned(),
            });
        }
    }
    out
}

/// The link for a request: same method, same segment count, literals equal, the most
/// literal segments winning; the two `POST .../releases` links are told apart by the body.
fn find_link<'l>(
    links: &'l [Link],
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<&'l Link> {
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let candidates: Vec<&Link> = links
        .iter()
        .filter(|l| l.method == method && l.segments.len() == parts.len())
        .filter(|l| {
            l.segments.iter().zip(&parts).all(|(s, p)| match s {
                Segment::Literal(lit) => lit == p,
                Segment::Variable => true,
            })
        })
        .collect();
    let literal_count = |l: &Link| {
        l.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    };
    let best = candidates.iter().map(|l| literal_count(l)).max()?;
    let best: Vec<&Link> = candidates
        .into_iter()
        .filter(|l| literal_count(l) == best)
        .collect();
    if best.len() == 1 {
        return Some(best[0]);
    }
    let rollback = body.is_some_and(|b| b.get("release").is_some());
    best.into_iter()
        .find(|l| (l.title == "Rollback") == rollback && !l.title.contains("Deprecated"))
}

// ------------------------------------------------------------------------------------------
// The conformance run.
// ------------------------------------------------------------------------------------------

fn schema_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SHIPLINE_HEROKU_SCHEMA") {
        return PathBuf::from(path);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.join("../../../shared/heroku/platform-api-schema.json")
}

fn load_schema() -> Option<Value> {
    let path = schema_path();
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("schema is JSON")),
        // CI must check it: a skip there would be a test that cannot fail.
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "Heroku schema conformance cannot be checked under CI=true: cannot read {} ({e}); set SHIPLINE_HEROKU_SCHEMA to its path",
            path.display()
        ),
        Err(e) => {
            eprintln!(
                "SKIPPED: Heroku schema conformance not checked: cannot read {} ({e}); set SHIPLINE_HEROKU_SCHEMA to its path",
                path.display()
            );
            None
        }
    }
}

struct Checker<'a> {
    api: Api,
    schema: &'a Value,
    links: Vec<Link>,
    errors: Vec<String>,
    checked: Vec<String>,
}

impl Checker<'_> {
    fn call(&mut self, method: &str, path: &str, body: Option<Value>, range: Option<&str>) -> Resp {
        let url = format!("{}{path}", self.api.base);
        let bytes = body.as_ref().map(|b| b.to_string().into_bytes());
        let mut raw = self.api.raw(method, &url);
        if let Some(range) = range {
            raw = raw.header("Range", range);
        }
        if let Some(bytes) = &bytes {
            raw = raw.header("Content-Type", "application/json").body(bytes);
        }
        let resp = raw.send();
        let label = format!("{method} {path}");
        let Some(link) = find_link(&self.links, method, path, body.as_ref()) else {
            self.errors
                .push(format!("{label}: no link in the schema matches"));
            return resp;
        };
        if !(200..300).contains(&resp.status) {
            let value = resp.json();
            if !(value["id"].is_string() && value["message"].is_string()) {
                self.errors.push(format!(
                    "{label}: error body is not {{id, message}}: {value}"
                ));
            }
            return resp;
        }
        // Bodies the sandbox accepted must be valid requests (rejected ones are deliberate).
        if let (Some(request_schema), Some(body)) = (&link.request, &body) {
            let validator = Validator {
                root: self.schema,
                complete: false,
            };
            let mut errors = Vec::new();
            validator.validate(request_schema, body, "request", &mut errors);
            self.errors.extend(
                errors
                    .into_iter()
                    .map(|e| format!("{label} ({}): {e}", link.title)),
            );
        }
        match &link.response {
            Some(target) => {
                let validator = Validator {
                    root: self.schema,
                    complete: true,
                };
                let mut errors = Vec::new();
                validator.validate(target, &resp.json(), "response", &mut errors);
                self.errors.extend(
                    errors
                        .into_iter()
                        .map(|e| format!("{label} ({} {}): {e}", link.title, link.href)),
                );
                self.checked
                    .push(format!("{method} {} ({})", link.href, link.title));
            }
            None => self
                .errors
                .push(format!("{label}: link {} has no targetSchema", link.title)),
        }
        resp
    }

    fn get(&mut self, path: &str) -> Value {
        let resp = self.call("GET", path, None, None);
        assert!(
            (200..300).contains(&resp.status),
            "GET {path}: {} {}",
            resp.status,
            resp.text()
        );
        resp.json()
    }
}

#[test]
fn sandbox_answers_match_herokus_published_schema() {
    let Some(schema) = load_schema() else { return };
    let heroku = Heroku::start();
    let app = heroku.create_app("shop-prod");
    heroku.seed_release("shop-prod", LIVE_COMMIT, None);
    heroku.set_release_phase("shop-prod", Some(Script::release_phase()));
    heroku.set_preboot("shop-prod", true);
    heroku.set_formation("shop-prod", "web", 2);
    heroku.set_dyno_boot(
        "shop-prod",
        DynoBoot::crash_one_after(Duration::from_millis(50)),
    );
    heroku.add_one_off_dyno("shop-prod", "run");
    let mut c = Checker {
        api: Api::new(&heroku),
        links: links(&schema),
        schema: &schema,
        errors: Vec::new(),
        checked: Vec::new(),
    };

    // Preflight.
    c.get("/account");
    c.get("/account/rate-limits");
    c.get("/apps/shop-prod");
    c.get(&format!("/apps/{}", app.id));
    c.get("/apps/shop-prod/formation");
    c.get("/apps/shop-prod/features");
    c.get("/apps/shop-prod/features/preboot");
    let latest = c.call(
        "GET",
        "/apps/shop-prod/releases",
        None,
        Some("version ..; max=1, order=desc"),
    );
    assert_eq!(latest.status, 206);
    c.get("/apps/shop-prod/releases");

    // Upload and build.
    let source = app_source();
    let created = c.call("POST", "/sources", None, None);
    assert_eq!(created.status, 201);
    c.call("POST", "/apps/shop-prod/sources", None, None);
    let blob = created.json();
    let put = Raw::new("PUT", blob["source_blob"]["put_url"].as_str().unwrap())
        .body(&source)
        .send();
    assert_eq!(put.status, 200);
    let build = c.call(
        "POST",
        "/apps/shop-prod/builds",
        Some(json!({
            "source_blob": {
                "url": blob["source_blob"]["get_url"],
                "version": COMMIT,
                "checksum": sha256_checksum(&source),
                "version_description": "Add checkout page",
            },
            "buildpacks": [{"url": "heroku/nodejs"}],
        })),
        None,
    );
    assert_eq!(build.status, 201, "{}", build.text());
    let build = build.json();
    let build_path = format!("/apps/shop-prod/builds/{}", build["id"].as_str().unwrap());
    assert_eq!(c.get(&build_path)["status"], "pending");
    Raw::new("GET", build["output_stream_url"].as_str().unwrap()).send();
    let done = c.get(&build_path);
    assert_eq!(done["status"], "succeeded");
    c.get("/apps/shop-prod/builds");

    // Release phase, then live.
    let release_path = format!(
        "/apps/shop-prod/releases/{}",
        done["release"]["id"].as_str().unwrap()
    );
    assert_eq!(c.get(&release_path)["status"], "pending");
    // Old dynos, the one-off and the release-phase dyno.
    c.get("/apps/shop-prod/dynos");
    let release = c.api.poll(&release_path, |r| r["status"] != "pending");
    assert_eq!(release["status"], "succeeded");
    let release = c.get(&release_path);
    c.get(&format!("/apps/shop-prod/releases/{}", release["version"]));
    c.get(&format!(
        "/apps/shop-prod/slugs/{}",
        done["slug"]["id"].as_str().unwrap()
    ));
    // New dynos starting beside the old ones (preboot), then settled (one crashed).
    c.get("/apps/shop-prod/dynos");
    c.api.poll("/apps/shop-prod/dynos", |d| {
        d.as_array()
            .unwrap()
            .iter()
            .any(|d| d["state"] == "crashed")
    });
    c.get("/apps/shop-prod/dynos");
    c.get("/apps/shop-prod/dynos/web.2");

    // Rollback, re-release, cancel.
    let v2 = c.get("/apps/shop-prod/releases/2");
    let rollback = c.call(
        "POST",
        "/apps/shop-prod/releases",
        Some(json!({"release": v2["id"]})),
        None,
    );
    assert_eq!(rollback.status, 201);
    let create = c.call(
        "POST",
        "/apps/shop-prod/releases",
        Some(json!({"slug": done["slug"]["id"], "description": "Retry of v3: Deploy 4f4f592c"})),
        None,
    );
    assert_eq!(create.status, 201);
    heroku.script_next_build(
        "shop-prod",
        Script::default_build().delay(Duration::from_secs(5)),
    );
    let second = c.call(
        "POST",
        "/apps/shop-prod/builds",
        Some(json!({"source_blob": {"url": blob["source_blob"]["get_url"], "version": COMMIT}})),
        None,
    );
    let cancel_path = format!(
        "/apps/shop-prod/builds/{}",
        second.json()["id"].as_str().unwrap()
    );
    c.call("DELETE", &cancel_path, None, None);

    // Promotion from staging, through a pipeline.
    let staging = heroku.create_app("shop-staging");
    heroku.seed_release("shop-staging", COMMIT, None);
    let pipeline = heroku.create_pipeline("shop");
    heroku.couple(&pipeline, "shop-staging", "staging");
    heroku.couple(&pipeline, "shop-prod", "production");
    // Long enough to see a target without its release yet.
    heroku.set_promotion_delay(Duration::from_millis(300));
    c.get("/apps/shop-prod/pipeline-couplings");
    c.get(&format!("/pipelines/{pipeline}"));
    c.get(&format!("/pipelines/{pipeline}/pipeline-couplings"));
    let promotion = c.call(
        "POST",
        "/pipeline-promotions",
        Some(json!({
            "pipeline": {"id": pipeline},
            "source": {"app": {"id": staging.id}},
            "targets": [{"app": {"id": app.id}}],
        })),
        None,
    );
    assert_eq!(promotion.status, 201, "{}", promotion.text());
    let promotion_path = format!(
        "/pipeline-promotions/{}",
        promotion.json()["id"].as_str().unwrap()
    );
    let targets_path = format!("{promotion_path}/promotion-targets");
    assert_eq!(c.get(&targets_path)[0]["release"], Value::Null);
    c.get(&promotion_path);
    c.api.poll(&targets_path, |t| t[0]["status"] != "pending");
    assert_eq!(c.get(&targets_path)[0]["status"], "succeeded");
    assert_eq!(c.get(&promotion_path)["status"], "completed");

    // Errors keep Heroku's shape.
    assert_eq!(c.call("GET", "/apps/no-such-app", None, None).status, 404);
    assert_eq!(
        c.call(
            "POST",
            "/apps/shop-prod/builds",
            Some(json!({"source_blob": {"url": 1}})),
            None
        )
        .status,
        422
    );
    assert_eq!(
        c.call(
            "GET",
            &format!("/apps/{}/pipeline-couplings", staging.name),
            None,
            None
        )
        .status,
        200
    );
    heroku.create_app("shop-solo");
    assert_eq!(
        c.call("GET", "/apps/shop-solo/pipeline-couplings", None, None)
            .status,
        404
    );

    assert!(
        c.errors.is_empty(),
        "schema violations:\n{}",
        c.errors.join("\n")
    );
    let mut kinds = c.checked.clone();
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "validated {} answers against {} schema links:\n  {}",
        c.checked.len(),
        kinds.len(),
        kinds.join("\n  ")
    );
    assert!(
        kinds.len() >= 25,
        "expected to cover the deploy endpoints, covered {kinds:?}"
    );
}

#[test]
fn the_validator_catches_missing_and_mistyped_fields() {
    let Some(schema) = load_schema() else { return };
    let heroku = Heroku::start();
    heroku.create_app("shop-prod");
    heroku.seed_release("shop-prod", LIVE_COMMIT, None);
    let release = heroku.releases("shop-prod").pop().unwrap();
    let target = json!({"$ref": "#/definitions/release"});
    let validator = Validator {
        root: &schema,
        complete: true,
    };

    let mut errors = Vec::new();
    validator.validate(&target, &release, "release", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");

    let mut missing = release.clone();
    missing.as_object_mut().unwrap().remove("current");
    let mut errors = Vec::new();
    validator.validate(&target, &missing, "release", &mut errors);
    assert_eq!(errors, ["release: missing property \"current\""]);

    let mut mistyped = release.clone();
    mistyped["version"] = json!("2");
    mistyped["status"] = json!("deploying");
    mistyped["slug"] = json!({"id": 7});
    let mut errors = Vec::new();
    validator.validate(&target, &mistyped, "release", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn links_are_matched_by_method_and_href_pattern() {
    let Some(schema) = load_schema() else { return };
    let links = links(&schema);
    let title = |method: &str, path: &str, body: Option<Value>| {
        find_link(&links, method, path, body.as_ref()).map(|l| l.title.clone())
    };
    assert_eq!(
        title("GET", "/apps/x/releases", None).as_deref(),
        Some("List")
    );
    assert_eq!(
        title("GET", "/apps/x/releases/3", None).as_deref(),
        Some("Info")
    );
    assert_eq!(
        title("POST", "/apps/x/releases", Some(json!({"release": "id"}))).as_deref(),
        Some("Rollback")
    );
    assert_eq!(
        title("POST", "/apps/x/releases", Some(json!({"slug": "id"}))).as_deref(),
        Some("Create")
    );
    assert_eq!(
        title("GET", "/account/rate-limits", None).as_deref(),
        Some("Info")
    );
    assert_eq!(title("GET", "/nothing/like/this", None), None);
    assert_eq!(
        percent_decode("%23%2Fdefinitions%2Fapp%2Fdefinitions%2Fidentity"),
        "#/definitions/app/definitions/identity"
    );
}

#[test]
fn validator_subset_works_without_the_schema_file() {
    let root = json!({
        "definitions": {
            "thing": {
                "type": ["object"],
                "required": ["id"],
                "properties": {
                    "id": {"type": ["string"], "format": "uuid"},
                    "size": {"type": ["integer", "null"]},
                    "state": {"enum": ["up", "down"]},
                    "tags": {"type": ["array"], "items": {"type": ["string"]}},
                    "ref": {"anyOf": [{"type": ["integer"]}, {"type": ["string"]}]},
                    "size_ref": {"$ref": "#/definitions/dyno_size/definitions/id"}
                }
            }
        }
    });
    let target = json!({"$ref": "#/definitions/thing"});
    let check = |value: Value, complete: bool| {
        let mut errors = Vec::new();
        Validator {
            root: &root,
            complete,
        }
        .validate(&target, &value, "v", &mut errors);
        errors
    };
    let good = json!({"id": "01234567-89ab-4def-8123-456789abcdef", "size": null, "state": "up", "tags": ["a"], "ref": 3, "size_ref": 1, "extra": true});
    assert!(check(good.clone(), true).is_empty());
    assert_eq!(
        check(json!({"size": 1}), false),
        ["v: missing required property \"id\""]
    );
    assert_eq!(
        check(json!({"id": "01234567-89ab-4def-8123-456789abcdef"}), true).len(),
        5
    );
    let mut bad = good;
    bad["id"] = json!("not-a-uuid");
    bad["tags"] = json!([1]);
    bad["ref"] = json!(true);
    bad["state"] = json!("sideways");
    assert_eq!(check(bad, false).len(), 4);
}
