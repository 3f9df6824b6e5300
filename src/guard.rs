//! The deploy guards: what is live on an app, and whether a commit may ship over it.
//!
//! `deploy` and `promote` read the same facts before they change anything ([`preflight`]: the
//! live release, its commit, a newer release still pending) and ask the same pure question
//! ([`judge`]): a rollback pauses continuous deployment, the live commit is not shipped twice,
//! older code never goes over newer, and an undecidable history fails closed. The kill switch
//! ([`kill_switch`]) comes first, before any request.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::ci::{self, parse_bool};
use crate::git::Relation;
use crate::heroku::{self, Heroku, HerokuConfig, Release, Status};
use crate::outcome::Outcome;
use crate::state::ReleaseRef;
use crate::text::short;

/// The live release as the guards see it.
#[derive(Debug, Clone)]
pub struct Live {
    /// Its version.
    pub version: u64,
    /// Its description, e.g. `Rollback to v41`.
    pub description: String,
    /// The commit its slug was built from, when it has one.
    pub commit: Option<String>,
}

/// What the guards decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deploy; each note is printed (e.g. a guard that `--force` overrode).
    Proceed(Vec<String>),
    /// Do not deploy, for this reason; exit 0.
    Skip(String),
    /// Do not deploy, and fail the step.
    Fail(String),
}

/// The kill switch: with `--enabled-by VAR`, a CI run deploys only when `$VAR` is `true`.
/// Outside CI (`CI` not `true`) it does not apply, so a person can always deploy by hand.
pub fn kill_switch(var: Option<&str>, ci: Option<&str>, value: Option<&str>) -> Option<String> {
    let var = var?;
    let in_ci = ci.and_then(parse_bool) == Some(true);
    if !in_ci || value.and_then(parse_bool) == Some(true) {
        return None;
    }
    let shown = match value {
        None => "is not set".to_string(),
        Some(v) => format!("is `{v}`"),
    };
    Some(format!(
        "continuous deployment is switched off: ${var} {shown} (set it to `true` to deploy from CI)"
    ))
}

/// The kill switch judged on this process's environment (`CI` and the named variable).
pub fn kill_switch_in_env(var: Option<&str>) -> Option<String> {
    let value = var.and_then(|v| std::env::var(v).ok());
    let ci = std::env::var("CI").ok();
    kill_switch(var, ci.as_deref(), value.as_deref())
}

/// The guards that need the live release, in order: rollback, already live, older commit.
/// `relation` is how the deploying commit relates to the live one (when the live release has a
/// commit that differs from it); `pending` is a newer release still in its release phase.
pub fn judge(
    live: Option<&Live>,
    deploying: &str,
    relation: Option<&Relation>,
    pending: Option<u64>,
    force: bool,
) -> Verdict {
    let mut notes = Vec::new();
    let Some(live) = live else {
        return Verdict::Proceed(vec!["the app has no live release yet".to_string()]);
    };
    if let Some(target) = heroku::rollback_target(&live.description) {
        let why = format!(
            "the live release v{} is a rollback to v{target}: continuous deployment stays paused until someone deploys with --force",
            live.version
        );
        if !force {
            return Verdict::Skip(why);
        }
        notes.push(format!("--force: deploying although {why}"));
    }
    match live.commit.as_deref() {
        Some(commit) if commit == deploying => {
            return Verdict::Skip(format!(
                "{} is already live as v{}",
                short(deploying),
                live.version
            ));
        }
        Some(commit) => match relation {
            Some(Relation::Older) => {
                let why = format!(
                    "{} is older than the live commit {} (v{}): an ancestor of it, so deploying it would put older code over newer",
                    short(deploying),
                    short(commit),
                    live.version
                );
                if !force {
                    return Verdict::Skip(why);
                }
                notes.push(format!("--force: deploying although {why}"));
            }
            Some(Relation::Diverged) => notes.push(format!(
                "the live commit {} is not an ancestor of {}: history was rewritten or another branch was deployed",
                short(commit),
                short(deploying)
            )),
            Some(Relation::Unknown(why)) => {
                let message = format!(
                    "cannot tell whether {} is older than the live commit {}: {why}",
                    short(deploying),
                    short(commit)
                );
                if !force {
                    return Verdict::Fail(format!(
                        "{message}. Fetch the full history (e.g. `fetch-depth: 0` on actions/checkout) or deploy with --force"
                    ));
                }
                notes.push(format!("--force: deploying although {message}"));
            }
            Some(Relation::Same) | Some(Relation::Newer) | None => {}
        },
        None => notes.push(format!(
            "the live release v{} has no commit recorded (not built from source by the Build API); the older-commit guard cannot apply",
            live.version
        )),
    }
    if let Some(version) = pending {
        let why = format!(
            "release v{version} is still pending: another deploy or its release phase is running"
        );
        if !force {
            return Verdict::Fail(format!(
                "{why}; retry when it has finished (or serialize deploys with `shipline lock`)"
            ));
        }
        notes.push(format!("--force: deploying although {why}"));
    }
    Verdict::Proceed(notes)
}

/// What the app looks like before a deploy or a promotion.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The app's name.
    pub app: String,
    /// The app's id.
    pub app_id: String,
    /// Where the app is served.
    pub web_url: Option<String>,
    /// The live release and its commit.
    pub live: Option<Live>,
    /// The live release's id, the rollback anchor.
    pub live_id: Option<String>,
    /// A newer release still in its release phase.
    pub pending: Option<u64>,
    /// The version the next release will most likely get.
    pub next_version: u64,
}

impl Preflight {
    /// The live release as the state file records it: what a rollback returns to.
    pub fn previous_release(&self) -> Option<ReleaseRef> {
        self.live.as_ref().map(|live| ReleaseRef {
            id: self.live_id.clone(),
            version: live.version,
            commit: live.commit.clone(),
        })
    }
}

/// Reads the app, its recent releases and the live release's commit.
pub fn preflight(heroku: &Heroku, app: &str) -> Result<Preflight> {
    let app = heroku.app(app)?;
    let releases = heroku
        .recent_releases(&app.name, 25)
        .with_context(|| format!("could not list the releases of {}", app.name))?;
    let current = releases.iter().find(|r| r.current);
    let pending = releases
        .iter()
        .filter(|r| r.status == Status::Pending)
        .filter(|r| current.is_none_or(|c| r.version > c.version))
        .map(|r| r.version)
        .max();
    let live = current.map(|r| live_of(heroku, &app.name, r)).transpose()?;
    match &live {
        Some(l) => ci::say(&format!(
            "Live on {}: v{} ({}){}",
            app.name,
            l.version,
            l.description,
            l.commit
                .as_deref()
                .map(|c| format!(", commit {}", short(c)))
                .unwrap_or_default()
        )),
        None => ci::say(&format!("Live on {}: nothing yet", app.name)),
    }
    Ok(Preflight {
        live,
        live_id: current.map(|r| r.id.clone()),
        pending,
        next_version: releases.iter().map(|r| r.version).max().unwrap_or(0) + 1,
        web_url: app.web_url,
        app_id: app.id,
        app: app.name,
    })
}

/// Warns when preboot is off, or fails with `--require-preboot`.
pub fn check_preboot(heroku: &Heroku, app: &str, require: bool) -> Result<Option<Outcome>> {
    let enable = format!("enable it with `heroku features:enable preboot -a {app}`");
    match heroku.preboot(app)? {
        Some(true) => {
            ci::say("Preboot is on: the new dynos take traffic once they have booted");
            Ok(None)
        }
        Some(false) if require => Ok(Some(Outcome::Failed(format!(
            "preboot is off for {app}, and --require-preboot is set: {enable}"
        )))),
        Some(false) => {
            ci::warn(&format!(
                "preboot is off for {app}: dynos restart all at once and requests are dropped while the new release boots ({enable})"
            ));
            Ok(None)
        }
        None if require => Ok(Some(Outcome::Failed(format!(
            "{app} has no preboot feature (GET /apps/{app}/features/preboot answered 404), and --require-preboot is set"
        )))),
        None => {
            ci::warn(&format!(
                "could not tell whether preboot is on for {app}: the app has no preboot feature"
            ));
            Ok(None)
        }
    }
}

/// The live release with the commit of its slug.
pub fn live_of(heroku: &Heroku, app: &str, release: &Release) -> Result<Live> {
    let commit = match &release.slug {
        Some(slug) => heroku
            .slug(app, &slug.id)
            .with_context(|| {
                format!(
                    "could not read the slug of the live release v{}",
                    release.version
                )
            })?
            .commit
            .filter(|c| !c.is_empty()),
        None => None,
    };
    Ok(Live {
        version: release.version,
        description: release.description.clone(),
        commit,
    })
}

/// How long reading the live commit for the notes may take.
const LIVE_COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The commit live on `app`, for notes that start where the app is: the commit, or why the
/// notes cannot start there. Reads `HEROKU_API_KEY`; its requests end within a minute.
pub fn live_commit(app: &str) -> Result<std::result::Result<String, String>> {
    let heroku = HerokuConfig::from_env()?.client(Instant::now() + LIVE_COMMIT_TIMEOUT);
    let live = heroku.live_commit(app).map_err(|e| {
        e.context(format!(
            "could not read the live release of {app} on Heroku"
        ))
    })?;
    Ok(match live {
        None => Err(format!(
            "{app} has no live release yet, so nothing is live to compare with; pass --from REV instead"
        )),
        Some(live) => match live.commit {
            Some(commit) => {
                eprintln!(
                    "{app} runs v{} built from {}",
                    live.version,
                    commit.chars().take(7).collect::<String>()
                );
                Ok(commit)
            }
            None => Err(format!(
                "{app}'s live release v{} has no commit recorded (its slug was not built from a commit through the Build API); pass --from REV instead",
                live.version
            )),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";

    fn live(description: &str, commit: Option<&str>) -> Live {
        Live {
            version: 12,
            description: description.into(),
            commit: commit.map(Into::into),
        }
    }

    #[test]
    fn kill_switch_applies_only_in_ci_and_only_when_not_true() {
        assert_eq!(kill_switch(None, Some("true"), None), None);
        assert_eq!(kill_switch(Some("CD_ON"), Some("true"), Some("true")), None);
        assert_eq!(kill_switch(Some("CD_ON"), None, Some("false")), None);
        let why = kill_switch(Some("CD_ON"), Some("true"), Some("false")).unwrap();
        assert!(why.contains("$CD_ON is `false`"), "{why}");
        let why = kill_switch(Some("CD_ON"), Some("true"), None).unwrap();
        assert!(why.contains("$CD_ON is not set"), "{why}");
    }

    #[test]
    fn a_rollback_pauses_deploys_until_forced() {
        let l = live("Rollback to v10", Some(OLD));
        match judge(Some(&l), NEW, Some(&Relation::Newer), None, false) {
            Verdict::Skip(why) => assert!(
                why.contains("rollback to v10") && why.contains("--force"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        match judge(Some(&l), NEW, Some(&Relation::Newer), None, true) {
            Verdict::Proceed(notes) => assert!(notes[0].starts_with("--force")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_commit_is_not_deployed_twice_even_when_forced() {
        let l = live("Deploy 11111111", Some(NEW));
        for force in [false, true] {
            assert!(
                matches!(judge(Some(&l), NEW, None, None, force), Verdict::Skip(why) if why.contains("already live as v12"))
            );
        }
    }

    #[test]
    fn older_code_never_goes_over_newer_unless_forced() {
        let l = live("Deploy 22222222", Some(OLD));
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Older), None, false), Verdict::Skip(why) if why.contains("older than the live commit 2222222"))
        );
        assert!(matches!(
            judge(Some(&l), NEW, Some(&Relation::Older), None, true),
            Verdict::Proceed(_)
        ));
        assert_eq!(
            judge(Some(&l), NEW, Some(&Relation::Newer), None, false),
            Verdict::Proceed(vec![])
        );
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Diverged), None, false), Verdict::Proceed(notes) if notes.len() == 1)
        );
    }

    #[test]
    fn an_unknown_relation_fails_closed() {
        let l = live("Deploy 22222222", Some(OLD));
        let unknown = Relation::Unknown("not in this clone".into());
        assert!(
            matches!(judge(Some(&l), NEW, Some(&unknown), None, false), Verdict::Fail(why) if why.contains("fetch-depth: 0"))
        );
        assert!(matches!(
            judge(Some(&l), NEW, Some(&unknown), None, true),
            Verdict::Proceed(_)
        ));
    }

    #[test]
    fn a_pending_release_fails_after_the_skips() {
        let l = live("Deploy 22222222", Some(OLD));
        assert!(
            matches!(judge(Some(&l), NEW, Some(&Relation::Newer), Some(13), false), Verdict::Fail(why) if why.contains("v13 is still pending"))
        );
        let same = live("Deploy 11111111", Some(NEW));
        assert!(matches!(
            judge(Some(&same), NEW, None, Some(13), false),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn a_new_app_proceeds() {
        assert!(matches!(
            judge(None, NEW, None, None, false),
            Verdict::Proceed(_)
        ));
        let initial = live("Initial release", None);
        assert!(
            matches!(judge(Some(&initial), NEW, None, None, false), Verdict::Proceed(notes) if notes[0].contains("no commit"))
        );
    }
}
