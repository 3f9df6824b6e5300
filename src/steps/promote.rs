//! `shipline promote`: ship to production the exact slug staging runs, with no second build.
//!
//! What was checked on staging is what goes live: the same compiled slug, to one production app
//! or several (several regions, several tenants) in one promotion. Every deploy guard applies
//! to each app, judged on the slug's commit, and the staging release must run the commit this
//! pipeline is shipping, so a newer staging deploy that raced this job is not promoted by it.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde_json::json;

use super::{Scope, Work};
use crate::ci;
use crate::cli::PromoteArgs;
use crate::follow::{self, Follow, Tail};
use crate::git::{self, Relation};
use crate::guard::{judge, kill_switch_in_env, live_of, preflight, Preflight, Verdict};
use crate::heroku::HerokuConfig;
use crate::heroku::{Release, Status};
use crate::notes;
use crate::outcome::Outcome;
use crate::state::{Change, ChangeKind, Dependency, PromotedFrom, ReleaseRef, State};
use crate::text::{self, short};
use crate::time::human;

/// How the slug gets to production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Every app is in this pipeline: one pipeline promotion to all of them.
    Pipeline(String),
    /// A release of the staging slug on each app.
    Slug,
}

/// Staging and every target coupled to one pipeline → a pipeline promotion (Heroku's own
/// record of it); otherwise a release from the slug on each, which needs no pipeline.
pub fn route(staging_pipeline: Option<&str>, target_pipelines: &[Option<String>]) -> Route {
    match staging_pipeline {
        Some(p) if target_pipelines.iter().all(|t| t.as_deref() == Some(p)) => {
            Route::Pipeline(p.to_string())
        }
        _ => Route::Slug,
    }
}

/// How the promotion ended on one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppResult {
    /// The release went live.
    Released(u64),
    /// A guard skipped the app, for this reason.
    Skipped(String),
    /// It did not go live, for this reason; what was live stays.
    Failed(String),
}

/// The step's outcome from each app's: one failure fails the step, naming the app and saying
/// where the others are; all skipped is a skip; otherwise done.
pub fn summarize(results: &[(String, AppResult)]) -> Outcome {
    let mut failed = Vec::new();
    let mut meanwhile = Vec::new();
    for (app, result) in results {
        match result {
            AppResult::Failed(why) => failed.push(format!("{app}: {why}")),
            AppResult::Released(v) => meanwhile.push(format!("{app} is live on v{v}")),
            AppResult::Skipped(why) => meanwhile.push(format!("{app} skipped ({why})")),
        }
    }
    if !failed.is_empty() {
        let mut line = format!("promotion failed on {}", failed.join("; "));
        if !meanwhile.is_empty() {
            line.push_str(&format!("; meanwhile {}", meanwhile.join(", ")));
        }
        return Outcome::Failed(line);
    }
    if !results.is_empty()
        && results
            .iter()
            .all(|(_, r)| matches!(r, AppResult::Skipped(_)))
    {
        let reasons: Vec<String> = results
            .iter()
            .map(|(app, r)| match r {
                AppResult::Skipped(why) if results.len() > 1 => format!("{app}: {why}"),
                AppResult::Skipped(why) => why.clone(),
                _ => unreachable!("all skipped"),
            })
            .collect();
        return Outcome::Skipped(reasons.join("; "));
    }
    Outcome::Done
}

/// A promotion acts on its target apps; it waits behind the lock, and after a skipped deploy
/// of the staging app there is nothing new to promote.
pub fn scope(args: &PromoteArgs) -> Scope {
    Scope {
        apps: args.apps.clone(),
        after: vec![
            Dependency::lock(),
            Dependency::deploy_of(&args.from).because("there is nothing new to promote"),
        ],
    }
}

/// Runs `shipline promote`.
pub fn run(args: &PromoteArgs, state: &mut State) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    if let Some(reason) = kill_switch_in_env(args.enabled_by.as_deref()) {
        return Ok(Outcome::Skipped(reason));
    }
    let heroku = HerokuConfig::from_env()?.client(deadline);
    let (repo, shipping) = git::open_at(&args.dir, &args.git_ref)?;

    let staging_app = heroku.app(&args.from)?;
    let staging_release = heroku
        .recent_releases(&staging_app.name, 25)?
        .into_iter()
        .find(|r| r.current)
        .ok_or_else(|| anyhow!("{} has no live release to promote", staging_app.name))?;
    let slug_id = staging_release
        .slug
        .as_ref()
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            anyhow!(
                "the live release v{} of {} has no slug to promote ({})",
                staging_release.version,
                staging_app.name,
                staging_release.description
            )
        })?;
    let staging = live_of(&heroku, &staging_app.name, &staging_release)?;
    let commit = staging.commit.clone().ok_or_else(|| {
        anyhow!(
            "the slug of {} v{} records no commit, so the guards cannot judge it",
            staging_app.name,
            staging_release.version
        )
    })?;
    ci::say(&format!(
        "Promoting {} v{} (slug of {}) to {}",
        staging_app.name,
        staging_release.version,
        short(&commit),
        args.apps.join(", ")
    ));
    if commit != shipping.id {
        let why = format!(
            "{} v{} runs {}, not {} ({}) that this job ships",
            staging_app.name,
            staging_release.version,
            short(&commit),
            short(&shipping.id),
            args.git_ref
        );
        if !args.any_commit {
            return Ok(Outcome::Failed(format!(
                "{why}: a newer deploy may have reached staging; pass --any-commit to promote whatever staging runs"
            )));
        }
        ci::say(&format!("--any-commit: promoting although {why}"));
    }

    // Every app's guards are judged before anything changes: a guard that fails on one app
    // stops the promotion to all of them.
    let mut results: Vec<(String, AppResult)> = Vec::new();
    let mut targets: Vec<(String, Preflight)> = Vec::new();
    let mut relations: Vec<Option<Relation>> = Vec::new();
    // Releases of this commit still in their release phase on a target: what a cancelled run
    // of this step left running, followed instead of promoted again.
    let mut adopted: Vec<(String, Release)> = Vec::new();
    for app in &args.apps {
        let before = preflight(&heroku, app)?;
        if let Some(release) = in_flight_release(&heroku, &before, &commit)? {
            ci::say(&format!(
                "{app}: adopting release v{} ({}), still in its release phase: a cancelled promotion of {} created it, so it is followed instead of promoting again",
                release.version,
                release.description,
                short(&commit)
            ));
            adopted.push((app.clone(), release));
            targets.push((app.clone(), before));
            relations.push(None);
            continue;
        }
        let relation = match before.live.as_ref().and_then(|l| l.commit.as_deref()) {
            Some(live) if live != commit => {
                Some(repo.relation(&commit, live).with_context(|| {
                    format!("could not compare the staging commit with the one live on {app}")
                })?)
            }
            _ => None,
        };
        match judge(
            before.live.as_ref(),
            &commit,
            relation.as_ref(),
            before.pending,
            args.force,
        ) {
            Verdict::Skip(reason) => {
                ci::say(&format!("{app}: skipping, {reason}"));
                results.push((app.clone(), AppResult::Skipped(reason)));
            }
            Verdict::Fail(reason) if args.apps.len() == 1 => return Ok(Outcome::Failed(reason)),
            Verdict::Fail(reason) => {
                return Ok(Outcome::Failed(format!(
                    "{app}: {reason}; nothing was promoted to {}",
                    args.apps.join(", ")
                )))
            }
            Verdict::Proceed(notes) => {
                notes.iter().for_each(|n| ci::say(n));
                targets.push((app.clone(), before));
                relations.push(relation);
            }
        }
    }
    if targets.is_empty() {
        record_each(state, &results);
        return Ok(summarize(&results));
    }
    let staging_pipeline = heroku.coupling(&staging_app.name)?.map(|c| c.pipeline.id);
    let mut target_pipelines = Vec::new();
    for (_, before) in &targets {
        target_pipelines.push(heroku.coupling(&before.app)?.map(|c| c.pipeline.id));
    }
    let route = route(staging_pipeline.as_deref(), &target_pipelines);
    for ((app, before), relation) in targets.iter().zip(&relations) {
        let record = Change {
            kind: ChangeKind::Promote,
            commit: commit.clone(),
            git_ref: args.git_ref.clone(),
            previous_release: before.previous_release(),
            release: None,
            web_url: before.web_url.clone(),
            build_id: None,
            source: Some(PromotedFrom {
                app: staging_app.name.clone(),
                release: staging_release.version,
                slug: slug_id.clone(),
            }),
            route: Some(
                match &route {
                    Route::Pipeline(_) => "pipeline",
                    Route::Slug => "slug",
                }
                .to_string(),
            ),
            dry_run: args.dry_run,
            timings_ms: None,
        };
        if args.dry_run {
            ci::say(&format!(
                "Dry run: would {} to {}, creating release v{}; nothing was changed",
                match &route {
                    Route::Pipeline(_) => "run a pipeline promotion",
                    Route::Slug => "release the staging slug",
                },
                before.app,
                before.next_version
            ));
        }
        let notes = notes::for_release(
            &args.dir,
            before.live.as_ref().and_then(|l| l.commit.as_deref()),
            &commit,
            relation.as_ref(),
        );
        let entry = state.app_mut(app);
        entry.change = Some(record);
        entry.notes = Some(notes);
    }
    if args.dry_run {
        return Ok(Outcome::Done);
    }

    let description = format!(
        "Promote {} v{} {}",
        staging_app.name,
        staging_release.version,
        short(&commit)
    );
    let follow = Follow {
        heroku: &heroku,
        deadline,
        poll: args.poll,
    };
    let fresh: Vec<(String, Preflight)> = targets
        .iter()
        .filter(|(app, _)| !adopted.iter().any(|(a, _)| a == app))
        .map(|(app, before)| (app.clone(), before.clone()))
        .collect();
    crate::signal::check()?;
    let created: Vec<Result<Release>> = match &route {
        _ if fresh.is_empty() => Vec::new(),
        Route::Slug => fresh
            .iter()
            .map(|(app, before)| {
                heroku
                    .release_slug(&before.app, &slug_id, &description)
                    .with_context(|| format!("could not release the staging slug on {app}"))
            })
            .collect(),
        Route::Pipeline(pipeline) => {
            let ids: Vec<&str> = fresh.iter().map(|(_, b)| b.app_id.as_str()).collect();
            pipeline_promotion(
                &follow,
                state,
                &commit,
                pipeline,
                &staging_app.id,
                &fresh,
                &ids,
            )?
        }
    };
    // Back in the order of `targets`, the adopted releases among them.
    let mut fresh_created = created.into_iter();
    let created: Vec<Result<Release>> = targets
        .iter()
        .map(|(app, _)| match adopted.iter().find(|(a, _)| a == app) {
            Some((_, release)) => Ok(release.clone()),
            None => fresh_created
                .next()
                .unwrap_or_else(|| Err(anyhow!("nothing was promoted to {app}"))),
        })
        .collect();
    for ((app, before), created) in targets.iter().zip(created) {
        let result = match created {
            Err(e) if crate::signal::interrupted(&e).is_some() => return Err(e),
            Err(e) => AppResult::Failed(ci::redact(&format!("{e:#}"))),
            Ok(created) => {
                ci::say(&format!(
                    "{app}: release v{}: {}",
                    created.version, created.description
                ));
                let mut tail = Tail::new();
                let live_version = before.live.as_ref().map(|l| l.version).unwrap_or(0);
                super::record_in_flight(
                    state,
                    app,
                    Work {
                        step: "promote",
                        kind: "release",
                        id: &created.id,
                        version: Some(created.version),
                        commit: Some(&commit),
                    },
                );
                let followed = follow::release(&follow, &before.app, created, &mut tail);
                if followed.is_ok() {
                    state.app_mut(app).in_flight = None;
                }
                match followed {
                    Err(e) if crate::signal::interrupted(&e).is_some() => return Err(e),
                    Err(e) => AppResult::Failed(format!("{e:#}")),
                    Ok(release) if release.status != Status::Succeeded => {
                        tail.show("release phase output");
                        AppResult::Failed(format!(
                            "release v{} (release {}) {}: its release phase did not succeed; the live release stays v{live_version}",
                            release.version, release.id, release.status
                        ))
                    }
                    Ok(release) => {
                        ci::say(&format!(
                            "Promoted v{} ({}) to {} in {}",
                            release.version,
                            short(&commit),
                            app,
                            human(started.elapsed())
                        ));
                        if let Some(change) = state.app_mut(app).change.as_mut() {
                            change.release = Some(ReleaseRef {
                                id: Some(release.id.clone()),
                                version: release.version,
                                commit: Some(commit.clone()),
                            });
                            change.timings_ms =
                                Some(json!({ "total": started.elapsed().as_millis() as u64 }));
                        }
                        AppResult::Released(release.version)
                    }
                }
            }
        };
        results.push((app.clone(), result));
    }
    // Report in the order the apps were given.
    results.sort_unstable_by_key(|(app, _)| args.apps.iter().position(|a| a == app));
    record_each(state, &results);

    let first = &targets[0];
    let mut outputs = vec![("commit", commit.clone())];
    if let Some((_, AppResult::Released(v))) = results.iter().find(|(a, _)| *a == first.0) {
        outputs.push(("release-version", v.to_string()));
    }
    if let Some(url) = &first.1.web_url {
        outputs.push(("web-url", url.clone()));
    }
    ci::write_outputs(&outputs)?;
    let mut summary = format!(
        "### Promoted {} v{} (`{}`)\n\n| app | result |\n|---|---|\n",
        staging_app.name,
        staging_release.version,
        short(&commit)
    );
    for (app, result) in &results {
        let text = match result {
            AppResult::Released(v) => format!("v{v} live"),
            AppResult::Skipped(why) => format!("skipped: {}", text::markdown_cell(why)),
            AppResult::Failed(why) => format!("**failed**: {}", text::markdown_cell(why)),
        };
        summary.push_str(&format!("| {app} | {text} |\n"));
    }
    summary.push('\n');
    ci::write_summary(&summary)?;
    Ok(summarize(&results))
}

/// A release of `commit` on the target still in its release phase (the preflight's pending
/// release, when its slug was built from the commit): found in Heroku's own records, so a
/// re-run after SIGKILL finds it too.
fn in_flight_release(
    heroku: &crate::heroku::Heroku,
    before: &Preflight,
    commit: &str,
) -> Result<Option<Release>> {
    let Some(version) = before.pending else {
        return Ok(None);
    };
    let release = heroku.release(&before.app, &version.to_string())?;
    if release.status != Status::Pending {
        return Ok(None);
    }
    let of = live_of(heroku, &before.app, &release)?;
    Ok((of.commit.as_deref() == Some(commit)).then_some(release))
}

/// Tells the state how the promotion ended on each app, so each app's notification says its
/// own.
fn record_each(state: &mut State, results: &[(String, AppResult)]) {
    for (app, result) in results {
        let outcome = match result {
            AppResult::Released(_) => Outcome::Done,
            AppResult::Skipped(why) => Outcome::Skipped(why.clone()),
            AppResult::Failed(why) => Outcome::Failed(why.clone()),
        };
        state.record_app_outcome(app, &outcome);
    }
}

/// Runs one pipeline promotion to every target and waits until each has its release (or has
/// failed). The promotion itself failing to start is an error for all.
fn pipeline_promotion(
    follow: &Follow<'_>,
    state: &mut State,
    commit: &str,
    pipeline: &str,
    source_id: &str,
    targets: &[(String, Preflight)],
    target_ids: &[&str],
) -> Result<Vec<Result<Release>>> {
    let names: Vec<&str> = targets.iter().map(|(app, _)| app.as_str()).collect();
    // Heroku lists no promotions, so a promotion whose releases do not exist yet is known
    // only from the state file of the run that started it (not after SIGKILL).
    let recorded = targets
        .iter()
        .map(|(app, _)| {
            state
                .app(app)
                .and_then(|a| a.in_flight.as_ref())
                .filter(|w| {
                    w.step == "promote"
                        && w.kind == "promotion"
                        && w.commit.as_deref() == Some(commit)
                })
                .map(|w| w.id.clone())
        })
        .collect::<Option<Vec<String>>>()
        .filter(|ids| ids.windows(2).all(|w| w[0] == w[1]))
        .and_then(|ids| ids.into_iter().next());
    let promotion_id = match recorded {
        Some(id) => {
            ci::say(&format!(
                "Adopting pipeline promotion {id}: a cancelled run started it to {}, so it is followed instead of promoting again",
                names.join(", ")
            ));
            id
        }
        None => {
            let promotion = follow
                .heroku
                .promote(pipeline, source_id, target_ids)
                .with_context(|| {
                    format!(
                        "could not start the pipeline promotion to {}",
                        names.join(", ")
                    )
                })?;
            ci::say(&format!("Pipeline promotion {} started", promotion.id));
            promotion.id
        }
    };
    for (app, _) in targets {
        super::record_in_flight(
            state,
            app,
            Work {
                step: "promote",
                kind: "promotion",
                id: &promotion_id,
                version: None,
                commit: Some(commit),
            },
        );
    }
    let promotion = crate::heroku::Promotion { id: promotion_id };
    let mut results: Vec<Option<Result<Release>>> = target_ids.iter().map(|_| None).collect();
    loop {
        let listed = follow.heroku.promotion_targets(&promotion.id)?;
        for (i, (id, (name, before))) in target_ids.iter().zip(targets).enumerate() {
            if results[i].is_some() {
                continue;
            }
            let Some(t) = listed.iter().find(|t| t.app.id == *id) else {
                results[i] = Some(Err(anyhow!(
                    "pipeline promotion {} has no target {name}",
                    promotion.id
                )));
                continue;
            };
            if let Some(release) = &t.release {
                results[i] = Some(follow.heroku.release(&before.app, &release.id));
            } else if t.status == Status::Failed {
                results[i] = Some(Err(anyhow!(
                    "pipeline promotion {} to {name} failed: {}",
                    promotion.id,
                    t.error_message.as_deref().unwrap_or("no reason given")
                )));
            }
        }
        if results.iter().all(Option::is_some) {
            return Ok(results.into_iter().flatten().collect());
        }
        follow.sleep(&format!(
            "pipeline promotion {} to create the releases",
            promotion.id
        ))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pipeline_for_all_promotes_through_it() {
        let p1 = Some("p1".to_string());
        assert_eq!(
            route(Some("p1"), std::slice::from_ref(&p1)),
            Route::Pipeline("p1".into())
        );
        assert_eq!(
            route(Some("p1"), &[p1.clone(), p1.clone()]),
            Route::Pipeline("p1".into())
        );
        assert_eq!(
            route(Some("p1"), &[p1.clone(), Some("p2".into())]),
            Route::Slug
        );
        assert_eq!(route(Some("p1"), &[None]), Route::Slug);
        assert_eq!(route(None, &[p1]), Route::Slug);
    }

    fn r(app: &str, result: AppResult) -> (String, AppResult) {
        (app.to_string(), result)
    }

    #[test]
    fn one_app_failing_fails_the_step_and_says_where_the_others_are() {
        assert_eq!(
            summarize(&[r("shop", AppResult::Released(5))]),
            Outcome::Done
        );
        assert_eq!(
            summarize(&[
                r("shop", AppResult::Released(5)),
                r("shop-eu", AppResult::Failed("release v8 failed".into())),
                r("shop-ap", AppResult::Skipped("commit abc is already live".into())),
            ]),
            Outcome::Failed(
                "promotion failed on shop-eu: release v8 failed; meanwhile shop is live on v5, shop-ap skipped (commit abc is already live)".into()
            )
        );
        assert_eq!(
            summarize(&[r("shop", AppResult::Skipped("already live".into()))]),
            Outcome::Skipped("already live".into())
        );
        assert_eq!(
            summarize(&[
                r("shop", AppResult::Skipped("a".into())),
                r("shop-eu", AppResult::Skipped("b".into()))
            ]),
            Outcome::Skipped("shop: a; shop-eu: b".into())
        );
        assert_eq!(
            summarize(&[
                r("shop", AppResult::Skipped("a".into())),
                r("shop-eu", AppResult::Released(3))
            ]),
            Outcome::Done
        );
    }
}
