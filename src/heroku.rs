//! Heroku Platform API client: typed requests and responses for what the steps use.
//!
//! Every request sends the v3 `Accept` header and the API key as a bearer token; errors carry
//! Heroku's own `{"id", "message"}` answer together with what the user can do about it.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ci;
use crate::http::{self, Body, Client, Reply, Request, Retry};
use crate::usage::UsageError;

/// The default API base.
pub const DEFAULT_API_URL: &str = "https://api.heroku.com";

/// Heroku credentials and base URL, from the environment.
pub struct HerokuConfig {
    /// `HEROKU_API_KEY`.
    pub api_key: String,
    /// `SHIPLINE_HEROKU_API_URL` or the default.
    pub api_url: String,
}

impl HerokuConfig {
    /// Reads the configuration; a missing key or a malformed URL is a configuration error.
    pub fn from_env() -> Result<HerokuConfig> {
        let api_key = std::env::var("HEROKU_API_KEY")
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                anyhow!(UsageError(
                    "HEROKU_API_KEY is not set: store a Heroku API key (`heroku authorizations:create`) as a CI secret and expose it to this step as HEROKU_API_KEY".into()
                ))
            })?;
        ci::register_secret(&api_key);
        let api_url = std::env::var("SHIPLINE_HEROKU_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        http::check_credential_url("SHIPLINE_HEROKU_API_URL", &api_url).map_err(UsageError)?;
        Ok(HerokuConfig { api_key, api_url })
    }

    /// A client with these credentials whose requests end by `deadline`.
    pub fn client(&self, deadline: Instant) -> Heroku {
        Heroku::new(&self.api_url, &self.api_key, deadline)
    }
}

/// The media type that selects API version 3 (without it Heroku answers 406).
pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";

/// An app, as far as shipline cares.
#[derive(Debug, Clone, Deserialize)]
pub struct App {
    /// The app's UUID (pipeline promotions address apps by id).
    pub id: String,
    /// The app's name.
    pub name: String,
    /// Where the app is served.
    #[serde(default)]
    pub web_url: Option<String>,
}

/// An object reference carrying an id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ref {
    /// The id.
    pub id: String,
}

/// A reference to a release, as dynos carry it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseRef {
    /// Its version.
    pub version: u64,
}

/// A running (or starting, or crashed) process of the app.
#[derive(Debug, Clone, Deserialize)]
pub struct Dyno {
    /// E.g. `web.1`; never parsed (names differ between generations).
    pub name: String,
    /// The process type: `web`, `worker`, `run` (one-off), `release` (release phase), ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `starting`, `up`, `crashed`, `down`, `idle`, or a value this version does not know.
    pub state: String,
    /// The release whose code it runs.
    pub release: ReleaseRef,
}

/// One process type of the formation: how many dynos of it should run.
#[derive(Debug, Clone, Deserialize)]
pub struct Formation {
    /// The process type.
    #[serde(rename = "type")]
    pub kind: String,
    /// How many dynos.
    pub quantity: u32,
}

/// An app's place in a Heroku pipeline.
#[derive(Debug, Clone, Deserialize)]
pub struct Coupling {
    /// The pipeline.
    pub pipeline: Ref,
    /// The app's stage in it: `development`, `staging`, `production` (or `test`, `review`).
    #[serde(default)]
    pub stage: Option<String>,
}

/// A pipeline promotion.
#[derive(Debug, Clone, Deserialize)]
pub struct Promotion {
    /// Its UUID.
    pub id: String,
}

/// One target app of a promotion.
#[derive(Debug, Clone, Deserialize)]
pub struct PromotionTarget {
    /// The target app.
    pub app: Ref,
    /// `pending`, `succeeded` or `failed`.
    pub status: Status,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The release created on the target, once there is one.
    #[serde(default)]
    pub release: Option<Ref>,
}

/// Progress of a build or release. Unknown values are kept, never a parse failure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Still running.
    Pending,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// A release whose artifacts were purged.
    Expired,
    /// A value this version of shipline does not know.
    #[serde(other)]
    Unknown,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Unknown => "unknown",
        })
    }
}

/// A release: one version of the app's code and config.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    /// The release's UUID.
    pub id: String,
    /// `v<version>` in Heroku's words.
    pub version: u64,
    /// What made it, e.g. `Deploy 1a2b3c4d` or `Rollback to v41`.
    #[serde(default)]
    pub description: String,
    /// `pending` while its release phase runs.
    pub status: Status,
    /// Whether this is the live release.
    #[serde(default)]
    pub current: bool,
    /// Whether Heroku allows rolling back to it.
    #[serde(default)]
    pub eligible_for_rollback: bool,
    /// The release phase's output, when there is one.
    #[serde(default)]
    pub output_stream_url: Option<String>,
    /// The compiled code it runs (Cedar).
    #[serde(default)]
    pub slug: Option<Ref>,
}

/// `Rollback to vN` → `Some(N)`: the description Heroku gives a release made by a rollback,
/// which pauses continuous deployment until a human deploys with `--force`.
pub fn rollback_target(description: &str) -> Option<u64> {
    description
        .strip_prefix("Rollback to v")
        .and_then(|rest| rest.trim().parse().ok())
}

/// A slug: compiled code, with the commit it was built from.
#[derive(Debug, Clone, Deserialize)]
pub struct Slug {
    /// The commit (the build's `source_blob.version`).
    #[serde(default)]
    pub commit: Option<String>,
}

/// What runs on an app: its live release and the commit of that release's slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCommit {
    /// The live release's version.
    pub version: u64,
    /// The commit its slug was built from; `None` when the slug was not built from a commit
    /// (uploaded by other tools) or the release has no slug.
    pub commit: Option<String>,
}

/// A build of uploaded source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Build {
    /// The build's UUID.
    pub id: String,
    /// Progress.
    pub status: Status,
    /// Where the build output streams.
    #[serde(default)]
    pub output_stream_url: Option<String>,
    /// The release it created, once succeeded.
    #[serde(default)]
    pub release: Option<Ref>,
    /// What was built: its `version` is the commit shipline sent.
    #[serde(default)]
    pub source_blob: Option<BuildSource>,
    /// When it was created, RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// The source a build was made from, as the build reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildSource {
    /// The commit (`source_blob.version` of the create request).
    #[serde(default)]
    pub version: Option<String>,
}

impl Build {
    /// The commit it builds, when it says.
    pub fn commit(&self) -> Option<&str> {
        self.source_blob.as_ref()?.version.as_deref()
    }
}

/// A pre-signed place to upload source.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceBlob {
    /// Where Heroku's build fetches the source.
    pub get_url: String,
    /// Where to PUT it.
    pub put_url: String,
}

#[derive(Deserialize)]
struct Source {
    source_blob: SourceBlob,
}

/// An app feature, e.g. preboot.
#[derive(Debug, Clone, Deserialize)]
pub struct Feature {
    /// Whether it is on.
    pub enabled: bool,
}

/// An error answered by the Heroku API.
#[derive(Debug)]
pub struct ApiError {
    /// `METHOD path`.
    pub request: String,
    /// The HTTP status.
    pub status: u16,
    /// Heroku's machine id, e.g. `not_found`.
    pub id: Option<String>,
    /// Heroku's message.
    pub message: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Heroku {} answered {}", self.request, self.status)?;
        if let Some(id) = &self.id {
            write!(f, " {id}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {}", message.trim().replace('\n', " "))?;
        }
        match self.status {
            401 => write!(
                f,
                " (HEROKU_API_KEY is invalid or expired: create a new key with `heroku authorizations:create` and store it in the CI secret)"
            ),
            403 => write!(
                f,
                " (the account of HEROKU_API_KEY has no access to this app: add it as a collaborator or team member)"
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
struct ErrorBody {
    id: Option<String>,
    message: Option<String>,
}

/// The Heroku Platform API.
pub struct Heroku {
    client: Client,
}

impl Heroku {
    /// A client for the API at `base`, authenticated with `api_key`, whose waits end at
    /// `deadline`.
    pub fn new(base: &str, api_key: &str, deadline: Instant) -> Heroku {
        let client = Client::new("Heroku", base, Duration::from_millis(800))
            .with_header("Accept", ACCEPT)
            .with_header("Authorization", format!("Bearer {api_key}"))
            .with_deadline(deadline);
        Heroku { client }
    }

    fn call<T: DeserializeOwned>(&self, request: Request<'_>) -> Result<T> {
        let reply = self.client.send(request)?;
        parse(reply)
    }

    /// `GET /apps/{app}/{kind}/{id}`: one build, release or slug of the app.
    fn app_item<T: DeserializeOwned>(&self, app: &str, kind: &str, id: &str) -> Result<T> {
        self.call(Request::get(format!(
            "/apps/{}/{kind}/{}",
            http::segment(app),
            http::segment(id)
        )))
    }

    /// `GET /apps/{app}`.
    pub fn app(&self, app: &str) -> Result<App> {
        self.call(Request::get(format!("/apps/{}", http::segment(app))))
            .map_err(|e| explain_app_error(e, app))
    }

    /// The newest releases, newest first (`Range: version ..; max=N, order=desc`).
    pub fn recent_releases(&self, app: &str, max: u32) -> Result<Vec<Release>> {
        self.call(
            Request::get(format!("/apps/{}/releases", http::segment(app)))
                .header("Range", format!("version ..; max={max}, order=desc")),
        )
    }

    /// `GET /apps/{app}/releases/{id_or_version}`.
    pub fn release(&self, app: &str, id: &str) -> Result<Release> {
        self.app_item(app, "releases", id)
    }

    /// `GET /apps/{app}/slugs/{id}`.
    pub fn slug(&self, app: &str, id: &str) -> Result<Slug> {
        self.app_item(app, "slugs", id)
    }

    /// The live release and the commit its slug was built from: the newest release that is
    /// `current` and succeeded. `None` when the app has no live release. The commit is read
    /// from the slug rather than the release description, which is abbreviated and absent
    /// for config changes and rollbacks; config-only releases keep the previous slug, so it
    /// still names the running code.
    pub fn live_commit(&self, app: &str) -> Result<Option<LiveCommit>> {
        let releases = self
            .recent_releases(app, 25)
            .map_err(|e| explain_app_error(e, app))?;
        let Some(live) = releases
            .iter()
            .filter(|r| r.current && r.status == Status::Succeeded)
            .max_by_key(|r| r.version)
        else {
            return Ok(None);
        };
        let commit = match &live.slug {
            Some(slug) => self
                .slug(app, &slug.id)
                .with_context(|| format!("could not read the slug of {app} v{}", live.version))?
                .commit
                .filter(|c| !c.trim().is_empty()),
            None => None,
        };
        Ok(Some(LiveCommit {
            version: live.version,
            commit,
        }))
    }

    /// Whether preboot is on; `None` when the app has no such feature (e.g. Fir apps).
    pub fn preboot(&self, app: &str) -> Result<Option<bool>> {
        let reply = self.client.send(Request::get(format!(
            "/apps/{}/features/preboot",
            http::segment(app)
        )))?;
        if reply.status == 404 {
            return Ok(None);
        }
        let feature: Feature = parse(reply)?;
        Ok(Some(feature.enabled))
    }

    /// `POST /sources`: a pre-signed upload slot. Repeating it only leaves an unused slot, so it
    /// is retried like a read.
    pub fn create_source(&self) -> Result<SourceBlob> {
        let body = json!({});
        let source: Source =
            self.call(Request::post("/sources", Retry::Idempotent).body(Body::Json(&body)))?;
        http::register_url_secret(&source.source_blob.put_url);
        http::register_url_secret(&source.source_blob.get_url);
        Ok(source.source_blob)
    }

    /// Uploads the file to the pre-signed `put_url`: exact Content-Length, no Content-Type, no
    /// credentials.
    pub fn upload(&self, put_url: &str, file: &Path) -> Result<()> {
        let reply = self
            .client
            .send(Request::put(put_url).body(Body::File(file)))?;
        if reply.is_success() {
            return Ok(());
        }
        let detail = String::from_utf8_lossy(&reply.body);
        let code = xml_tag(&detail, "Code").unwrap_or_default();
        Err(anyhow!(
            "Heroku source upload {} answered {} {code}",
            reply.request,
            reply.status
        ))
    }

    /// `POST /apps/{app}/builds`. Not retried after a 5xx: it may have started a build.
    pub fn create_build(
        &self,
        app: &str,
        get_url: &str,
        commit: &str,
        checksum: &str,
        description: &str,
    ) -> Result<Build> {
        let body = json!({
            "source_blob": {
                "url": get_url,
                "version": commit,
                "checksum": checksum,
                "version_description": description,
            }
        });
        self.call(
            Request::post(format!("/apps/{}/builds", http::segment(app)), Retry::Once)
                .body(Body::Json(&body)),
        )
    }

    /// The newest builds, newest first (`Range: created_at ..; max=N, order=desc`, as the
    /// heroku-builds plugin asks): where a re-run finds the build a cancelled job started.
    pub fn recent_builds(&self, app: &str, max: u32) -> Result<Vec<Build>> {
        self.call(
            Request::get(format!("/apps/{}/builds", http::segment(app)))
                .header("Range", format!("created_at ..; max={max}, order=desc")),
        )
    }

    /// `GET /apps/{app}/builds/{id}`.
    pub fn build(&self, app: &str, id: &str) -> Result<Build> {
        self.app_item(app, "builds", id)
    }

    /// `GET /apps/{app}/dynos`.
    pub fn dynos(&self, app: &str) -> Result<Vec<Dyno>> {
        self.call(Request::get(format!("/apps/{}/dynos", http::segment(app))))
    }

    /// `GET /apps/{app}/formation`.
    pub fn formation(&self, app: &str) -> Result<Vec<Formation>> {
        self.call(Request::get(format!(
            "/apps/{}/formation",
            http::segment(app)
        )))
    }

    /// `POST /apps/{app}/releases {"release": id}`: a new release running the code and config
    /// of release `id`, described `Rollback to vN`. Not retried after a 5xx: it may have
    /// happened, and a second rollback would be another release.
    pub fn rollback(&self, app: &str, release_id: &str) -> Result<Release> {
        let body = json!({ "release": release_id });
        self.call(
            Request::post(
                format!("/apps/{}/releases", http::segment(app)),
                Retry::Once,
            )
            .body(Body::Json(&body)),
        )
    }

    /// `POST /apps/{app}/releases {"slug": id}`: releases existing compiled code (of this app or
    /// another app of the account) without a build.
    pub fn release_slug(&self, app: &str, slug_id: &str, description: &str) -> Result<Release> {
        let body = json!({ "slug": slug_id, "description": description });
        self.call(
            Request::post(
                format!("/apps/{}/releases", http::segment(app)),
                Retry::Once,
            )
            .body(Body::Json(&body)),
        )
    }

    /// The app's pipeline coupling, or `None` when it is in no pipeline.
    pub fn coupling(&self, app: &str) -> Result<Option<Coupling>> {
        let reply = self.client.send(Request::get(format!(
            "/apps/{}/pipeline-couplings",
            http::segment(app)
        )))?;
        if reply.status == 404 {
            return Ok(None);
        }
        parse(reply).map(Some)
    }

    /// `POST /pipeline-promotions` from `source` to every one of `targets` (app ids) in
    /// `pipeline`: one promotion, one release on each target.
    pub fn promote(&self, pipeline: &str, source: &str, targets: &[&str]) -> Result<Promotion> {
        let targets: Vec<Value> = targets
            .iter()
            .map(|id| json!({ "app": { "id": id } }))
            .collect();
        let body = json!({
            "pipeline": { "id": pipeline },
            "source": { "app": { "id": source } },
            "targets": targets,
        });
        self.call(Request::post("/pipeline-promotions", Retry::Once).body(Body::Json(&body)))
    }

    /// `GET /pipeline-promotions/{id}/promotion-targets`.
    pub fn promotion_targets(&self, id: &str) -> Result<Vec<PromotionTarget>> {
        self.call(Request::get(format!(
            "/pipeline-promotions/{}/promotion-targets",
            http::segment(id)
        )))
    }

    /// Opens an output stream (build or release phase).
    pub fn open_stream(&self, url: &str, idle: Duration) -> Result<http::Stream> {
        self.client.open_stream(url, idle)
    }
}

/// Checks that `app` can name a Heroku app before it goes into a request path: an app name
/// (Heroku's schema: `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`) or an app id (a UUID). `flag` is how
/// the user gave it, for the message.
pub fn check_app(flag: &str, app: &str) -> Result<(), String> {
    let b = app.as_bytes();
    let name = (3..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if name || uuid {
        return Ok(());
    }
    let shown: String = app
        .chars()
        .take(60)
        .collect::<String>()
        .escape_debug()
        .to_string();
    Err(format!(
        "{flag} `{shown}` is not a Heroku app: an app name is 3 to 30 lowercase letters, digits and dashes, starting with a letter and not ending with a dash (or give the app's id, a UUID)"
    ))
}

/// Turns a reply into `T`, or into an [`ApiError`] carrying Heroku's message.
fn parse<T: DeserializeOwned>(reply: Reply) -> Result<T> {
    if !reply.is_success() {
        let body: Option<ErrorBody> = serde_json::from_slice(&reply.body).ok();
        return Err(anyhow!(ApiError {
            request: reply.request,
            status: reply.status,
            id: body.as_ref().and_then(|b| b.id.clone()),
            message: body.and_then(|b| b.message),
        }));
    }
    serde_json::from_slice(&reply.body).with_context(|| {
        format!(
            "Heroku {} answered {} with a body that is not the expected JSON ({} bytes)",
            reply.request,
            reply.status,
            reply.body.len()
        )
    })
}

/// Adds what to do to the errors of reading the app: the app name and key are the usual causes.
fn explain_app_error(error: anyhow::Error, app: &str) -> anyhow::Error {
    let hint = match error.downcast_ref::<ApiError>() {
        Some(e) if e.status == 404 => format!(
            "app `{app}` was not found or the HEROKU_API_KEY account cannot see it: check --app (SHIPLINE_APP) and that the account is a collaborator"
        ),
        Some(e) if e.status == 401 => {
            "Heroku rejected HEROKU_API_KEY".to_string()
        }
        _ => format!("could not read app `{app}`"),
    };
    error.context(hint)
}

/// The text of the first `<tag>` in an S3 XML error body.
fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(description: &str) -> Release {
        serde_json::from_value(json!({
            "id": "01234567-89ab-cdef-0123-456789abcdef",
            "version": 7,
            "description": description,
            "status": "succeeded",
            "current": true,
            "slug": {"id": "slug-1"},
            "future_field": [1, 2]
        }))
        .unwrap()
    }

    #[test]
    fn recognises_rollback_releases() {
        assert_eq!(
            rollback_target(&release("Rollback to v41").description),
            Some(41)
        );
        assert_eq!(
            rollback_target(&release("Deploy 1a2b3c4d").description),
            None
        );
        assert_eq!(rollback_target("Rollback to vX"), None);
    }

    #[test]
    fn unknown_statuses_are_kept_not_fatal() {
        let build: Build = serde_json::from_value(json!({"id": "b", "status": "queued"})).unwrap();
        assert_eq!(build.status, Status::Unknown);
    }

    #[test]
    fn api_errors_carry_herokus_message_and_the_fix() {
        let reply = Reply::for_test(
            401,
            br#"{"id":"unauthorized","message":"Invalid credentials provided."}"#,
            "GET /apps/demo",
        );
        let err = parse::<App>(reply).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "Heroku GET /apps/demo answered 401 unauthorized: Invalid credentials provided."
            ),
            "{err}"
        );
        assert!(err.contains("HEROKU_API_KEY"), "{err}");
    }

    #[test]
    fn malformed_json_names_the_endpoint() {
        let reply = Reply::for_test(200, b"<html>", "GET /apps/demo/releases");
        let err = format!("{:#}", parse::<Vec<Release>>(reply).unwrap_err());
        assert!(err.contains("GET /apps/demo/releases"), "{err}");
        assert!(err.contains("not the expected JSON"), "{err}");
    }

    #[test]
    fn app_names_are_checked_before_they_reach_a_path() {
        for ok in [
            "shop",
            "my-app-staging",
            "a1b",
            "01234567-89ab-cdef-0123-456789abcdef",
        ] {
            assert_eq!(check_app("--app", ok), Ok(()), "{ok}");
        }
        for bad in [
            "..", "a/b", "ab", "Shop", "shop-", "1shop", "shop?x", "shop#x", "", "ü-app",
        ] {
            let why = check_app("--app", bad).unwrap_err();
            assert!(why.starts_with("--app `"), "{why}");
        }
        assert!(check_app("--app", &"a".repeat(31)).is_err());
    }

    #[test]
    fn reads_s3_errors() {
        assert_eq!(
            xml_tag("<Error><Code>SignatureDoesNotMatch</Code></Error>", "Code").as_deref(),
            Some("SignatureDoesNotMatch")
        );
    }
}
