//! A fake Heroku Platform API (plus the S3 stand-in for source blobs and the output streams)
//! that behaves as Heroku's public reference and JSON schema describe it, scriptable per test.
//!
//! What it reproduces: the v3 `Accept` and bearer-token checks (406/401), the rate-limit token
//! bucket (`RateLimit-Remaining`, 429), `Request-Id`, `ETag`/`If-None-Match`, `Range` paging
//! with 206 + `Next-Range`, error bodies `{"id","message"}`, `POST /sources` with pre-signed
//! blob URLs whose `PUT` follows S3's rules, builds that fetch and checksum their source and
//! stream their output, releases with version numbers, `current`, release phases and rollback,
//! and dynos per formation.
//!
//! Dynos follow a timeline per release change (see [`DynoBoot`]): the previous release's
//! dynos stay listed for a while, the new ones appear `starting` and settle `up` or `crashed`
//! (all, or one); with preboot the old web dynos keep serving for a configurable overlap after
//! the new ones are up. One-off (`run`) dynos stay on their release and a running release
//! phase shows as a `release` dyno. Pipelines, couplings and pipeline promotions copy a slug to
//! the targets, whose release phases run; a release may also be created from a slug of another
//! app of the account.
//!
//! The rate-limit bucket refills as Heroku's does, one token every 800 ms up to 4500
//! ([`Heroku::set_rate_limit_refill`] changes the pace).
//!
//! Over HTTPS ([`Heroku::start_tls`], or [`Config::tls`]) the API, the blob URLs `POST
//! /sources` hands out and the build and release output stream URLs are all `https://`.
//!
//! Known divergences: `source_blob.url` may be `http://` (when started without TLS); preboot overlaps dynos in the list but routes nothing
//! (pair it with a [`crate::Target`] scripted to serve the old version for a while); dynos are
//! named `web.1` (Cedar style) and never restart on their own; there are no config vars,
//! add-ons, review apps or Fir apps.

mod api;
mod blobs;
mod dynos;
mod model;
mod pipelines;
mod range;
mod script;
mod streams;

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use self::api::{lock, Shared};
use self::model::{App, FailureRule, Formation, Release, Slug, State};
pub use self::script::{DynoBoot, Script, DEFAULT_DELAY};
use crate::server::{Request, Server};
use crate::tls::ServerCert;
use crate::util::uuid;

/// A request the sandbox received (API, blob or stream), as it arrived.
pub type Recorded = Request;

/// How to start a [`Heroku`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The only API key accepted (`Authorization: Bearer <key>`).
    pub api_key: String,
    /// Port on 127.0.0.1; `0` picks a free one.
    pub port: u16,
    /// The account's email (`GET /account`, `user.email` of builds and releases).
    pub email: String,
    /// Tokens in the rate-limit bucket at start (Heroku: 4500).
    pub rate_limit: u32,
    /// Serve HTTPS with this certificate (see [`crate::tls`]); `None`: plain HTTP.
    pub tls: Option<ServerCert>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            api_key: uuid(),
            port: 0,
            email: "deployer@example.com".into(),
            rate_limit: 4500,
            tls: None,
        }
    }
}

/// The identity of an app created in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRef {
    pub id: String,
    pub name: String,
}

/// A failure to inject into matching requests, before any other handling (so it works for
/// API, blob and stream URLs alike, and does not consume rate-limit tokens).
#[derive(Clone, Debug)]
pub struct Failure {
    /// Method to match, or `*` for any.
    pub method: String,
    /// Exact path (no query) to match, or a prefix ending in `*` (`/apps/my-app/*`).
    pub path: String,
    /// HTTP status to answer.
    pub status: u16,
    /// How many matching requests fail.
    pub times: usize,
    /// Error id in the body; defaults to Heroku's for the status (`rate_limit` for 429,
    /// `service_unavailable` for 503, ...).
    pub id: Option<String>,
    /// Error message; defaults to one fitting the status.
    pub message: Option<String>,
    /// `Retry-After` seconds to send; [`Failure::new`] sets 1 for 429, none otherwise.
    pub retry_after: Option<u64>,
}

impl Failure {
    /// Fails the next `times` requests matching `method` and `path` with `status`.
    pub fn new(method: &str, path: &str, status: u16, times: usize) -> Failure {
        Failure {
            method: method.into(),
            path: path.into(),
            status,
            times,
            id: None,
            message: None,
            retry_after: (status == 429).then_some(1),
        }
    }

    /// Sets the error id and message (e.g. `two_factor`).
    pub fn body(mut self, id: &str, message: &str) -> Failure {
        self.id = Some(id.into());
        self.message = Some(message.into());
        self
    }

    /// Sets or removes `Retry-After`.
    pub fn retry_after(mut self, seconds: Option<u64>) -> Failure {
        self.retry_after = seconds;
        self
    }
}

/// A running fake Heroku on 127.0.0.1. Dropping it stops the server.
pub struct Heroku {
    shared: Shared,
    api_key: String,
    url: String,
    server: Option<Server>,
}

impl Heroku {
    /// Starts on a random port with a random API key; panics if it cannot bind (tests).
    pub fn start() -> Heroku {
        Heroku::start_with(Config::default()).expect("sandbox: cannot start the fake Heroku")
    }

    /// Starts over HTTPS with `cert` (e.g. [`crate::TestCa::server_cert`]) on a random port
    /// with a random API key; panics if it cannot bind (tests). [`Heroku::url`] is then
    /// `https://127.0.0.1:PORT`, and so are the blob and output stream URLs it hands out.
    pub fn start_tls(cert: &ServerCert) -> Heroku {
        Heroku::start_with(Config {
            tls: Some(cert.clone()),
            ..Config::default()
        })
        .expect("sandbox: cannot start the fake Heroku")
    }

    /// Starts with explicit settings.
    pub fn start_with(config: Config) -> io::Result<Heroku> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", listener.local_addr()?);
        let state = State::new(
            url.clone(),
            config.api_key.clone(),
            config.email,
            config.rate_limit,
        );
        let shared: Shared = Arc::new(Mutex::new(state));
        let handler_state = shared.clone();
        let server = Server::serve_with(
            listener,
            Arc::new(move |req| api::handle(&handler_state, req)),
            config.tls.as_ref(),
        )?;
        Ok(Heroku {
            shared,
            api_key: config.api_key,
            url,
            server: Some(server),
        })
    }

    /// The API base URL, `http://127.0.0.1:PORT` (`https://` when started with TLS; what
    /// `SHIPLINE_HEROKU_API_URL` takes).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The accepted API key (what `HEROKU_API_KEY` takes).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The account's email.
    pub fn email(&self) -> String {
        self.state().account.email.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = lock(&self.shared);
        state.settle(Instant::now());
        state
    }

    fn with_app<T>(&self, app: &str, f: impl FnOnce(&mut App) -> T) -> T {
        let mut state = self.state();
        f(state.app_mut(app))
    }

    /// Creates a Cedar app like a fresh real one: formation `web=1`, and release v1
    /// `Initial release` without a slug, current.
    pub fn create_app(&self, name: &str) -> AppRef {
        let mut state = self.state();
        assert!(
            state.app_index(name).is_none(),
            "sandbox: app {name:?} already exists"
        );
        let app = App::new(name);
        let app_ref = AppRef {
            id: app.id.clone(),
            name: app.name.clone(),
        };
        state.apps.push(app);
        app_ref
    }

    /// Adds a succeeded release that becomes current at once, whose slug has `commit`.
    /// `description` defaults to `Deploy <commit[0..8]>` (pass `Rollback to v3` to pretend a
    /// rollback happened). Returns its version. No release phase runs.
    pub fn seed_release(&self, app: &str, commit: &str, description: Option<&str>) -> u64 {
        self.with_app(app, |a| {
            let now = std::time::SystemTime::now();
            let slug = Slug {
                id: uuid(),
                commit: Some(commit.into()),
                commit_description: Some(format!("Commit {}", &commit[..commit.len().min(8)])),
                checksum: Some(format!(
                    "SHA256:{}",
                    crate::util::sha256_hex(commit.as_bytes())
                )),
                process_types: vec![("web".into(), "npm start".into())],
                size: 48_300_000,
                created: now,
            };
            let description = description
                .map(str::to_string)
                .unwrap_or_else(|| model::deploy_description(Some(commit), &slug.id));
            let release = Release {
                id: uuid(),
                version: a.next_version(),
                description,
                slug_id: Some(slug.id.clone()),
                t0: Instant::now(),
                created: now,
                phase: None,
                boot: a.next_boots.pop_front(),
            };
            let version = release.version;
            a.slugs.push(slug);
            a.releases.push(release);
            version
        })
    }

    /// Turns the preboot feature on or off.
    pub fn set_preboot(&self, app: &str, enabled: bool) {
        self.with_app(app, |a| a.preboot = enabled);
    }

    /// Turns maintenance mode on or off.
    pub fn set_maintenance(&self, app: &str, on: bool) {
        self.with_app(app, |a| a.maintenance = on);
    }

    /// Gives the app a release phase (the formation gains a `release` entry) that plays
    /// `script` on every new release; `None` removes it.
    pub fn set_release_phase(&self, app: &str, script: Option<Script>) {
        self.with_app(app, |a| {
            a.formation.retain(|f| f.kind != "release");
            if script.is_some() {
                a.formation.push(Formation {
                    id: uuid(),
                    kind: "release".into(),
                    quantity: 0,
                    size: "Basic".into(),
                    command: "npm run migrate".into(),
                    created: std::time::SystemTime::now(),
                });
            }
            a.release_phase = script;
        });
    }

    /// Sets how many dynos of `process_type` run (adding the type if missing).
    pub fn set_formation(&self, app: &str, process_type: &str, quantity: u32) {
        self.with_app(app, |a| {
            if let Some(f) = a.formation.iter_mut().find(|f| f.kind == process_type) {
                f.quantity = quantity;
            } else {
                a.formation.push(Formation {
                    id: uuid(),
                    kind: process_type.into(),
                    quantity,
                    size: "Basic".into(),
                    command: format!("npm run {process_type}"),
                    created: std::time::SystemTime::now(),
                });
            }
        });
    }

    /// Scripts the next build of the app (queued: each call scripts one more build).
    pub fn script_next_build(&self, app: &str, script: Script) {
        self.with_app(app, |a| a.next_builds.push_back(script));
    }

    /// Scripts every build not scripted by [`Heroku::script_next_build`]; `None` restores
    /// the default (three lines, 20 ms apart, succeeds).
    pub fn script_every_build(&self, app: &str, script: Option<Script>) {
        self.with_app(app, |a| a.every_build = script);
    }

    /// How the dynos of every newly current release come up (when they appear, how long they
    /// are `starting`, then `up` or `crashed`) unless the release was scripted alone with
    /// [`Heroku::script_next_dyno_boot`]. Applies to releases already created too.
    pub fn set_dyno_boot(&self, app: &str, boot: DynoBoot) {
        self.with_app(app, |a| a.dyno_boot = boot);
    }

    /// Scripts how the dynos of the next release created on the app boot (queued: each call
    /// scripts one more release; builds, rollbacks, promotions and seeded releases all count).
    /// Later releases boot as [`Heroku::set_dyno_boot`] says: a deploy can crash and the
    /// rollback after it come up.
    pub fn script_next_dyno_boot(&self, app: &str, boot: DynoBoot) {
        self.with_app(app, |a| a.next_boots.push_back(boot));
    }

    /// With preboot on: how long the previous release's web dynos stay listed `up` after the
    /// new ones have booted (default 0: they go when the new ones are up).
    pub fn set_preboot_overlap(&self, app: &str, overlap: Duration) {
        self.with_app(app, |a| a.preboot_overlap = overlap);
    }

    /// Starts a one-off dyno of type `kind` (`run` for `heroku run`) on the current release;
    /// it stays `up` there, also after a newer release becomes current. Returns its name,
    /// like `run.4821`.
    pub fn add_one_off_dyno(&self, app: &str, kind: &str) -> String {
        let now = Instant::now();
        self.with_app(app, |a| {
            let (release_id, version) = a
                .current(now)
                .map(|r| (r.id.clone(), r.version))
                .expect("an app always has a current release");
            let id = uuid();
            let mut name = format!("{kind}.{}", dynos::four_digits(&id));
            while a.one_offs.iter().any(|d| d.name == name) {
                name = format!("{kind}.{}", dynos::four_digits(&name));
            }
            a.one_offs.push(dynos::OneOff {
                id,
                name: name.clone(),
                kind: kind.into(),
                state: "up".into(),
                release_id,
                version,
                created: std::time::SystemTime::now(),
            });
            name
        })
    }

    /// Sets a one-off dyno's state, e.g. `crashed` for a `heroku run` whose command failed.
    pub fn set_one_off_state(&self, app: &str, name: &str, state: &str) {
        self.with_app(app, |a| {
            if let Some(d) = a.one_offs.iter_mut().find(|d| d.name == name) {
                d.state = state.into();
            }
        });
    }

    /// Creates a pipeline (name like `shop`, `^[a-z][a-z0-9-]{2,29}$`); returns its id.
    pub fn create_pipeline(&self, name: &str) -> String {
        pipelines::create(&mut self.state(), name)
    }

    /// Adds an app to a pipeline at `stage` (`test`, `review`, `development`, `staging` or
    /// `production`); an app is in one pipeline at most. Returns the coupling id.
    pub fn couple(&self, pipeline_id: &str, app: &str, stage: &str) -> String {
        pipelines::couple(&mut self.state(), pipeline_id, app, stage)
    }

    /// How long a pipeline promotion takes before each target has its release (its
    /// `release` is null until then); default [`DEFAULT_DELAY`].
    pub fn set_promotion_delay(&self, delay: Duration) {
        self.state().promotion_delay = delay;
    }

    /// Every pipeline promotion as `GET /pipeline-promotions/{id}` renders it, with its
    /// targets as `GET .../promotion-targets` renders them under `"targets"`, oldest first.
    pub fn promotions(&self) -> Vec<Value> {
        let now = Instant::now();
        let state = self.state();
        state
            .promotions
            .iter()
            .map(|p| {
                let mut value = pipelines::promotion_json(&state, p, now);
                value["targets"] = Value::Array(pipelines::targets_json(&state, p, now));
                value
            })
            .collect()
    }

    /// Fails the next `times` requests matching `method` (or `*`) and `path` (exact, or a
    /// prefix ending in `*`) with `status`; 429 comes with `Retry-After: 1`.
    pub fn fail_next(&self, method: &str, path: &str, status: u16, times: usize) {
        self.inject(Failure::new(method, path, status, times));
    }

    /// Injects a failure with full control over its body and headers.
    pub fn inject(&self, failure: Failure) {
        self.state().failures.push(FailureRule {
            method: failure.method,
            path: failure.path,
            status: failure.status,
            remaining: failure.times,
            id: failure.id,
            message: failure.message,
            retry_after: failure.retry_after,
        });
    }

    /// Sets the tokens left in the rate-limit bucket; at 0 every API call answers 429.
    pub fn set_rate_limit_remaining(&self, n: u32) {
        let mut state = self.state();
        state.rate_limit_remaining = n;
        state.rate_limit_refilled = Instant::now();
    }

    /// How often the rate-limit bucket gains a token back (default 800 ms, as Heroku).
    pub fn set_rate_limit_refill(&self, every: Duration) {
        self.state().rate_limit_refill = every;
    }

    /// Tokens left in the rate-limit bucket.
    pub fn rate_limit_remaining(&self) -> u32 {
        self.state().rate_limit_remaining
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// Bodies uploaded to source blobs, in the order the blobs were created.
    pub fn blobs(&self) -> Vec<Vec<u8>> {
        self.state()
            .blobs
            .iter()
            .filter_map(|b| b.data.clone())
            .collect()
    }

    /// The app's releases as `GET /apps/{app}/releases` renders them, oldest first.
    pub fn releases(&self, app: &str) -> Vec<Value> {
        let now = Instant::now();
        let state = self.state();
        let a = app_of(&state, app);
        let mut releases: Vec<&Release> = a.releases.iter().collect();
        releases.sort_by_key(|r| r.version);
        releases
            .into_iter()
            .map(|r| state.release_json(a, r, now))
            .collect()
    }

    /// The app's builds as the API renders them, oldest first.
    pub fn builds(&self, app: &str) -> Vec<Value> {
        let now = Instant::now();
        let state = self.state();
        let a = app_of(&state, app);
        a.builds
            .iter()
            .map(|b| state.build_json(a, b, now))
            .collect()
    }

    /// The app's slugs as the API renders them, oldest first.
    pub fn slugs(&self, app: &str) -> Vec<Value> {
        let state = self.state();
        let a = app_of(&state, app);
        a.slugs.iter().map(|s| state.slug_json(s)).collect()
    }

    /// The app's dynos as `GET /apps/{app}/dynos` renders them now.
    pub fn dynos(&self, app: &str) -> Vec<Value> {
        let state = self.state();
        state.dynos_json(app_of(&state, app), Instant::now())
    }

    /// The output a build has produced so far (placeholders filled in).
    pub fn build_output(&self, app: &str, build_id: &str) -> Vec<String> {
        let state = self.state();
        let a = app_of(&state, app);
        let build = a
            .builds
            .iter()
            .find(|b| b.id == build_id)
            .unwrap_or_else(|| panic!("sandbox: no build {build_id} on {app}"));
        let version = a.version_for_build(build);
        build
            .timeline
            .lines_until(Instant::now())
            .iter()
            .map(|l| a.fill(l, version))
            .collect()
    }
}

fn app_of<'a>(state: &'a State, app: &str) -> &'a App {
    let i = state
        .app_index(app)
        .unwrap_or_else(|| panic!("sandbox: no app named {app:?}; call create_app first"));
    &state.apps[i]
}

impl Drop for Heroku {
    fn drop(&mut self) {
        lock(&self.shared).stopped = true;
        self.server.take();
    }
}
