//! Pipelines, couplings and pipeline promotions.
//!
//! A promotion copies the source release's slug to each target app: after the promotion
//! delay every target gets its own release of that slug (its release phase runs), and the
//! target's status follows that release (`pending` → `succeeded` | `failed`). The promotion
//! is `completed` once no target is pending.

use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use super::api::{find_app, parse_body, Answer, ApiError};
use super::model::{Slug, State};
use crate::server::Request;
use crate::util::{after, is_uuid, rfc3339, uuid};

/// The stages a coupling may have.
pub const STAGES: [&str; 5] = ["test", "review", "development", "staging", "production"];

pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub created: SystemTime,
}

pub struct Coupling {
    pub id: String,
    pub pipeline_id: String,
    pub app_id: String,
    pub stage: String,
    pub created: SystemTime,
}

pub struct Target {
    pub id: String,
    pub app_id: String,
    /// The release created on the target app, once the slug has been copied.
    pub release_id: Option<String>,
}

pub struct Promotion {
    pub id: String,
    pub pipeline_id: String,
    pub source_app_id: String,
    pub source_release_id: String,
    pub description: String,
    pub slug: Slug,
    pub t0: Instant,
    pub created: SystemTime,
    pub targets: Vec<Target>,
}

impl Promotion {
    fn releases_at(&self, state: &State) -> (Instant, SystemTime) {
        (
            self.t0 + state.promotion_delay,
            after(self.created, state.promotion_delay),
        )
    }
}

/// Creates the targets' releases of every promotion whose delay has passed.
pub fn settle(state: &mut State, now: Instant) {
    for p in 0..state.promotions.len() {
        let (t0, at) = state.promotions[p].releases_at(state);
        if now < t0 {
            continue;
        }
        for t in 0..state.promotions[p].targets.len() {
            let promotion = &state.promotions[p];
            if promotion.targets[t].release_id.is_some() {
                continue;
            }
            let Some(ai) = state.app_index(&promotion.targets[t].app_id) else {
                continue;
            };
            let slug = promotion.slug.clone();
            let description = promotion.description.clone();
            let app = &mut state.apps[ai];
            if app.slug(&slug.id).is_none() {
                app.slugs.push(slug.clone());
            }
            let id = app
                .add_release(Some(slug.id), description, t0, at)
                .id
                .clone();
            state.promotions[p].targets[t].release_id = Some(id);
        }
    }
}

/// Status and error message of a promotion target at `now`.
fn target_status(state: &State, target: &Target, now: Instant) -> (&'static str, Option<String>) {
    let release = target.release_id.as_ref().and_then(|id| {
        let app = &state.apps[state.app_index(&target.app_id)?];
        app.releases.iter().find(|r| &r.id == id)
    });
    match release.map(|r| (r, r.status(now))) {
        None | Some((_, "pending")) => ("pending", None),
        Some((r, "failed")) => (
            "failed",
            Some(format!(
                "Release v{} failed: its release command did not succeed.",
                r.version
            )),
        ),
        Some(_) => ("succeeded", None),
    }
}

fn pipeline_json(state: &State, pipeline: &Pipeline) -> Value {
    json!({
        "created_at": rfc3339(pipeline.created),
        "id": pipeline.id,
        "name": pipeline.name,
        "owner": {"id": state.account.id, "type": "user"},
        "updated_at": rfc3339(pipeline.created),
        "generation": {"id": state.generation_id, "name": "cedar"},
    })
}

fn coupling_json(coupling: &Coupling) -> Value {
    json!({
        "app": {"id": coupling.app_id},
        "created_at": rfc3339(coupling.created),
        "id": coupling.id,
        "pipeline": {"id": coupling.pipeline_id},
        "stage": coupling.stage,
        "updated_at": rfc3339(coupling.created),
    })
}

pub fn promotion_json(state: &State, promotion: &Promotion, now: Instant) -> Value {
    let pending = promotion
        .targets
        .iter()
        .any(|t| target_status(state, t, now).0 == "pending");
    // Completed when the last target release was decided.
    let updated = if pending {
        promotion.created
    } else {
        promotion
            .targets
            .iter()
            .filter_map(|t| {
                let app = &state.apps[state.app_index(&t.app_id)?];
                let id = t.release_id.as_ref()?;
                app.releases.iter().find(|r| &r.id == id)
            })
            .map(|r| r.done_at().1)
            .max()
            .unwrap_or(promotion.created)
    };
    json!({
        "created_at": rfc3339(promotion.created),
        "id": promotion.id,
        "pipeline": {"id": promotion.pipeline_id},
        "source": {
            "app": {"id": promotion.source_app_id},
            "release": {"id": promotion.source_release_id},
        },
        "status": if pending { "pending" } else { "completed" },
        "updated_at": rfc3339(updated),
    })
}

pub fn targets_json(state: &State, promotion: &Promotion, now: Instant) -> Vec<Value> {
    promotion
        .targets
        .iter()
        .map(|t| {
            let (status, error) = target_status(state, t, now);
            json!({
                "app": {"id": t.app_id},
                "error_message": error,
                "id": t.id,
                "pipeline_promotion": {"id": promotion.id},
                "release": t.release_id.as_ref().map(|id| json!({"id": id})),
                "status": status,
            })
        })
        .collect()
}

// ----- seeding -----

pub fn create(state: &mut State, name: &str) -> String {
    let valid = name.len() >= 3
        && name.len() <= 30
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    assert!(
        valid,
        "sandbox: pipeline name {name:?} must match ^[a-z][a-z0-9-]{{2,29}}$"
    );
    assert!(
        state.pipelines.iter().all(|p| p.name != name),
        "sandbox: pipeline {name:?} already exists"
    );
    let id = uuid();
    state.pipelines.push(Pipeline {
        id: id.clone(),
        name: name.into(),
        created: SystemTime::now(),
    });
    id
}

pub fn couple(state: &mut State, pipeline_id: &str, app: &str, stage: &str) -> String {
    assert!(
        state.pipelines.iter().any(|p| p.id == pipeline_id),
        "sandbox: no pipeline with id {pipeline_id:?}; call create_pipeline first"
    );
    assert!(
        STAGES.contains(&stage),
        "sandbox: stage {stage:?} is not one of {STAGES:?}"
    );
    let app_id = state.app_mut(app).id.clone();
    assert!(
        state.couplings.iter().all(|c| c.app_id != app_id),
        "sandbox: app {app:?} is already in a pipeline"
    );
    let id = uuid();
    state.couplings.push(Coupling {
        id: id.clone(),
        pipeline_id: pipeline_id.into(),
        app_id,
        stage: stage.into(),
        created: SystemTime::now(),
    });
    id
}

// ----- routes -----

fn find_pipeline<'s>(state: &'s State, ident: &str) -> Result<&'s Pipeline, ApiError> {
    state
        .pipelines
        .iter()
        .find(|p| p.id == ident || p.name == ident)
        .ok_or_else(|| ApiError::not_found("pipeline"))
}

fn find_promotion<'s>(state: &'s State, id: &str) -> Result<&'s Promotion, ApiError> {
    state
        .promotions
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found("pipeline promotion"))
}

/// `GET /pipelines/{id or name}`.
pub fn pipeline_info(state: &State, ident: &str) -> Result<Answer, ApiError> {
    Ok(Answer::ok(pipeline_json(
        state,
        find_pipeline(state, ident)?,
    )))
}

/// `GET /pipelines/{id}/pipeline-couplings`.
pub fn pipeline_couplings(state: &State, id: &str) -> Result<Answer, ApiError> {
    let pipeline = state
        .pipelines
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found("pipeline"))?;
    let items = state
        .couplings
        .iter()
        .filter(|c| c.pipeline_id == pipeline.id)
        .map(coupling_json)
        .collect();
    Ok(Answer::ok(Value::Array(items)))
}

/// `GET /apps/{app}/pipeline-couplings`: the app's coupling, 404 when it is in no pipeline.
pub fn app_coupling(state: &State, app: &str) -> Result<Answer, ApiError> {
    let app = &state.apps[find_app(state, app)?];
    state
        .couplings
        .iter()
        .find(|c| c.app_id == app.id)
        .map(|c| Answer::ok(coupling_json(c)))
        .ok_or_else(|| ApiError::not_found("pipeline coupling"))
}

/// `GET /pipeline-promotions/{id}`.
pub fn promotion_info(state: &State, id: &str, now: Instant) -> Result<Answer, ApiError> {
    let promotion = find_promotion(state, id)?;
    Ok(Answer::ok(promotion_json(state, promotion, now)))
}

/// `GET /pipeline-promotions/{id}/promotion-targets`.
pub fn promotion_targets(state: &State, id: &str, now: Instant) -> Result<Answer, ApiError> {
    let promotion = find_promotion(state, id)?;
    Ok(Answer::ok(Value::Array(targets_json(
        state, promotion, now,
    ))))
}

/// A UUID at `pointer` in the body (`label` names it in errors, as `source:app:id`).
fn uuid_at(body: &Value, pointer: &str, label: &str) -> Result<String, ApiError> {
    match body.pointer(pointer) {
        None | Some(Value::Null) => Err(ApiError::invalid(format!(
            "Missing required params: {label}."
        ))),
        Some(Value::String(s)) if is_uuid(s) => Ok(s.to_ascii_lowercase()),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid {label}: expected a UUID, got {other}."
        ))),
    }
}

/// `POST /pipeline-promotions`.
pub fn create_promotion(
    state: &mut State,
    req: &Request,
    now: Instant,
) -> Result<Answer, ApiError> {
    let body = parse_body(req)?;
    let pipeline_id = uuid_at(&body, "/pipeline/id", "pipeline:id")?;
    let source_id = uuid_at(&body, "/source/app/id", "source:app:id")?;
    let targets = match body.get("targets") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(Value::Array(_)) => return Err(ApiError::invalid("targets must not be empty.")),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("Missing required params: targets."))
        }
        Some(_) => return Err(ApiError::invalid("targets must be an array.")),
    };
    let mut target_ids = Vec::new();
    for target in &targets {
        target_ids.push(uuid_at(target, "/app/id", "targets:app:id")?);
    }

    let pipeline = state
        .pipelines
        .iter()
        .find(|p| p.id == pipeline_id)
        .ok_or_else(|| ApiError::not_found("pipeline"))?;
    let in_pipeline = |app_id: &str| {
        state
            .couplings
            .iter()
            .any(|c| c.app_id == app_id && c.pipeline_id == pipeline.id)
    };
    let source = &state.apps[find_app(state, &source_id)?];
    if !in_pipeline(&source.id) {
        return Err(ApiError::invalid(format!(
            "The source app {} is not part of the pipeline {}.",
            source.name, pipeline.name
        )));
    }
    for id in &target_ids {
        let target = &state.apps[find_app(state, id)?];
        if !in_pipeline(&target.id) {
            return Err(ApiError::invalid(format!(
                "The target app {} is not part of the pipeline {}.",
                target.name, pipeline.name
            )));
        }
        if target.id == source.id {
            return Err(ApiError::invalid(format!(
                "Cannot promote {} to itself.",
                source.name
            )));
        }
    }
    let release = match body.pointer("/source/release/id") {
        None | Some(Value::Null) => source.current(now).ok_or_else(|| {
            ApiError::invalid(format!("{} has no release to promote.", source.name))
        })?,
        Some(_) => {
            let id = uuid_at(&body, "/source/release/id", "source:release:id")?;
            source
                .releases
                .iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ApiError::not_found("release"))?
        }
    };
    let slug = release
        .slug_id
        .as_deref()
        .and_then(|id| source.slug(id))
        .filter(|_| release.status(now) == "succeeded")
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Cannot promote v{} of {}: it has no slug to promote.",
                release.version, source.name
            ))
        })?
        .clone();
    let promotion = Promotion {
        id: uuid(),
        pipeline_id: pipeline.id.clone(),
        source_app_id: source.id.clone(),
        source_release_id: release.id.clone(),
        description: format!("Promote {} v{}", source.name, release.version),
        slug,
        t0: now,
        created: SystemTime::now(),
        targets: target_ids
            .into_iter()
            .map(|app_id| Target {
                id: uuid(),
                app_id,
                release_id: None,
            })
            .collect(),
    };
    state.promotions.push(promotion);
    state.settle(now);
    let promotion = state.promotions.last().expect("just pushed");
    Ok(Answer::created(promotion_json(state, promotion, now)))
}
