//! Scripted behaviour: what a build or release phase prints, how fast, and how it ends.

use std::time::Duration;

/// Default pause between scripted lines: small so tests stay fast.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(20);

/// The output and outcome of a build or of a release phase, played against the wall clock
/// from the moment the build (or release) is created.
///
/// Timeline: wait `start_after`, then for each line wait its delay and emit it, then wait
/// `end_delay` and finish with `succeeds`. The API reports `pending` until the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Each line with the pause before it. Lines may contain `{version}` (the version of the
    /// release the build creates), `{app}` and `{web_url}`, filled in when emitted.
    pub lines: Vec<(Duration, String)>,
    /// Pause after the last line before the outcome is known.
    pub end_delay: Duration,
    /// Whether it ends `succeeded` (else `failed`).
    pub succeeds: bool,
    /// Release phase only: how long the release output stream answers 404 before the release
    /// command starts (builds ignore it).
    pub start_after: Duration,
}

impl Script {
    /// A successful run printing `lines`, [`DEFAULT_DELAY`] apart.
    pub fn succeed<I, S>(lines: I) -> Script
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Script {
            lines: lines
                .into_iter()
                .map(|l| (DEFAULT_DELAY, l.into()))
                .collect(),
            end_delay: DEFAULT_DELAY,
            succeeds: true,
            start_after: DEFAULT_DELAY,
        }
    }

    /// A failing run printing `lines`, [`DEFAULT_DELAY`] apart.
    pub fn fail<I, S>(lines: I) -> Script
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Script {
            succeeds: false,
            ..Script::succeed(lines)
        }
    }

    /// Sets the same pause before every line and after the last one.
    pub fn delay(mut self, delay: Duration) -> Script {
        for line in &mut self.lines {
            line.0 = delay;
        }
        self.end_delay = delay;
        self
    }

    /// Sets how long a release phase waits before it starts (its stream 404s meanwhile).
    pub fn start_after(mut self, wait: Duration) -> Script {
        self.start_after = wait;
        self
    }

    /// Appends one line with its own pause.
    pub fn line(mut self, after: Duration, text: impl Into<String>) -> Script {
        self.lines.push((after, text.into()));
        self
    }

    /// Total time from start to outcome, excluding `start_after`.
    pub fn duration(&self) -> Duration {
        self.lines.iter().map(|(d, _)| *d).sum::<Duration>() + self.end_delay
    }

    /// The default build: three lines, 20 ms apart, succeeds.
    pub fn default_build() -> Script {
        Script::succeed([
            "-----> Building on the Heroku-24 stack",
            "-----> Using buildpack: heroku/nodejs",
            "-----> Build succeeded!",
        ])
    }

    /// A build that fails in the buildpack.
    pub fn failing_build() -> Script {
        Script::fail([
            "-----> Building on the Heroku-24 stack",
            "-----> Using buildpack: heroku/nodejs",
            " !     Build failed: npm ERR! code ELIFECYCLE",
        ])
    }

    /// A release phase that runs migrations and succeeds.
    pub fn release_phase() -> Script {
        Script::succeed([
            "Running release command...",
            "Applying migration 20261127_add_orders_index... done",
            "Migrations complete (1 applied)",
        ])
    }

    /// A release phase whose command fails.
    pub fn failing_release_phase() -> Script {
        Script::fail([
            "Running release command...",
            "Applying migration 20261127_add_orders_index... failed",
            "Error: relation \"orders\" does not exist",
        ])
    }

    /// Realistic `heroku/nodejs` buildpack output with 100-300 ms between lines, as
    /// `git push heroku` shows it; used by the demo server.
    pub fn demo_build(release_phase: bool) -> Script {
        let ms = Duration::from_millis;
        let types = if release_phase { "release, web" } else { "web" };
        let mut lines: Vec<(u64, String)> = [
            (150, "-----> Building on the Heroku-24 stack"),
            (120, "-----> Using buildpack: heroku/nodejs"),
            (200, "-----> Node.js app detected"),
            (150, "-----> Creating runtime environment"),
            (100, "       NPM_CONFIG_LOGLEVEL=error"),
            (100, "       NODE_VERBOSE=false"),
            (100, "       NODE_ENV=production"),
            (100, "       NODE_MODULES_CACHE=true"),
            (200, "-----> Installing binaries"),
            (120, "       engines.node (package.json):   22.x"),
            (
                120,
                "       engines.npm (package.json):    unspecified (use default)",
            ),
            (250, "       Resolving node version 22.x..."),
            (300, "       Downloading and installing node 22.11.0..."),
            (150, "       Using default npm version: 10.9.0"),
            (200, "-----> Restoring cache"),
            (150, "       - npm cache"),
            (200, "-----> Installing dependencies"),
            (150, "       Installing node modules (package-lock.json)"),
            (
                300,
                "       added 214 packages, and audited 215 packages in 6s",
            ),
            (120, "       found 0 vulnerabilities"),
            (200, "-----> Build"),
            (150, "       Running build"),
            (120, "       > demo-app@1.0.0 build"),
            (250, "       > tsc -p ."),
            (200, "-----> Caching build"),
            (120, "       - npm cache"),
            (200, "-----> Pruning devDependencies"),
            (
                250,
                "       removed 96 packages, and audited 119 packages in 1s",
            ),
            (150, "-----> Build succeeded!"),
            (200, "-----> Discovering process types"),
        ]
        .into_iter()
        .map(|(d, l)| (d, l.to_string()))
        .collect();
        lines.push((
            150,
            format!("       Procfile declares types     -> {types}"),
        ));
        lines.push((200, "-----> Compressing...".into()));
        lines.push((300, "       Done: 48.3M".into()));
        lines.push((200, "-----> Launching...".into()));
        if release_phase {
            lines.push((
                150,
                " !     Release command declared: this new release will not be available until the command succeeds.".into(),
            ));
        }
        lines.push((250, "       Released v{version}".into()));
        lines.push((120, "       {web_url} deployed to Heroku".into()));
        Script {
            lines: lines.into_iter().map(|(d, l)| (ms(d), l)).collect(),
            end_delay: ms(200),
            succeeds: true,
            start_after: Duration::ZERO,
        }
    }

    /// Realistic release-phase output (database migrations), 100-300 ms between lines.
    pub fn demo_release_phase() -> Script {
        let ms = Duration::from_millis;
        Script {
            lines: [
                (150, "Running release command..."),
                (200, ""),
                (120, "> demo-app@1.0.0 migrate"),
                (120, "> node scripts/migrate.js"),
                (200, ""),
                (250, "Connecting to DATABASE_URL..."),
                (
                    300,
                    "Applying migration 20261127_0001_add_orders_index... done (212 ms)",
                ),
                (
                    250,
                    "Applying migration 20261127_0002_backfill_order_totals... done (1.4 s)",
                ),
                (150, "Migrations complete (2 applied)"),
            ]
            .into_iter()
            .map(|(d, l)| (ms(d), l.to_string()))
            .collect(),
            end_delay: ms(200),
            succeeds: true,
            start_after: ms(500),
        }
    }
}

/// How the dynos of a newly current release come up, measured from the instant the release
/// became current (after its release phase, if any).
///
/// Timeline: for `appear_after` the dyno list still shows the previous release's dynos; then
/// the new release's dynos (one per formation quantity) are listed `starting` for
/// `starting_for`, then settle in `settles_in` (all of them, or one with `only_one`) while the
/// others come `up`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynoBoot {
    /// How long the previous release's dynos are still listed before the new ones appear.
    pub appear_after: Duration,
    /// How long the new dynos report `starting` once they appear.
    pub starting_for: Duration,
    /// The state they settle in: `up` normally, `crashed` to simulate a crash on boot.
    pub settles_in: String,
    /// Only one dyno settles in `settles_in` (`web.2`, or `web.1` when the formation runs a
    /// single web dyno); every other one comes `up`.
    pub only_one: bool,
}

impl Default for DynoBoot {
    /// Dynos are `up` at once.
    fn default() -> DynoBoot {
        DynoBoot::up_after(Duration::ZERO)
    }
}

impl DynoBoot {
    /// `starting` for `wait`, then `up`.
    pub fn up_after(wait: Duration) -> DynoBoot {
        DynoBoot {
            appear_after: Duration::ZERO,
            starting_for: wait,
            settles_in: "up".into(),
            only_one: false,
        }
    }

    /// `starting` for `wait`, then `crashed`.
    pub fn crash_after(wait: Duration) -> DynoBoot {
        DynoBoot {
            settles_in: "crashed".into(),
            ..DynoBoot::up_after(wait)
        }
    }

    /// `starting` for `wait`, then `web.2` (or `web.1` when there is a single web dyno)
    /// `crashed` and every other dyno `up`.
    pub fn crash_one_after(wait: Duration) -> DynoBoot {
        DynoBoot {
            only_one: true,
            ..DynoBoot::crash_after(wait)
        }
    }

    /// The new dynos appear only `wait` after the release became current; until then the
    /// previous release's dynos are listed.
    pub fn appear_after(mut self, wait: Duration) -> DynoBoot {
        self.appear_after = wait;
        self
    }
}
