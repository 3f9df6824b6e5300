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

use std::time::Duration;

use common::schema::{load_description, Dialect, Validator};
use common::{
    app_source, is_date_time, is_uuid, sha256_checksum, Api, Raw, Resp, COMMIT, LIVE_COMMIT,
};
use serde_json::{json, Value};
use shipline_sandbox::{DynoBoot, Heroku, Script};

/// How Heroku's schema reads: JSON hyper-schema, null a type like any other; `complete`
/// for answers (every listed property present, as real Heroku sends them all), not for
/// request bodies.
fn validator(root: &Value, complete: bool) -> Validator<'_> {
    Validator {
        root,
        dialect: Dialect {
            nullable: &[],
            null_allowed: &[],
            complete,
            additional_properties: false,
            formats: &[("uuid", is_uuid), ("date-time", is_date_time)],
            // Known dangling refs in Heroku's schema (formation update only).
            dangling: &["/dyno_size/"],
        },
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

fn load_schema() -> Option<Value> {
    load_description(
        "Heroku schema conformance",
        "SHIPLINE_HEROKU_SCHEMA",
        "../../../shared/heroku/platform-api-schema.json",
    )
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
            let validator = validator(self.schema, false);
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
                let validator = validator(self.schema, true);
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
    let validator = validator(&schema, true);

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
        validator(&root, complete).validate(&target, &value, "v", &mut errors);
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
