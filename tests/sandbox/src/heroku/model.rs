//! The fake's data: apps, builds, releases, slugs, blobs, and how they evolve with time.
//!
//! Progress is not driven by background threads: every object remembers when it was created
//! and its script, and its state at any instant is derived from the clock. Builds that have
//! finished are "settled" (their slug and release created) lazily, in the order they finished,
//! before any request or accessor looks at the data.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::dynos;
use super::pipelines::{Coupling, Pipeline, Promotion};
use super::script::{DynoBoot, Script};
use crate::server::Request;
use crate::util::{after, rfc3339, sha256_hex, uuid, uuid_from};

/// Stack every app builds on.
pub const STACK: &str = "heroku-24";

/// An injected failure (see [`super::Failure`]).
#[derive(Clone, Debug)]
pub struct FailureRule {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub remaining: usize,
    pub id: Option<String>,
    pub message: Option<String>,
    pub retry_after: Option<u64>,
}

impl FailureRule {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method == "*" || self.method.eq_ignore_ascii_case(method);
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        };
        self.remaining > 0 && method_ok && path_ok
    }
}

pub struct Account {
    pub id: String,
    pub email: String,
    pub created: SystemTime,
}

pub struct Blob {
    pub id: String,
    pub data: Option<Vec<u8>>,
}

pub struct Formation {
    pub id: String,
    pub kind: String,
    pub quantity: u32,
    pub size: String,
    pub command: String,
    pub created: SystemTime,
}

pub struct SourceBlob {
    pub url: String,
    pub version: Option<String>,
    pub checksum: Option<String>,
    pub version_description: Option<String>,
}

/// A scripted timeline anchored at an instant.
#[derive(Clone)]
pub struct Timeline {
    pub t0: Instant,
    pub at: SystemTime,
    pub script: Script,
}

impl Timeline {
    /// When output starts.
    pub fn start(&self) -> Instant {
        self.t0 + self.script.start_after
    }

    /// When the outcome is known.
    pub fn end(&self) -> Instant {
        self.start() + self.script.duration()
    }

    /// Lines whose time has come.
    pub fn lines_until(&self, now: Instant) -> Vec<String> {
        let mut t = self.start();
        let mut out = Vec::new();
        for (delay, line) in &self.script.lines {
            t += *delay;
            if t > now {
                break;
            }
            out.push(line.clone());
        }
        out
    }

    /// The next instant something happens after `now` (a line or the end).
    pub fn next_event(&self, now: Instant) -> Instant {
        let mut t = self.start();
        for (delay, _) in &self.script.lines {
            t += *delay;
            if t > now {
                return t;
            }
        }
        self.end()
    }

    pub fn finished(&self, now: Instant) -> bool {
        now >= self.end()
    }

    /// Wall-clock time of the end.
    pub fn end_at(&self) -> SystemTime {
        after(self.at, self.end() - self.t0)
    }
}

pub struct Build {
    pub id: String,
    pub timeline: Timeline,
    pub source_blob: SourceBlob,
    pub buildpacks: Vec<Value>,
    pub process_types: Vec<(String, String)>,
    pub source_size: u64,
    /// Set once the build has finished and its slug and release (if any) exist.
    pub settled: bool,
    pub slug_id: Option<String>,
    pub release_id: Option<String>,
}

impl Build {
    pub fn status(&self, now: Instant) -> &'static str {
        if !self.timeline.finished(now) {
            "pending"
        } else if self.timeline.script.succeeds {
            "succeeded"
        } else {
            "failed"
        }
    }
}

#[derive(Clone)]
pub struct Slug {
    pub id: String,
    pub commit: Option<String>,
    pub commit_description: Option<String>,
    pub checksum: Option<String>,
    pub process_types: Vec<(String, String)>,
    pub size: u64,
    pub created: SystemTime,
}

pub struct Release {
    pub id: String,
    pub version: u64,
    pub description: String,
    pub slug_id: Option<String>,
    pub t0: Instant,
    pub created: SystemTime,
    /// The release phase, when the app had one at release time.
    pub phase: Option<Timeline>,
    /// How its dynos boot, when scripted for this release alone
    /// ([`super::Heroku::script_next_dyno_boot`]); else the app's boot applies.
    pub boot: Option<DynoBoot>,
}

impl Release {
    pub fn status(&self, now: Instant) -> &'static str {
        match &self.phase {
            None => "succeeded",
            Some(p) if !p.finished(now) => "pending",
            Some(p) if p.script.succeeds => "succeeded",
            Some(_) => "failed",
        }
    }

    /// When the release's outcome was known (it became current then, if it succeeded).
    pub fn done_at(&self) -> (Instant, SystemTime) {
        match &self.phase {
            None => (self.t0, self.created),
            Some(p) => (p.end(), p.end_at()),
        }
    }

    pub fn updated(&self, now: Instant) -> SystemTime {
        match &self.phase {
            Some(p) if p.finished(now) => p.end_at(),
            _ => self.created,
        }
    }
}

pub struct App {
    pub id: String,
    pub name: String,
    pub created: SystemTime,
    pub maintenance: bool,
    pub preboot: bool,
    pub preboot_id: String,
    pub release_phase: Option<Script>,
    pub next_builds: VecDeque<Script>,
    pub every_build: Option<Script>,
    pub formation: Vec<Formation>,
    pub dyno_boot: DynoBoot,
    /// Boots scripted for the next releases, one each, before `dyno_boot` applies.
    pub next_boots: VecDeque<DynoBoot>,
    /// With preboot: how long the previous web dynos stay after the new ones are up.
    pub preboot_overlap: Duration,
    /// One-off dynos (`heroku run`), listed until the sandbox stops.
    pub one_offs: Vec<dynos::OneOff>,
    pub buildpacks: Vec<String>,
    pub builds: Vec<Build>,
    pub releases: Vec<Release>,
    pub slugs: Vec<Slug>,
    /// Suffix of the `herokuapp.com` host name, like Heroku's random one.
    pub host_suffix: String,
}

impl App {
    pub fn new(name: &str) -> App {
        let now = SystemTime::now();
        let id = uuid();
        let mut app = App {
            host_suffix: uuid_from(&id).replace('-', "")[..12].to_string(),
            id,
            name: name.to_string(),
            created: now,
            maintenance: false,
            preboot: false,
            preboot_id: uuid(),
            release_phase: None,
            next_builds: VecDeque::new(),
            every_build: None,
            formation: vec![Formation {
                id: uuid(),
                kind: "web".into(),
                quantity: 1,
                size: "Basic".into(),
                command: "npm start".into(),
                created: now,
            }],
            dyno_boot: DynoBoot::default(),
            next_boots: VecDeque::new(),
            preboot_overlap: Duration::ZERO,
            one_offs: Vec::new(),
            buildpacks: vec!["heroku/nodejs".into()],
            builds: Vec::new(),
            releases: Vec::new(),
            slugs: Vec::new(),
        };
        app.releases.push(Release {
            id: uuid(),
            version: 1,
            description: "Initial release".into(),
            slug_id: None,
            t0: Instant::now(),
            created: now,
            phase: None,
            boot: None,
        });
        app
    }

    pub fn web_url(&self) -> String {
        format!("https://{}-{}.herokuapp.com/", self.name, self.host_suffix)
    }

    pub fn next_version(&self) -> u64 {
        self.releases.iter().map(|r| r.version).max().unwrap_or(0) + 1
    }

    /// The live release: the newest one that succeeded.
    pub fn current(&self, now: Instant) -> Option<&Release> {
        self.releases
            .iter()
            .filter(|r| r.status(now) == "succeeded")
            .max_by_key(|r| r.version)
    }

    pub fn slug(&self, id: &str) -> Option<&Slug> {
        self.slugs.iter().find(|s| s.id == id)
    }

    /// How the dynos of `release` boot.
    pub fn boot_of<'a>(&'a self, release: &'a Release) -> &'a DynoBoot {
        release.boot.as_ref().unwrap_or(&self.dyno_boot)
    }

    /// Adds a release of `slug_id` (running the release phase when the app has one).
    pub fn add_release(
        &mut self,
        slug_id: Option<String>,
        description: String,
        t0: Instant,
        at: SystemTime,
    ) -> &Release {
        let phase = self
            .release_phase
            .clone()
            .map(|script| Timeline { t0, at, script });
        let release = Release {
            id: uuid(),
            version: self.next_version(),
            description,
            slug_id,
            t0,
            created: at,
            phase,
            boot: self.next_boots.pop_front(),
        };
        self.releases.push(release);
        self.releases.last().expect("just pushed")
    }

    /// Creates the slug and release of every build that has finished by `now`.
    pub fn settle(&mut self, now: Instant) {
        loop {
            let next = self
                .builds
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.settled && b.timeline.finished(now))
                .min_by_key(|(_, b)| b.timeline.end())
                .map(|(i, _)| i);
            let Some(i) = next else { return };
            self.builds[i].settled = true;
            if !self.builds[i].timeline.script.succeeds {
                continue;
            }
            let build = &self.builds[i];
            let (t0, at) = (build.timeline.end(), build.timeline.end_at());
            let slug = Slug {
                id: uuid(),
                commit: build.source_blob.version.clone(),
                commit_description: build.source_blob.version_description.clone(),
                checksum: Some(format!(
                    "SHA256:{}",
                    sha256_hex(format!("slug of {}", build.id).as_bytes())
                )),
                process_types: build.process_types.clone(),
                size: 48_300_000 + build.source_size,
                created: at,
            };
            let description = deploy_description(slug.commit.as_deref(), &slug.id);
            let slug_id = slug.id.clone();
            self.slugs.push(slug);
            let release_id = self
                .add_release(Some(slug_id.clone()), description, t0, at)
                .id
                .clone();
            let build = &mut self.builds[i];
            build.slug_id = Some(slug_id);
            build.release_id = Some(release_id);
        }
    }

    /// The version the next (or this build's) release has or will have, for `{version}`.
    pub fn version_for_build(&self, build: &Build) -> u64 {
        build
            .release_id
            .as_ref()
            .and_then(|id| self.releases.iter().find(|r| &r.id == id))
            .map(|r| r.version)
            .unwrap_or_else(|| self.next_version())
    }

    pub fn fill(&self, line: &str, version: u64) -> String {
        line.replace("{version}", &version.to_string())
            .replace("{app}", &self.name)
            .replace("{web_url}", &self.web_url())
    }
}

/// `Deploy <first 8 of the commit>` as Heroku describes code releases.
pub fn deploy_description(commit: Option<&str>, slug_id: &str) -> String {
    let short = commit.unwrap_or(slug_id);
    format!("Deploy {}", &short[..short.len().min(8)])
}

/// Everything the fake knows, behind one mutex.
pub struct State {
    pub base_url: String,
    pub api_key: String,
    pub account: Account,
    pub apps: Vec<App>,
    pub blobs: Vec<Blob>,
    pub requests: Vec<Request>,
    pub rate_limit_remaining: u32,
    /// The bucket's size: Heroku's 4500 tokens.
    pub rate_limit_max: u32,
    /// How often one token comes back (Heroku: 4500 an hour, one every 800 ms).
    pub rate_limit_refill: Duration,
    /// When the bucket last gained a token (or was full).
    pub rate_limit_refilled: Instant,
    pub failures: Vec<FailureRule>,
    pub pipelines: Vec<Pipeline>,
    pub couplings: Vec<Coupling>,
    pub promotions: Vec<Promotion>,
    /// How long a promotion takes to create the targets' releases (`release` is null until).
    pub promotion_delay: Duration,
    pub stopped: bool,
    pub region_id: String,
    pub stack_id: String,
    pub generation_id: String,
    pub created: SystemTime,
}

impl State {
    /// Gives back the tokens earned since the last refill, as Heroku's bucket does.
    pub fn refill_rate_limit(&mut self, now: Instant) {
        if self.rate_limit_remaining >= self.rate_limit_max {
            self.rate_limit_refilled = now;
            return;
        }
        let earned = now
            .saturating_duration_since(self.rate_limit_refilled)
            .as_nanos()
            / self.rate_limit_refill.as_nanos().max(1);
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.rate_limit_remaining = self
                .rate_limit_remaining
                .saturating_add(earned)
                .min(self.rate_limit_max);
            self.rate_limit_refilled += self.rate_limit_refill * earned.min(self.rate_limit_max);
        }
    }

    pub fn new(base_url: String, api_key: String, email: String, rate_limit: u32) -> State {
        let now = SystemTime::now();
        State {
            base_url,
            api_key,
            account: Account {
                id: uuid(),
                email,
                created: now,
            },
            apps: Vec::new(),
            blobs: Vec::new(),
            requests: Vec::new(),
            rate_limit_remaining: rate_limit,
            rate_limit_max: 4500,
            rate_limit_refill: Duration::from_millis(800),
            rate_limit_refilled: Instant::now(),
            failures: Vec::new(),
            pipelines: Vec::new(),
            couplings: Vec::new(),
            promotions: Vec::new(),
            promotion_delay: super::script::DEFAULT_DELAY,
            stopped: false,
            region_id: uuid(),
            stack_id: uuid(),
            generation_id: uuid(),
            created: now,
        }
    }

    pub fn settle(&mut self, now: Instant) {
        for app in &mut self.apps {
            app.settle(now);
        }
        super::pipelines::settle(self, now);
    }

    /// An app by name or id.
    pub fn app_index(&self, ident: &str) -> Option<usize> {
        self.apps
            .iter()
            .position(|a| a.name == ident || a.id == ident)
    }

    /// An app by name or id; panics with a clear message (test helper use).
    pub fn app_mut(&mut self, ident: &str) -> &mut App {
        let i = self
            .app_index(ident)
            .unwrap_or_else(|| panic!("sandbox: no app named {ident:?}; call create_app first"));
        &mut self.apps[i]
    }

    /// The signature carried by a blob URL for `method`, like a pre-signed S3 URL.
    pub fn blob_signature(&self, method: &str, blob_id: &str) -> String {
        sha256_hex(format!("{method} {blob_id} {}", self.api_key).as_bytes())
    }

    /// A pre-signed URL for a blob.
    pub fn blob_url(&self, method: &str, blob_id: &str) -> String {
        let date = rfc3339(self.created).replace(['-', ':'], "");
        format!(
            "{}/blobs/{blob_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIASANDBOXEXAMPLE%2F{}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
            self.base_url,
            &date[..8],
            self.blob_signature(method, blob_id)
        )
    }

    pub fn user(&self) -> Value {
        json!({"id": self.account.id, "email": self.account.email})
    }

    // ----- renderings (shapes of Heroku's schema) -----

    pub fn account_json(&self) -> Value {
        let created = rfc3339(self.account.created);
        json!({
            "allow_tracking": true,
            "beta": false,
            "created_at": created,
            "email": self.account.email,
            "federated": false,
            "id": self.account.id,
            "identity_provider": null,
            "last_login": created,
            "name": "Sandbox Deployer",
            "sms_number": null,
            "suspended_at": null,
            "delinquent_at": null,
            "two_factor_authentication": false,
            "updated_at": created,
            "verified": true,
            "country_of_residence": null,
            "default_organization": null,
            "default_team": null,
        })
    }

    pub fn app_json(&self, app: &App, now: Instant) -> Value {
        let current = app.current(now);
        let released_at = current.map(|r| rfc3339(r.done_at().1));
        let slug_size = current
            .and_then(|r| r.slug_id.as_deref())
            .and_then(|id| app.slug(id))
            .map(|s| s.size);
        let stack = json!({"id": self.stack_id, "name": STACK});
        json!({
            "acm": false,
            "archived_at": null,
            "buildpack_provided_description": "Node.js",
            "build_stack": stack,
            "created_at": rfc3339(app.created),
            "generation": {"id": self.generation_id, "name": "cedar"},
            "git_url": format!("https://git.heroku.com/{}.git", app.name),
            "id": app.id,
            "internal_routing": null,
            "maintenance": app.maintenance,
            "name": app.name,
            "owner": self.user(),
            "organization": null,
            "team": null,
            "region": {"id": self.region_id, "name": "us"},
            "released_at": released_at,
            "repo_size": null,
            "slug_size": slug_size,
            "space": null,
            "stack": stack,
            "updated_at": released_at.clone().unwrap_or_else(|| rfc3339(app.created)),
            "web_url": app.web_url(),
        })
    }

    pub fn formation_json(&self, app: &App) -> Vec<Value> {
        app.formation
            .iter()
            .map(|f| {
                json!({
                    "app": {"name": app.name, "id": app.id},
                    "command": f.command,
                    "created_at": rfc3339(f.created),
                    "dyno_size": {"id": uuid_from(&f.size), "name": f.size},
                    "id": f.id,
                    "quantity": f.quantity,
                    "size": f.size,
                    "type": f.kind,
                    "updated_at": rfc3339(f.created),
                })
            })
            .collect()
    }

    pub fn preboot_json(&self, app: &App) -> Value {
        let created = rfc3339(app.created);
        json!({
            "created_at": created,
            "description": "Provide seamless web dyno deploys",
            "doc_url": "https://devcenter.heroku.com/articles/preboot",
            "enabled": app.preboot,
            "id": app.preboot_id,
            "name": "preboot",
            "state": "general",
            "updated_at": created,
            "display_name": "Preboot",
            "feedback_email": "",
        })
    }

    pub fn release_json(&self, app: &App, release: &Release, now: Instant) -> Value {
        let status = release.status(now);
        let current = app.current(now).is_some_and(|c| c.id == release.id);
        let artifacts: Vec<Value> = release
            .slug_id
            .iter()
            .map(|id| json!({"type": "slug", "id": id}))
            .collect();
        let output_stream_url = release
            .phase
            .as_ref()
            .map(|_| format!("{}/streams/releases/{}", self.base_url, release.id));
        json!({
            "addon_plan_names": ["heroku-postgresql:essential-0"],
            "artifacts": artifacts,
            "app": {"name": app.name, "id": app.id},
            "created_at": rfc3339(release.created),
            "description": release.description,
            "id": release.id,
            "updated_at": rfc3339(release.updated(now)),
            "slug": release.slug_id.as_ref().map(|id| json!({"id": id})),
            "status": status,
            "user": self.user(),
            "version": release.version,
            "current": current,
            "output_stream_url": output_stream_url,
            "eligible_for_rollback": release.slug_id.is_some() && status == "succeeded",
        })
    }

    pub fn slug_json(&self, slug: &Slug) -> Value {
        let process_types: serde_json::Map<String, Value> = slug
            .process_types
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "blob": {
                "method": "get",
                "url": format!("{}/slugs/{}.tgz", self.base_url, slug.id),
            },
            "buildpack_provided_description": "Node.js",
            "checksum": slug.checksum,
            "commit": slug.commit,
            "commit_description": slug.commit_description,
            "created_at": rfc3339(slug.created),
            "id": slug.id,
            "process_types": process_types,
            "size": slug.size,
            "stack": {"id": self.stack_id, "name": STACK},
            "updated_at": rfc3339(slug.created),
            "deleted_at": null,
        })
    }

    pub fn build_json(&self, app: &App, build: &Build, now: Instant) -> Value {
        let status = build.status(now);
        let updated = if status == "pending" {
            build.timeline.at
        } else {
            build.timeline.end_at()
        };
        json!({
            "app": {"id": app.id},
            "buildpacks": build.buildpacks,
            "created_at": rfc3339(build.timeline.at),
            "generation": "cedar",
            "id": build.id,
            "output_stream_url": format!("{}/streams/builds/{}", self.base_url, build.id),
            "source_blob": {
                "checksum": build.source_blob.checksum,
                "url": build.source_blob.url,
                "version": build.source_blob.version,
                "version_description": build.source_blob.version_description,
            },
            "release": build.release_id.as_ref().map(|id| json!({"id": id})),
            "slug": build.slug_id.as_ref().map(|id| json!({"id": id})),
            "stack": STACK,
            "status": status,
            "updated_at": rfc3339(updated),
            "user": self.user(),
        })
    }

    pub fn dyno_json(&self, app: &App, dyno: &dynos::Dyno) -> Value {
        json!({
            "attach_url": null,
            "command": dyno.command,
            "created_at": rfc3339(dyno.created),
            "id": dyno.id,
            "name": dyno.name,
            "release": {"id": dyno.release_id, "version": dyno.version},
            "app": {"name": app.name, "id": app.id},
            "size": dyno.size,
            "state": dyno.state,
            "type": dyno.kind,
            "updated_at": rfc3339(dyno.updated),
        })
    }

    pub fn dynos_json(&self, app: &App, now: Instant) -> Vec<Value> {
        dynos::list(app, now)
            .iter()
            .map(|d| self.dyno_json(app, d))
            .collect()
    }
}
