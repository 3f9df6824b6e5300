//! `shipline rollback`: put an earlier release back, by hand.
//!
//! The rollback release Heroku creates is described `Rollback to vN`; that description is what
//! makes the next `shipline deploy` skip by the rollback guard, so continuous deployment stays
//! paused until a human deploys with `--force`.

use std::time::Instant;

use super::{Scope, Work};
use crate::ci;
use crate::cli::RollbackArgs;
use crate::follow::{self, Follow, Tail};
use crate::heroku::{self, Heroku, HerokuConfig, Release, Status};
use crate::outcome::Outcome;
use crate::state::{ReleaseRef, RollbackRecord, State};
use crate::time::human;
use crate::usage::UsageError;
use anyhow::{anyhow, Context, Result};

/// Chooses the release to restore: `--to vN` (which Heroku must allow rolling back to), or the
/// newest succeeded, eligible release older than the live one.
pub fn choose(releases: &[Release], to: Option<u64>) -> Result<Release, String> {
    let current = releases.iter().find(|r| r.current);
    match to {
        Some(version) => {
            let release = releases
                .iter()
                .find(|r| r.version == version)
                .ok_or_else(|| format!("v{version} is not among the app's recent releases"))?;
            if current.is_some_and(|c| c.version == version) {
                return Err(format!("v{version} is already the live release"));
            }
            if !release.eligible_for_rollback {
                return Err(format!(
                    "Heroku does not allow rolling back to v{version} ({}, {})",
                    release.description, release.status
                ));
            }
            Ok(release.clone())
        }
        None => {
            let live = current
                .map(|c| c.version)
                .ok_or("the app has no live release to roll back from")?;
            releases
                .iter()
                .filter(|r| {
                    r.version < live && r.status == Status::Succeeded && r.eligible_for_rollback
                })
                .max_by_key(|r| r.version)
                .cloned()
                .ok_or_else(|| format!("there is no release before v{live} to roll back to"))
        }
    }
}

/// A rollback acts on `--app`, else on the app of the job's latest deploy or promote. It
/// depends on no earlier step: a human asked for it.
pub fn scope(args: &RollbackArgs, state: &State) -> Result<Scope> {
    let given: Vec<String> = args.app.iter().cloned().collect();
    match super::apps_or_latest(&given, state) {
        None => Err(anyhow!(UsageError(
            "rollback needs the Heroku app: pass --app APP or set SHIPLINE_APP".into()
        ))),
        Some(apps) if apps.len() > 1 => Err(anyhow!(UsageError(format!(
            "the job's latest promotion went to {}; pass --app to say which one to roll back",
            apps.join(", ")
        )))),
        Some(apps) => Ok(Scope {
            apps,
            after: Vec::new(),
        }),
    }
}

/// Runs `shipline rollback` on `app`.
pub fn run(args: &RollbackArgs, state: &mut State, app: &str) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let heroku = HerokuConfig::from_env()?.client(deadline);
    let key = app;
    let app = heroku.app(app)?.name;
    let releases = heroku
        .recent_releases(&app, 100)
        .with_context(|| format!("could not list the releases of {app}"))?;
    if args.to.is_none() {
        if let Some(done) = finished_rollback(&releases, state.app(key)) {
            // A re-run of a rollback that completed after its job was cancelled: rolling back
            // from the rollback would put the bad release back.
            let how = state
                .app(key)
                .and_then(|a| a.in_flight.as_ref())
                .filter(|w| w.step == "rollback")
                .map(|_| "cancelled during its release phase; the rollback completed as")
                .unwrap_or("already done: the live release is");
            let what = format!("{how} v{} ({})", done.version, done.description);
            ci::say(&format!("Rollback of {app} {what}"));
            let entry = state.app_mut(key);
            entry.in_flight = None;
            entry.adopted = Some(what);
            entry.rollback = Some(RollbackRecord {
                by: "rollback".into(),
                to: heroku::rollback_target(&done.description).unwrap_or(0),
                from: None,
                commit: None,
                release: Some(ReleaseRef {
                    id: Some(done.id.clone()),
                    version: done.version,
                    commit: None,
                }),
                dry_run: false,
            });
            ci::write_outputs(&[("release-version", done.version.to_string())])?;
            return Ok(Outcome::Done);
        }
    }
    let target = choose(&releases, args.to).map_err(|why| match args.to {
        Some(_) => anyhow!(UsageError(format!("cannot roll {app} back: {why} (--to)"))),
        None => anyhow!("cannot roll {app} back: {why}"),
    })?;
    let commit = commit_of(&heroku, &app, &target);
    let live = releases.iter().find(|r| r.current);
    ci::say(&format!(
        "Rolling {app} back from {} to v{} ({}{})",
        live.map(|r| format!("v{}", r.version))
            .unwrap_or_else(|| "nothing".into()),
        target.version,
        target.description,
        commit
            .as_deref()
            .map(|c| format!(", commit {}", crate::text::short(c)))
            .unwrap_or_default()
    ));
    if args.dry_run {
        ci::say("Dry run: nothing was changed");
        state.app_mut(key).rollback = Some(RollbackRecord {
            by: "rollback".into(),
            to: target.version,
            from: live.map(|r| r.version),
            commit,
            release: None,
            dry_run: true,
        });
        return Ok(Outcome::Done);
    }
    let pending = in_flight(&releases, target.version);
    let created = match pending {
        Some(pending) => {
            ci::say(&format!(
                "Adopting rollback release v{} ({}), still in its release phase: a cancelled run started it, so it is followed instead of rolling back again",
                pending.version, pending.description
            ));
            pending.clone()
        }
        None => {
            crate::signal::check()?;
            heroku
                .rollback(&app, &target.id)
                .with_context(|| format!("could not roll {app} back to v{}", target.version))?
        }
    };
    super::record_in_flight(
        state,
        key,
        Work {
            step: "rollback",
            kind: "rollback",
            id: &created.id,
            version: Some(created.version),
            commit: commit.as_deref(),
        },
    );
    let follow = Follow {
        heroku: &heroku,
        deadline,
        poll: args.poll,
    };
    let mut tail = Tail::new();
    let done = follow::release(&follow, &app, created, &mut tail)?;
    state.app_mut(key).in_flight = None;
    if done.status != Status::Succeeded {
        tail.show("release phase output");
        return Ok(Outcome::Failed(format!(
            "the rollback release v{} ({}) {}: its release phase did not succeed",
            done.version, done.id, done.status
        )));
    }
    ci::say(&format!(
        "Rolled back in {}: v{} ({}) is live. The next `shipline deploy` skips by the rollback guard until someone deploys with --force",
        human(started.elapsed()),
        done.version,
        done.description
    ));
    state.app_mut(key).rollback = Some(RollbackRecord {
        by: "rollback".into(),
        to: target.version,
        from: live.map(|r| r.version),
        commit: commit.clone(),
        release: Some(ReleaseRef {
            id: Some(done.id.clone()),
            version: done.version,
            commit,
        }),
        dry_run: false,
    });
    ci::write_outputs(&[("release-version", done.version.to_string())])?;
    Ok(Outcome::Done)
}

/// A rollback to `target` still in its release phase, newer than the live release: what a
/// cancelled rollback left running.
pub fn in_flight(releases: &[Release], target: u64) -> Option<&Release> {
    let live = releases.iter().find(|r| r.current).map(|r| r.version);
    releases.iter().find(|r| {
        r.status == Status::Pending
            && live.is_none_or(|l| r.version > l)
            && heroku::rollback_target(&r.description) == Some(target)
    })
}

/// The live release when it is a rollback that this job's cancelled rollback step started
/// (the state file's in-flight record names it), or any live rollback: rolling back from a
/// rollback by default would put back the release the first one removed.
pub fn finished_rollback<'a>(
    releases: &'a [Release],
    record: Option<&crate::state::AppRecord>,
) -> Option<&'a Release> {
    let live = releases
        .iter()
        .find(|r| r.current && r.status == Status::Succeeded)?;
    let recorded = record
        .and_then(|a| a.in_flight.as_ref())
        .is_some_and(|w| w.step == "rollback" && w.id == live.id);
    (recorded || heroku::rollback_target(&live.description).is_some()).then_some(live)
}

/// The commit a release runs, when its slug says (best effort: the plan is still useful
/// without it).
fn commit_of(heroku: &Heroku, app: &str, release: &Release) -> Option<String> {
    let slug = release.slug.as_ref()?;
    heroku.slug(app, &slug.id).ok()?.commit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: u64, status: Status, current: bool, eligible: bool) -> Release {
        Release {
            id: format!("r{version}"),
            version,
            description: format!("Deploy {version}"),
            status,
            current,
            eligible_for_rollback: eligible,
            output_stream_url: None,
            slug: None,
        }
    }

    /// v15, a rollback to v13 in the given state, over v14 and v13.
    fn rolled_back(status: Status, done: bool) -> [Release; 3] {
        let mut rollback = release(15, status, done, done);
        rollback.description = "Rollback to v13".into();
        [
            rollback,
            release(14, Status::Succeeded, !done, true),
            release(13, Status::Succeeded, false, true),
        ]
    }

    #[test]
    fn a_rerun_follows_the_rollback_in_flight_or_reports_the_one_done() {
        let releases = rolled_back(Status::Pending, false);
        assert_eq!(in_flight(&releases, 13).map(|r| r.version), Some(15));
        assert_eq!(in_flight(&releases, 12).map(|r| r.version), None);
        assert!(finished_rollback(&releases, None).is_none());

        let releases = rolled_back(Status::Succeeded, true);
        // Rolling back from the rollback would put v14, the release it removed, back.
        assert_eq!(
            finished_rollback(&releases, None).map(|r| r.version),
            Some(15)
        );
        assert!(in_flight(&releases, 13).is_none());
    }

    #[test]
    fn the_default_target_is_the_release_before_the_live_one() {
        let releases = [
            release(15, Status::Failed, false, false),
            release(14, Status::Succeeded, true, true),
            release(13, Status::Succeeded, false, true),
            release(12, Status::Succeeded, false, true),
        ];
        assert_eq!(choose(&releases, None).unwrap().version, 13);
        assert_eq!(choose(&releases, Some(12)).unwrap().version, 12);
        assert!(choose(&releases, Some(14))
            .unwrap_err()
            .contains("already the live"));
        assert!(choose(&releases, Some(15))
            .unwrap_err()
            .contains("does not allow"));
        assert!(choose(&releases, Some(3))
            .unwrap_err()
            .contains("not among"));
        let first = [release(1, Status::Succeeded, true, false)];
        assert!(choose(&first, None)
            .unwrap_err()
            .contains("no release before v1"));
    }
}
