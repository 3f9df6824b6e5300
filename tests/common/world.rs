//! The world a CI job runs in: its checkout, the sandbox services it talks to, and the
//! variables its steps are given. Steps of one job share the world (one directory, one state
//! file), as steps of a CI job do.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shipline_sandbox::slack::Slack;
use shipline_sandbox::tls::{ServerCert, TestCa};
use shipline_sandbox::{Heroku, Recorded, Target};

use super::queue::{Build, Provider, Queue};
use super::repo::{Repo, TempDir};
use super::run::{Run, Shipline};

/// A job's checkout, services and environment; every step of a test runs in it through
/// [`World::shipline`].
///
/// Services are started by the builder methods that name them, each adding to the environment
/// only what a user's CI configuration would set for it, so a test shows which services a step
/// can reach. The sandbox's own types (its [`Heroku`], [`Slack`], ...) are handed out as they
/// are: a test reads what a service received in the service's terms, never in the product's.
pub struct World {
    repo: Repo,
    heroku: Option<Heroku>,
    slack: Option<Slack>,
    target: Option<Target>,
    queue: Option<Queue>,
    ca: Option<Ca>,
    env: Vec<(String, String)>,
}

/// A certificate authority made for one world, and where it is written for the steps.
struct Ca {
    ca: TestCa,
    /// Holds `ca.pem` and `certs/`, outside the job's checkout as a runner's CA bundle is.
    dir: TempDir,
}

impl World {
    /// A job whose working directory is a new git repository on `main`, without commits;
    /// `name` names the directory, to find it when a test fails.
    pub fn new(name: &str) -> World {
        World::in_repo(Repo::new(name))
    }

    /// A job whose working directory is not a git repository (a CLI check, a lock queue).
    pub fn without_git(name: &str) -> World {
        World::in_repo(Repo::empty(name))
    }

    fn in_repo(repo: Repo) -> World {
        World {
            repo,
            heroku: None,
            slack: None,
            target: None,
            queue: None,
            ca: None,
            env: Vec::new(),
        }
    }

    /// Starts a sandbox Heroku and gives every step its key and URL.
    pub fn with_heroku(self) -> World {
        self.with_heroku_at(Heroku::start())
    }

    /// Uses a Heroku started elsewhere (over TLS, with a configuration), giving every step
    /// its key and URL.
    pub fn with_heroku_at(mut self, heroku: Heroku) -> World {
        self = self
            .with_env("HEROKU_API_KEY", heroku.api_key())
            .with_env("SHIPLINE_HEROKU_API_URL", heroku.url());
        self.heroku = Some(heroku);
        self
    }

    /// Makes a certificate authority for services over HTTPS, written both as a PEM file and
    /// as an OpenSSL certificate directory, and trusts it as most users trust theirs: every
    /// step is given `SSL_CERT_FILE`. A test of another way unsets or overrides it per step.
    pub fn with_trusted_ca(self) -> World {
        let dir = TempDir::new("ca");
        let ca = TestCa::new();
        ca.write_pem(&dir.path.join("ca.pem")).unwrap();
        ca.write_cert_dir(&dir.path.join("certs")).unwrap();
        let mut world = self;
        world.ca = Some(Ca { ca, dir });
        let file = world.ca_file();
        world.with_env("SSL_CERT_FILE", file.to_str().unwrap())
    }

    /// Starts a sandbox Heroku over HTTPS with the certificate `cert` makes from the world's
    /// CA (see [`World::with_trusted_ca`]): a good one, or one expired or for another name,
    /// to see what a user would.
    pub fn with_heroku_tls(self, cert: impl FnOnce(&TestCa) -> ServerCert) -> World {
        let heroku = Heroku::start_tls(&cert(self.ca()));
        self.with_heroku_at(heroku)
    }

    /// Starts a sandbox Slack, giving the steps nothing: a webhook or a bot token is a
    /// choice each test makes (see [`World::with_slack_webhook`]).
    pub fn with_slack(mut self) -> World {
        self.slack = Some(Slack::start());
        self
    }

    /// Starts a sandbox Slack and gives every step its webhook, as most CI setups do.
    pub fn with_slack_webhook(self) -> World {
        let world = self.with_slack();
        let url = world.slack().webhook_url();
        world.with_env("SLACK_WEBHOOK_URL", url)
    }

    /// Starts a scriptable HTTP target for health checks.
    pub fn with_target(mut self) -> World {
        self.target = Some(Target::start());
        self
    }

    /// Starts a simulated CI of `provider` whose builds queue for the lock; steps run inside
    /// a build with [`World::in_build`].
    pub fn with_ci(self, provider: Provider) -> World {
        self.with_queue(Queue::start(provider))
    }

    /// Uses a CI simulation started elsewhere (with a configuration).
    pub fn with_queue(mut self, queue: Queue) -> World {
        self.queue = Some(queue);
        self
    }

    /// Gives every step the variable `name`.
    pub fn with_env(mut self, name: &str, value: impl AsRef<str>) -> World {
        self.env
            .push((name.to_string(), value.as_ref().to_string()));
        self
    }

    /// The job's repository, to write and commit files.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The job's working directory.
    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    /// The sandbox Heroku; panics when the world has none.
    #[track_caller]
    pub fn heroku(&self) -> &Heroku {
        self.heroku
            .as_ref()
            .expect("a world with a Heroku (World::with_heroku)")
    }

    /// The sandbox Slack; panics when the world has none.
    #[track_caller]
    pub fn slack(&self) -> &Slack {
        self.slack
            .as_ref()
            .expect("a world with a Slack (World::with_slack)")
    }

    /// The variables a CI configuration sets to post through Slack's Web API as a bot (the
    /// token and, for the sandbox, the API's URL), for the steps that choose the bot over the
    /// webhook; a channel is still theirs to give.
    pub fn slack_bot_env(&self) -> [(&'static str, String); 2] {
        let slack = self.slack();
        [
            ("SLACK_BOT_TOKEN", slack.bot_token().to_string()),
            ("SHIPLINE_SLACK_API_URL", slack.api_url()),
        ]
    }

    /// The HTTP target; panics when the world has none.
    #[track_caller]
    pub fn target(&self) -> &Target {
        self.target
            .as_ref()
            .expect("a world with a target (World::with_target)")
    }

    /// The world's certificate authority, to sign certificates of more servers; panics when
    /// the world has none.
    #[track_caller]
    pub fn ca(&self) -> &TestCa {
        &self
            .ca
            .as_ref()
            .expect("a world with a CA (World::with_trusted_ca)")
            .ca
    }

    /// The CA's certificate as a PEM file, what `SSL_CERT_FILE` names.
    #[track_caller]
    pub fn ca_file(&self) -> PathBuf {
        self.ca_path("ca.pem")
    }

    /// The CA's certificate in an OpenSSL certificate directory, what `SSL_CERT_DIR` names.
    #[track_caller]
    pub fn ca_dir(&self) -> PathBuf {
        self.ca_path("certs")
    }

    #[track_caller]
    fn ca_path(&self, name: &str) -> PathBuf {
        let ca = self
            .ca
            .as_ref()
            .expect("a world with a CA (World::with_trusted_ca)");
        ca.dir.path.join(name)
    }

    /// The CI simulation; panics when the world has none.
    #[track_caller]
    pub fn queue(&self) -> &Queue {
        self.queue
            .as_ref()
            .expect("a world with a CI (World::with_ci)")
    }

    /// A step of the job: `shipline ARGS` in the working directory with the world's
    /// variables; add more with [`Shipline::env`], then run it.
    pub fn shipline<S: AsRef<str>>(&self, args: impl IntoIterator<Item = S>) -> Shipline {
        Shipline::new(self.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
    }

    /// Runs `shipline ARGS` as a step of the job with nothing more.
    pub fn run<S: AsRef<str>>(&self, args: impl IntoIterator<Item = S>) -> Run {
        self.shipline(args).run()
    }

    /// A step inside `build`'s deploy job: in a working directory of the build's own (its own
    /// state file), with the variables the CI gives that job and a token of the build's own,
    /// so the CI's requests can be counted per build.
    pub fn in_build<S: AsRef<str>>(
        &self,
        build: &Build,
        args: impl IntoIterator<Item = S>,
    ) -> Shipline {
        let queue = self.queue();
        let token = queue.issue_token(build);
        self.in_build_with_token(build, &token, args)
    }

    /// As [`World::in_build`], with `token` as the CI token (another kind, or none).
    pub fn in_build_with_token<S: AsRef<str>>(
        &self,
        build: &Build,
        token: &str,
        args: impl IntoIterator<Item = S>,
    ) -> Shipline {
        Shipline::new(&self.build_dir(build))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(self.queue().job_env(build, token))
            .args(args)
    }

    /// The working directory of `build`'s deploy job.
    pub fn build_dir(&self, build: &Build) -> PathBuf {
        let dir = self.path().join(self.queue().label(build));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Where the steps keep their state file.
    pub fn state_path(&self) -> PathBuf {
        self.path().join(".shipline/state.json")
    }

    /// The state file now, as the next step would read it.
    #[track_caller]
    pub fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.state_path()).expect("the state file exists");
        serde_json::from_str(&text).unwrap()
    }

    /// Writes the state file as earlier steps of the job would have left it.
    pub fn write_state(&self, state: &Value) {
        std::fs::create_dir_all(self.path().join(".shipline")).unwrap();
        std::fs::write(
            self.state_path(),
            serde_json::to_string_pretty(state).unwrap(),
        )
        .unwrap();
    }

    /// The release of `app` that Heroku serves now.
    #[track_caller]
    pub fn current_release(&self, app: &str) -> Value {
        self.heroku()
            .releases(app)
            .into_iter()
            .find(|r| r["current"] == true)
            .expect("a current release")
    }

    /// The version number of the release of `app` that Heroku serves now.
    #[track_caller]
    pub fn current_version(&self, app: &str) -> u64 {
        self.current_release(app)["version"]
            .as_u64()
            .expect("a release version")
    }

    /// The commit Heroku records for `app`'s current slug, looking in the slugs of `app` and
    /// of the apps it may have been promoted from.
    #[track_caller]
    pub fn live_commit(&self, app: &str, promoted_from: &[&str]) -> String {
        let slug = self.current_release(app)["slug"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let heroku = self.heroku();
        std::iter::once(app)
            .chain(promoted_from.iter().copied())
            .flat_map(|a| heroku.slugs(a))
            .find(|s| s["id"] == slug.as_str())
            .map(|s| s["commit"].as_str().unwrap().to_string())
            .expect("the live slug")
    }

    /// The requests Heroku received with `method` on a path starting with `prefix`.
    pub fn heroku_requests(&self, method: &str, prefix: &str) -> Vec<Recorded> {
        self.heroku()
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }
}
