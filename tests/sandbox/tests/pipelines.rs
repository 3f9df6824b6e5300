//! Promotion: releases of another app's slug, pipelines, couplings and pipeline promotions;
//! and rollback as `shipline rollback` drives it.

mod common;

use std::time::Duration;

use common::{Api, COMMIT, LIVE_COMMIT};
use serde_json::{json, Value};
use shipline_sandbox::{AppRef, Heroku, Script};

struct World {
    heroku: Heroku,
    api: Api,
    staging: AppRef,
    prod: AppRef,
}

/// `shop-staging` runs COMMIT (v2), `shop-prod` runs LIVE_COMMIT (v2).
fn world() -> World {
    let heroku = Heroku::start();
    let staging = heroku.create_app("shop-staging");
    let prod = heroku.create_app("shop-prod");
    heroku.seed_release("shop-staging", COMMIT, None);
    heroku.seed_release("shop-prod", LIVE_COMMIT, None);
    let api = Api::new(&heroku);
    World {
        heroku,
        api,
        staging,
        prod,
    }
}

/// Couples both apps in pipeline `shop`; returns its id.
fn pipeline(w: &World) -> String {
    let id = w.heroku.create_pipeline("shop");
    w.heroku.couple(&id, "shop-staging", "staging");
    w.heroku.couple(&id, "shop-prod", "production");
    id
}

fn promote_body(pipeline: &str, source: &str, targets: &[&str]) -> Value {
    json!({
        "pipeline": {"id": pipeline},
        "source": {"app": {"id": source}},
        "targets": targets.iter().map(|t| json!({"app": {"id": t}})).collect::<Vec<_>>(),
    })
}

fn slow_release_phase() -> Option<Script> {
    Some(Script::release_phase().delay(Duration::from_millis(40)))
}

#[test]
fn a_slug_of_another_app_can_be_released() {
    let w = world();
    w.heroku
        .set_release_phase("shop-prod", slow_release_phase());
    let staging_v2 = w.api.get("/apps/shop-staging/releases/2").json();
    let slug_id = staging_v2["slug"]["id"].as_str().unwrap();

    let created = w.api.post(
        "/apps/shop-prod/releases",
        &json!({"slug": slug_id, "description": "Promote shop-staging v2"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["version"], 3);
    assert_eq!(created["description"], "Promote shop-staging v2");
    assert_eq!(created["slug"]["id"], slug_id);
    assert_eq!(created["app"]["name"], "shop-prod");
    assert_eq!(created["status"], "pending");
    let path = format!(
        "/apps/shop-prod/releases/{}",
        created["id"].as_str().unwrap()
    );
    let done = w.api.poll(&path, |r| r["status"] != "pending");
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["current"], true);

    let slug = w.api.get(&format!("/apps/shop-prod/slugs/{slug_id}"));
    assert_eq!(slug.status, 200, "{}", slug.text());
    assert_eq!(slug.json()["commit"], COMMIT);
    // Staging is untouched.
    assert_eq!(w.heroku.releases("shop-staging").len(), 2);

    let unknown = w.api.post(
        "/apps/shop-prod/releases",
        &json!({"slug": "01234567-89ab-4def-8123-456789abcdef"}),
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["id"], "not_found");
}

#[test]
fn rollback_reruns_the_release_phase_and_moves_current() {
    let w = world();
    w.heroku.seed_release("shop-prod", COMMIT, None);
    w.heroku
        .set_release_phase("shop-prod", slow_release_phase());
    let v2 = w.api.get("/apps/shop-prod/releases/2").json();
    assert_eq!(v2["eligible_for_rollback"], true);
    let rollback = w
        .api
        .post("/apps/shop-prod/releases", &json!({"release": v2["id"]}));
    assert_eq!(rollback.status, 201, "{}", rollback.text());
    let rollback = rollback.json();
    assert_eq!(rollback["version"], 4);
    assert_eq!(rollback["description"], "Rollback to v2");
    assert_eq!(rollback["slug"], v2["slug"]);
    assert_eq!(rollback["status"], "pending");
    assert_eq!(rollback["current"], false);
    assert!(rollback["output_stream_url"].is_string());

    let path = format!(
        "/apps/shop-prod/releases/{}",
        rollback["id"].as_str().unwrap()
    );
    w.api.poll(&path, |r| r["status"] != "pending");
    let releases = w.heroku.releases("shop-prod");
    let rows: Vec<(u64, &str, &str, bool, bool)> = releases
        .iter()
        .map(|r| {
            (
                r["version"].as_u64().unwrap(),
                r["description"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["current"].as_bool().unwrap(),
                r["eligible_for_rollback"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (1, "Initial release", "succeeded", false, false),
            (2, "Deploy d31fba52", "succeeded", false, true),
            (3, "Deploy 4f4f592c", "succeeded", false, true),
            (4, "Rollback to v2", "succeeded", true, true),
        ]
    );
}

#[test]
fn a_rollback_whose_release_phase_fails_leaves_current_alone() {
    let w = world();
    w.heroku.seed_release("shop-prod", COMMIT, None);
    w.heroku.set_release_phase(
        "shop-prod",
        Some(Script::failing_release_phase().delay(Duration::from_millis(20))),
    );
    let v2 = w.api.get("/apps/shop-prod/releases/2").json();
    let rollback = w
        .api
        .post("/apps/shop-prod/releases", &json!({"release": v2["id"]}))
        .json();
    let path = format!(
        "/apps/shop-prod/releases/{}",
        rollback["id"].as_str().unwrap()
    );
    let failed = w.api.poll(&path, |r| r["status"] != "pending");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["eligible_for_rollback"], false);
    assert_eq!(
        w.api.get("/apps/shop-prod/releases/3").json()["current"],
        true
    );
}

#[test]
fn couplings_and_pipelines_answer_like_heroku() {
    let w = world();
    let missing = w.api.get("/apps/shop-prod/pipeline-couplings");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["id"], "not_found");

    let id = w.heroku.create_pipeline("shop");
    let coupling_id = w.heroku.couple(&id, "shop-prod", "production");
    w.heroku.couple(&id, "shop-staging", "staging");
    let coupling = w.api.get("/apps/shop-prod/pipeline-couplings");
    assert_eq!(coupling.status, 200, "{}", coupling.text());
    let coupling = coupling.json();
    assert_eq!(coupling["id"], coupling_id.as_str());
    assert_eq!(coupling["app"], json!({"id": w.prod.id}));
    assert_eq!(coupling["pipeline"], json!({"id": id}));
    assert_eq!(coupling["stage"], "production");
    assert!(coupling["created_at"].is_string() && coupling["updated_at"].is_string());
    // By id as well as by name.
    let by_id = w
        .api
        .get(&format!("/apps/{}/pipeline-couplings", w.prod.id));
    assert_eq!(by_id.json(), coupling);

    let list = w
        .api
        .get(&format!("/pipelines/{id}/pipeline-couplings"))
        .json();
    let stages: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["app"]["id"].as_str().unwrap(),
                c["stage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            (w.prod.id.as_str(), "production"),
            (w.staging.id.as_str(), "staging")
        ]
    );

    let pipeline = w.api.get(&format!("/pipelines/{id}")).json();
    assert_eq!(pipeline["id"], id.as_str());
    assert_eq!(pipeline["name"], "shop");
    assert_eq!(pipeline["owner"]["type"], "user");
    assert_eq!(w.api.get("/pipelines/shop").json(), pipeline);
    assert_eq!(w.api.get("/pipelines/nope").status, 404);
}

#[test]
fn a_promotion_releases_the_source_slug_on_each_target() {
    let w = world();
    let pipeline = pipeline(&w);
    w.heroku
        .set_release_phase("shop-prod", slow_release_phase());
    w.heroku.set_promotion_delay(Duration::from_millis(300));

    let created = w.api.post(
        "/pipeline-promotions",
        &promote_body(&pipeline, &w.staging.id, &[&w.prod.id]),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let promotion = created.json();
    assert_eq!(promotion["status"], "pending");
    assert_eq!(promotion["pipeline"], json!({"id": pipeline}));
    assert_eq!(promotion["source"]["app"], json!({"id": w.staging.id}));
    let staging_v2 = w.api.get("/apps/shop-staging/releases/2").json();
    assert_eq!(
        promotion["source"]["release"],
        json!({"id": staging_v2["id"]})
    );
    let id = promotion["id"].as_str().unwrap();

    // The slug is still being copied: no release yet.
    let targets_path = format!("/pipeline-promotions/{id}/promotion-targets");
    let targets = w.api.get(&targets_path).json();
    assert_eq!(targets.as_array().unwrap().len(), 1);
    assert_eq!(targets[0]["app"], json!({"id": w.prod.id}));
    assert_eq!(targets[0]["status"], "pending");
    assert_eq!(targets[0]["release"], Value::Null);
    assert_eq!(targets[0]["error_message"], Value::Null);
    assert_eq!(targets[0]["pipeline_promotion"], json!({"id": id}));

    let with_release = w.api.poll(&targets_path, |t| !t[0]["release"].is_null());
    let release_id = with_release[0]["release"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let release = w
        .api
        .get(&format!("/apps/shop-prod/releases/{release_id}"))
        .json();
    assert_eq!(release["version"], 3);
    assert_eq!(release["description"], "Promote shop-staging v2");
    assert_eq!(release["slug"], staging_v2["slug"]);

    let done = w.api.poll(&targets_path, |t| t[0]["status"] != "pending");
    assert_eq!(done[0]["status"], "succeeded");
    assert_eq!(done[0]["release"]["id"], release_id.as_str());
    let promotion = w.api.get(&format!("/pipeline-promotions/{id}")).json();
    assert_eq!(promotion["status"], "completed");
    let release = w
        .api
        .get(&format!("/apps/shop-prod/releases/{release_id}"))
        .json();
    assert_eq!(release["status"], "succeeded");
    assert_eq!(release["current"], true);
    let slug = w.api.get(&format!(
        "/apps/shop-prod/slugs/{}",
        release["slug"]["id"].as_str().unwrap()
    ));
    assert_eq!(slug.json()["commit"], COMMIT);

    let recorded = w.heroku.promotions();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["status"], "completed");
    assert_eq!(recorded[0]["targets"][0]["status"], "succeeded");
}

#[test]
fn a_target_whose_release_phase_fails_is_failed() {
    let w = world();
    let pipeline = pipeline(&w);
    w.heroku.set_release_phase(
        "shop-prod",
        Some(Script::failing_release_phase().delay(Duration::from_millis(20))),
    );
    let promotion = w
        .api
        .post(
            "/pipeline-promotions",
            &promote_body(&pipeline, &w.staging.id, &[&w.prod.id]),
        )
        .json();
    let id = promotion["id"].as_str().unwrap();
    let targets = w.api.poll(
        &format!("/pipeline-promotions/{id}/promotion-targets"),
        |t| t[0]["status"] != "pending",
    );
    assert_eq!(targets[0]["status"], "failed");
    assert!(targets[0]["error_message"]
        .as_str()
        .unwrap()
        .contains("release command"));
    assert_eq!(
        w.api.get(&format!("/pipeline-promotions/{id}")).json()["status"],
        "completed"
    );
    assert_eq!(
        w.api.get("/apps/shop-prod/releases/2").json()["current"],
        true
    );
}

#[test]
fn invalid_promotions_are_rejected() {
    let w = world();
    let pipeline = pipeline(&w);
    let other = w.heroku.create_app("shop-demo");
    w.heroku.seed_release("shop-demo", COMMIT, None);
    let empty = w.heroku.create_app("shop-empty");
    w.heroku.couple(&pipeline, "shop-empty", "development");

    let post = |body: Value| w.api.post("/pipeline-promotions", &body);
    let invalid = |body: Value, needle: &str| {
        let resp = post(body);
        assert_eq!(resp.status, 422, "{}", resp.text());
        let err = resp.json();
        assert_eq!(err["id"], "invalid_params");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    };
    // Apps are addressed by id only.
    invalid(
        promote_body(&pipeline, "shop-staging", &[&w.prod.id]),
        "source:app:id",
    );
    invalid(
        promote_body(&pipeline, &w.staging.id, &["shop-prod"]),
        "targets:app:id",
    );
    invalid(
        json!({"pipeline": {"id": pipeline}, "source": {"app": {"id": w.staging.id}}}),
        "targets",
    );
    invalid(
        json!({"source": {"app": {"id": w.staging.id}}, "targets": [{"app": {"id": w.prod.id}}]}),
        "pipeline:id",
    );
    invalid(
        promote_body(&pipeline, &other.id, &[&w.prod.id]),
        "shop-demo is not part of the pipeline shop",
    );
    invalid(
        promote_body(&pipeline, &w.staging.id, &[&other.id]),
        "shop-demo is not part of the pipeline shop",
    );
    invalid(
        promote_body(&pipeline, &w.staging.id, &[&w.staging.id]),
        "itself",
    );
    invalid(promote_body(&pipeline, &empty.id, &[&w.prod.id]), "no slug");

    let unknown = "01234567-89ab-4def-8123-456789abcdef";
    assert_eq!(
        post(promote_body(unknown, &w.staging.id, &[&w.prod.id])).status,
        404
    );
    assert_eq!(
        post(promote_body(&pipeline, unknown, &[&w.prod.id])).status,
        404
    );
    assert_eq!(
        w.api.get(&format!("/pipeline-promotions/{unknown}")).status,
        404
    );
    // Nothing was released anywhere.
    assert_eq!(w.heroku.releases("shop-prod").len(), 2);
    assert!(w.heroku.promotions().is_empty());
}
