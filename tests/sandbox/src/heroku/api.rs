//! Request dispatch (injected failures, blob and stream URLs) and the Platform API routes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::model::{deploy_description, Blob, Build, SourceBlob, State, Timeline, STACK};
use super::range::paginate;
use super::script::Script;
use super::{blobs, dynos, pipelines, streams};
use crate::server::{Request, Response};
use crate::tarball;
use crate::util::{base64_decode, sha256_hex, uuid};

const JSON: &str = "application/json; charset=utf-8";
const ACCEPT: &str = "application/vnd.heroku+json";

pub type Shared = Arc<Mutex<State>>;

pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error answered in Heroku's shape: `{"id": ..., "message": ...}`.
pub struct ApiError {
    status: u16,
    id: String,
    message: String,
}

impl ApiError {
    pub fn new(status: u16, id: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            id: id.into(),
            message: message.into(),
        }
    }

    pub(super) fn not_found(what: &str) -> ApiError {
        ApiError::new(404, "not_found", format!("Couldn't find that {what}."))
    }

    pub(super) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "invalid_params", message)
    }
}

/// The default error id and message for an injected status.
pub fn default_error(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("bad_request", "Request invalid, validate usage and try again."),
        401 => ("unauthorized", "Invalid credentials provided."),
        402 => ("delinquent", "This account is delinquent."),
        403 => ("forbidden", "You do not have access to the app."),
        404 => ("not_found", "Couldn't find that resource."),
        409 => ("conflict", "A conflicting operation is in progress."),
        410 => ("gone", "This endpoint has been retired."),
        422 => ("invalid_params", "Invalid parameters."),
        429 => (
            "rate_limit",
            "Your account reached the API rate limit\nPlease wait a few minutes before making new requests",
        ),
        502 => ("bad_gateway", "Bad gateway."),
        503 => ("service_unavailable", "The service is temporarily unavailable."),
        504 => ("gateway_timeout", "The request timed out."),
        _ => ("internal_server_error", "Internal server error."),
    }
}

/// Entry point for every request.
pub fn handle(shared: &Shared, req: Request) -> Response {
    let now = Instant::now();
    let mut state = lock(shared);
    state.requests.push(req.clone());
    state.settle(now);
    if let Some(resp) = injected_failure(&mut state, &req) {
        return resp;
    }
    if req.path.starts_with("/blobs/") {
        return blobs::blob(&mut state, &req);
    }
    drop(state);
    if let Some(rest) = req.path.strip_prefix("/streams/") {
        return streams::stream(shared, rest, &req, now);
    }
    let mut state = lock(shared);
    api(&mut state, &req, now)
}

fn injected_failure(state: &mut State, req: &Request) -> Option<Response> {
    let rule = state
        .failures
        .iter_mut()
        .find(|f| f.matches(&req.method, &req.path))?;
    rule.remaining -= 1;
    let rule = rule.clone();
    let (id, message) = default_error(rule.status);
    let mut resp = if req.path.starts_with("/blobs/") {
        let code = match rule.status {
            403 => "AccessDenied",
            503 => "SlowDown",
            500 => "InternalError",
            _ => rule.id.as_deref().unwrap_or("Error"),
        };
        blobs::s3_error(
            rule.status,
            code,
            rule.message.as_deref().unwrap_or(message),
        )
    } else if req.path.starts_with("/streams/") {
        Response::new(
            rule.status,
            "text/plain",
            rule.message.as_deref().unwrap_or(message).to_string(),
        )
    } else {
        let err = ApiError::new(
            rule.status,
            rule.id.as_deref().unwrap_or(id),
            rule.message.as_deref().unwrap_or(message),
        );
        api_headers(error_response(&err), state, req)
    };
    if let Some(secs) = rule.retry_after {
        resp = resp.with_header("Retry-After", secs.to_string());
    }
    Some(resp)
}

fn error_response(err: &ApiError) -> Response {
    let body = json!({"id": err.id, "message": err.message});
    Response::new(err.status, JSON, body.to_string())
}

fn api_headers(resp: Response, state: &State, req: &Request) -> Response {
    let request_id = req
        .header("Request-Id")
        .map(str::to_string)
        .unwrap_or_else(uuid);
    resp.with_header(
        "RateLimit-Remaining",
        state.rate_limit_remaining.to_string(),
    )
    .with_header("Request-Id", request_id)
    .with_header("Vary", "Accept-Encoding")
}

// ---------------------------------------------------------------------------------------
// Platform API
// ---------------------------------------------------------------------------------------

/// A successful API answer before headers are added.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub(super) fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    pub(super) fn created(body: Value) -> Answer {
        Answer {
            status: 201,
            body,
            headers: Vec::new(),
        }
    }
}

fn accepts_v3(req: &Request) -> bool {
    let Some(accept) = req.header("Accept") else {
        return false;
    };
    accept.split(',').any(|media| {
        let mut parts = media.split(';').map(str::trim);
        parts.next().is_some_and(|t| t.eq_ignore_ascii_case(ACCEPT))
            && parts.any(|p| {
                p.strip_prefix("version=")
                    .is_some_and(|v| v == "3" || v.starts_with("3."))
            })
    })
}

fn authorized(state: &State, req: &Request) -> bool {
    let Some(auth) = req.header("Authorization") else {
        return false;
    };
    let Some((scheme, cred)) = auth.trim().split_once(' ') else {
        return false;
    };
    let cred = cred.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return cred == state.api_key;
    }
    if scheme.eq_ignore_ascii_case("basic") {
        // Historical form: any user (or the email), the key as password.
        let Some(decoded) = base64_decode(cred) else {
            return false;
        };
        let decoded = String::from_utf8_lossy(&decoded);
        return decoded
            .split_once(':')
            .is_some_and(|(_, key)| key == state.api_key);
    }
    false
}

fn api(state: &mut State, req: &Request, now: Instant) -> Response {
    if !accepts_v3(req) {
        let err = ApiError::new(
            406,
            "not_acceptable",
            "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
        );
        return api_headers(error_response(&err), state, req);
    }
    if !authorized(state, req) {
        let err = ApiError::new(401, "unauthorized", "Invalid credentials provided.");
        return api_headers(error_response(&err), state, req);
    }
    let free = req.method == "GET" && req.path == "/account/rate-limits";
    if !free {
        state.refill_rate_limit(now);
        if state.rate_limit_remaining == 0 {
            let (id, message) = default_error(429);
            let err = ApiError::new(429, id, message);
            return api_headers(error_response(&err), state, req);
        }
        state.rate_limit_remaining -= 1;
    }
    let answer = route(state, req, now);
    let resp = match answer {
        Err(err) => error_response(&err),
        Ok(answer) => {
            let body = answer.body.to_string();
            let etag = format!("\"{}\"", &sha256_hex(body.as_bytes())[..32]);
            let not_modified = req.method == "GET"
                && req
                    .header("If-None-Match")
                    .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
            let mut resp = if not_modified {
                Response::empty(304)
            } else {
                Response::new(answer.status, JSON, body)
            };
            resp = resp.with_header("ETag", etag);
            for (name, value) in answer.headers {
                resp = resp.with_header(&name, value);
            }
            resp
        }
    };
    api_headers(resp, state, req)
}

fn route(state: &mut State, req: &Request, now: Instant) -> Result<Answer, ApiError> {
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["account"]) => Ok(Answer::ok(state.account_json())),
        ("GET", ["account", "rate-limits"]) => Ok(Answer::ok(
            json!({"remaining": state.rate_limit_remaining}),
        )),
        ("POST", ["sources"]) => create_source(state, req),
        ("GET", ["apps", app]) => {
            let app = find_app(state, app)?;
            Ok(Answer::ok(state.app_json(&state.apps[app], now)))
        }
        ("POST", ["apps", app, "sources"]) => {
            find_app(state, app)?;
            create_source(state, req)
        }
        ("GET", ["apps", app, "formation"]) => {
            let app = find_app(state, app)?;
            Ok(Answer::ok(Value::Array(
                state.formation_json(&state.apps[app]),
            )))
        }
        ("GET", ["apps", app, "features"]) => {
            let app = find_app(state, app)?;
            Ok(Answer::ok(json!([state.preboot_json(&state.apps[app])])))
        }
        ("GET", ["apps", app, "features", feature]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            if *feature == "preboot" || *feature == a.preboot_id {
                Ok(Answer::ok(state.preboot_json(a)))
            } else {
                Err(ApiError::not_found("feature"))
            }
        }
        ("GET", ["apps", app, "releases"]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            let items = a
                .releases
                .iter()
                .map(|r| state.release_json(a, r, now))
                .collect();
            paginate(items, req, &["id", "version"], "version")
        }
        ("GET", ["apps", app, "releases", ident]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            let release = a
                .releases
                .iter()
                .find(|r| r.id == *ident || ident.parse::<u64>().ok() == Some(r.version))
                .ok_or_else(|| ApiError::not_found("release"))?;
            Ok(Answer::ok(state.release_json(a, release, now)))
        }
        ("POST", ["apps", app, "releases"]) => {
            let app = find_app(state, app)?;
            create_release(state, app, req, now)
        }
        ("GET", ["apps", app, "slugs", ident]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            let slug = a.slug(ident).ok_or_else(|| ApiError::not_found("slug"))?;
            Ok(Answer::ok(state.slug_json(slug)))
        }
        ("GET", ["apps", app, "dynos"]) => {
            let app = find_app(state, app)?;
            Ok(Answer::ok(Value::Array(
                state.dynos_json(&state.apps[app], now),
            )))
        }
        ("GET", ["apps", app, "dynos", ident]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            // During a preboot overlap two dynos share a name: the newer release's wins.
            let dyno = dynos::list(a, now)
                .into_iter()
                .filter(|d| d.id == *ident || d.name == *ident)
                .max_by_key(|d| d.version)
                .ok_or_else(|| ApiError::not_found("process"))?;
            Ok(Answer::ok(state.dyno_json(a, &dyno)))
        }
        ("GET", ["apps", app, "pipeline-couplings"]) => pipelines::app_coupling(state, app),
        ("GET", ["pipelines", ident]) => pipelines::pipeline_info(state, ident),
        ("GET", ["pipelines", id, "pipeline-couplings"]) => {
            pipelines::pipeline_couplings(state, id)
        }
        ("POST", ["pipeline-promotions"]) => pipelines::create_promotion(state, req, now),
        ("GET", ["pipeline-promotions", id]) => pipelines::promotion_info(state, id, now),
        ("GET", ["pipeline-promotions", id, "promotion-targets"]) => {
            pipelines::promotion_targets(state, id, now)
        }
        ("GET", ["apps", app, "builds"]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            let items = a
                .builds
                .iter()
                .map(|b| state.build_json(a, b, now))
                .collect();
            paginate(items, req, &["id", "started_at", "created_at"], "created_at")
        }
        ("POST", ["apps", app, "builds"]) => {
            let app = find_app(state, app)?;
            create_build(state, app, req, now)
        }
        ("GET", ["apps", app, "builds", ident]) => {
            let app = find_app(state, app)?;
            let a = &state.apps[app];
            let build = a
                .builds
                .iter()
                .find(|b| b.id == *ident)
                .ok_or_else(|| ApiError::not_found("build"))?;
            Ok(Answer::ok(state.build_json(a, build, now)))
        }
        ("DELETE", ["apps", app, "builds", ident]) => {
            let app = find_app(state, app)?;
            cancel_build(state, app, ident, now)
        }
        _ => Err(ApiError::new(
            404,
            "not_found",
            "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your API version in the `Accept` header?",
        )),
    }
}

pub(super) fn find_app(state: &State, ident: &str) -> Result<usize, ApiError> {
    state
        .app_index(ident)
        .ok_or_else(|| ApiError::not_found("app"))
}

pub(super) fn parse_body(req: &Request) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(&req.body).map_err(|_| {
        ApiError::new(
            400,
            "bad_request",
            "Request invalid, validate usage and try again.",
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid("Request body must be a JSON object."));
    }
    Ok(value)
}

fn create_source(state: &mut State, req: &Request) -> Result<Answer, ApiError> {
    parse_body(req)?;
    let id = uuid();
    state.blobs.push(Blob {
        id: id.clone(),
        data: None,
    });
    Ok(Answer::created(json!({
        "source_blob": {
            "get_url": state.blob_url("GET", &id),
            "put_url": state.blob_url("PUT", &id),
        }
    })))
}

fn optional_string(obj: &Value, key: &str, label: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("{label} must be a string."))),
    }
}

fn valid_checksum(checksum: &str) -> bool {
    checksum
        .strip_prefix("SHA256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why the build service could not fetch a source URL: the HTTP status S3 would answer.
fn fetch_source(state: &State, url: &str) -> Result<Vec<u8>, u16> {
    let Some(rest) = url.strip_prefix(&state.base_url) else {
        return Err(404);
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some(id) = path.strip_prefix("/blobs/") else {
        return Err(404);
    };
    let signature = query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Signature="));
    if signature != Some(state.blob_signature("GET", id).as_str()) {
        return Err(403);
    }
    state
        .blobs
        .iter()
        .find(|b| b.id == id)
        .and_then(|b| b.data.clone())
        .ok_or(404)
}

/// Validates the body of `POST /apps/{app}/builds` and starts the build.
///
/// Divergence: Heroku requires an `https://` `source_blob.url` ("https is required for
/// source_blob:url"); the sandbox serves plain HTTP on loopback unless started with TLS, so
/// `http://` is accepted too.
fn create_build(
    state: &mut State,
    app: usize,
    req: &Request,
    now: Instant,
) -> Result<Answer, ApiError> {
    let body = parse_body(req)?;
    let Some(source) = body.get("source_blob").filter(|v| v.is_object()) else {
        return Err(ApiError::invalid("Missing required params: source_blob."));
    };
    let url = match source.get("url") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        _ => {
            return Err(ApiError::invalid(
                "Missing required params: source_blob:url.",
            ))
        }
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::invalid("https is required for source_blob:url"));
    }
    let checksum = optional_string(source, "checksum", "source_blob:checksum")?;
    if let Some(c) = &checksum {
        if !valid_checksum(c) {
            return Err(ApiError::invalid(
                "source_blob:checksum must be of the form SHA256:<64 hexadecimal digits>.",
            ));
        }
    }
    let version = optional_string(source, "version", "source_blob:version")?;
    let version_description = optional_string(
        source,
        "version_description",
        "source_blob:version_description",
    )?;
    let a = &state.apps[app];
    let buildpacks: Vec<Value> = match body.get("buildpacks") {
        None | Some(Value::Null) => a
            .buildpacks
            .iter()
            .map(|b| json!({"url": b, "name": b}))
            .collect(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let url = item.get("url").and_then(Value::as_str);
                let name = item.get("name").and_then(Value::as_str);
                let Some(either) = url.or(name) else {
                    return Err(ApiError::invalid("Each buildpack needs a url or a name."));
                };
                out.push(json!({"url": url.unwrap_or(either), "name": name.unwrap_or(either)}));
            }
            out
        }
        Some(_) => return Err(ApiError::invalid("buildpacks must be an array.")),
    };

    let mut script = {
        let a = &mut state.apps[app];
        a.next_builds
            .pop_front()
            .or_else(|| a.every_build.clone())
            .unwrap_or_else(Script::default_build)
    };
    // Builds start at once; `start_after` only delays release phases.
    script.start_after = Duration::ZERO;
    let mut process_types = vec![("web".to_string(), "npm start".to_string())];
    let mut source_size = 0;
    let script = match fetch_source(state, &url) {
        Err(code) => source_failure(
            &script,
            &format!(" !     Unable to fetch source from source_blob:url (HTTP {code})."),
        ),
        Ok(bytes) => {
            let actual = format!("SHA256:{}", sha256_hex(&bytes));
            source_size = bytes.len() as u64;
            match (&checksum, tarball::unpack(&bytes)) {
                (Some(expected), _) if !expected.eq_ignore_ascii_case(&actual) => {
                    source_failure(
                        &script,
                        &format!(
                            " !     Checksum mismatch: source_blob:checksum is {expected} but the downloaded source is {actual}."
                        ),
                    )
                }
                (_, Err(e)) => source_failure(
                    &script,
                    &format!(" !     Unable to extract the source archive: {e}."),
                ),
                (_, Ok(entries)) => {
                    if let Some(types) = tarball::procfile(&entries).filter(|t| !t.is_empty()) {
                        process_types = types;
                    }
                    script
                }
            }
        }
    };
    let build = Build {
        id: uuid(),
        timeline: Timeline {
            t0: now,
            at: SystemTime::now(),
            script,
        },
        source_blob: SourceBlob {
            url,
            version,
            checksum,
            version_description,
        },
        buildpacks,
        process_types,
        source_size,
        settled: false,
        slug_id: None,
        release_id: None,
    };
    let a = &state.apps[app];
    let rendered = state.build_json(a, &build, now);
    state.apps[app].builds.push(build);
    Ok(Answer::created(rendered))
}

/// The output of a build that could not start on the source.
fn source_failure(script: &Script, message: &str) -> Script {
    let delay = script
        .lines
        .first()
        .map(|(d, _)| *d)
        .unwrap_or(script.end_delay);
    Script {
        lines: vec![
            (
                delay,
                format!("-----> Building on the {} stack", pretty_stack()),
            ),
            (delay, message.to_string()),
            (delay, " !     Push failed".to_string()),
        ],
        end_delay: script.end_delay,
        succeeds: false,
        start_after: Duration::ZERO,
    }
}

fn pretty_stack() -> String {
    let mut s = STACK.to_string();
    s[..1].make_ascii_uppercase();
    s
}

fn cancel_build(
    state: &mut State,
    app: usize,
    ident: &str,
    now: Instant,
) -> Result<Answer, ApiError> {
    let a = &mut state.apps[app];
    let build = a
        .builds
        .iter_mut()
        .find(|b| b.id == ident)
        .ok_or_else(|| ApiError::not_found("build"))?;
    if build.status(now) == "pending" {
        let elapsed = now.saturating_duration_since(build.timeline.start());
        let mut t = Duration::ZERO;
        let mut kept = Vec::new();
        for (delay, line) in &build.timeline.script.lines {
            if t + *delay > elapsed {
                break;
            }
            t += *delay;
            kept.push((*delay, line.clone()));
        }
        // The cancellation line lands now, which is also when the build ends.
        kept.push((elapsed - t, " !     Build canceled".to_string()));
        build.timeline.script = Script {
            lines: kept,
            end_delay: Duration::ZERO,
            succeeds: false,
            start_after: build.timeline.script.start_after,
        };
        state.settle(now);
    }
    let a = &state.apps[app];
    let build = a
        .builds
        .iter()
        .find(|b| b.id == ident)
        .expect("found above");
    Ok(Answer::ok(state.build_json(a, build, now)))
}

/// `POST /apps/{app}/releases`: rollback (`{"release": uuid}`) or create from a slug
/// (`{"slug": id}`), both running the release phase when the app has one.
fn create_release(
    state: &mut State,
    app: usize,
    req: &Request,
    now: Instant,
) -> Result<Answer, ApiError> {
    let body = parse_body(req)?;
    let a = &state.apps[app];
    let (slug_id, description) = if let Some(target) = body.get("release") {
        let Some(target) = target.as_str() else {
            return Err(ApiError::invalid("release must be a release id (UUID)."));
        };
        let release = a
            .releases
            .iter()
            .find(|r| r.id == target)
            .ok_or_else(|| ApiError::not_found("release"))?;
        let Some(slug) = release.slug_id.clone() else {
            return Err(ApiError::invalid(format!(
                "Cannot roll back to v{}: it has no slug.",
                release.version
            )));
        };
        if release.status(now) != "succeeded" {
            return Err(ApiError::invalid(format!(
                "Cannot roll back to v{}: it is not eligible for rollback.",
                release.version
            )));
        }
        (slug, format!("Rollback to v{}", release.version))
    } else if let Some(slug) = body.get("slug") {
        let Some(slug) = slug.as_str() else {
            return Err(ApiError::invalid("slug must be a slug id."));
        };
        // A slug of another app of the account may be released too (promotion without a
        // pipeline); the app then knows the slug under the same id.
        let slug = a
            .slug(slug)
            .or_else(|| state.apps.iter().find_map(|other| other.slug(slug)))
            .ok_or_else(|| ApiError::not_found("slug"))?
            .clone();
        let description = match body.get("description") {
            Some(Value::String(d)) => d.clone(),
            _ => deploy_description(slug.commit.as_deref(), &slug.id),
        };
        let id = slug.id.clone();
        let a = &mut state.apps[app];
        if a.slug(&id).is_none() {
            a.slugs.push(slug);
        }
        (id, description)
    } else {
        return Err(ApiError::invalid(
            "Missing required params: slug (or release to roll back).",
        ));
    };
    let a = &mut state.apps[app];
    let id = a
        .add_release(Some(slug_id), description, now, SystemTime::now())
        .id
        .clone();
    let a = &state.apps[app];
    let release = a.releases.iter().find(|r| r.id == id).expect("just added");
    Ok(Answer::created(state.release_json(a, release, now)))
}
