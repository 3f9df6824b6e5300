//! `shipline promote`: ship to production the exact slug staging runs, with no second build.
//!
//! What was checked on staging is what goes live: the same compiled slug. Every deploy guard
//! applies, judged on the slug's commit, and the staging release must run the commit this
//! pipeline is shipping, so a newer staging deploy that raced this job is not promoted by it.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde_json::json;

use super::deploy::{self, judge, kill_switch_in_env, live_of, preflight, short, Verdict};
use super::follow::{self, Follow, HerokuConfig, Tail};
use crate::ci;
use crate::cli::{PromoteArgs, UsageError};
use crate::git;
use crate::heroku::{Heroku, Release, Status};
use crate::outcome::{human, Outcome, State};

/// How the slug gets to production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Both apps are in this pipeline: a pipeline promotion.
    Pipeline(String),
    /// A release of the staging slug on the production app.
    Slug,
}

/// Both apps coupled to one pipeline → a pipeline promotion (Heroku's own record of it);
/// otherwise a release from the slug, which needs no pipeline.
pub fn route(staging_pipeline: Option<&str>, production_pipeline: Option<&str>) -> Route {
    match (staging_pipeline, production_pipeline) {
        (Some(a), Some(b)) if a == b => Route::Pipeline(a.to_string()),
        _ => Route::Slug,
    }
}

/// Runs `shipline promote`.
pub fn run(args: &PromoteArgs, state: &mut State) -> Result<Outcome> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    if let Some(reason) = kill_switch_in_env(args.enabled_by.as_deref()) {
        return Ok(Outcome::Skipped(reason));
    }
    let config = HerokuConfig::from_env()?;
    let repo = git::open(&args.dir).map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    let shipping = repo
        .resolve(&args.git_ref)
        .map_err(|e| anyhow!(UsageError(format!("{e:#}"))))?;
    let heroku = Heroku::new(&config.api_url, &config.api_key, deadline);

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
        args.app
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

    let before = preflight(&heroku, &args.app)?;
    let relation = match before.live.as_ref().and_then(|l| l.commit.as_deref()) {
        Some(live) if live != commit => Some(
            repo.relation(&commit, live)
                .context("could not compare the staging commit with the live one")?,
        ),
        _ => None,
    };
    match judge(
        before.live.as_ref(),
        &commit,
        relation.as_ref(),
        before.pending,
        args.force,
    ) {
        Verdict::Skip(reason) => return Ok(Outcome::Skipped(reason)),
        Verdict::Fail(reason) => return Ok(Outcome::Failed(reason)),
        Verdict::Proceed(notes) => notes.iter().for_each(|n| ci::say(n)),
    }
    let route = route(
        heroku
            .coupling(&staging_app.name)?
            .map(|c| c.pipeline.id)
            .as_deref(),
        heroku
            .coupling(&before.app)?
            .map(|c| c.pipeline.id)
            .as_deref(),
    );
    let previous = before.live.as_ref().map(
        |live| json!({ "id": before.live_id, "version": live.version, "commit": live.commit }),
    );
    let mut record = json!({
        "app": before.app,
        "commit": commit,
        "ref": args.git_ref,
        "source": { "app": staging_app.name, "release": staging_release.version, "slug": slug_id },
        "previous_release": previous,
        "route": match &route { Route::Pipeline(_) => "pipeline", Route::Slug => "slug" },
    });
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
        record["dry_run"] = json!(true);
        state.set("promote", record);
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
    let created = match &route {
        Route::Slug => heroku
            .release_slug(&before.app, &slug_id, &description)
            .with_context(|| format!("could not release the staging slug on {}", before.app))?,
        Route::Pipeline(pipeline) => pipeline_promotion(
            &follow,
            pipeline,
            &staging_app.id,
            &before.app_id,
            &before.app,
        )?,
    };
    ci::say(&format!(
        "Release v{}: {}",
        created.version, created.description
    ));
    let mut tail = Tail::new();
    let release = follow::release(&follow, &before.app, created, &mut tail)?;
    let live_version = before.live.as_ref().map(|l| l.version).unwrap_or(0);
    if release.status != Status::Succeeded {
        tail.show("release phase output");
        return Ok(Outcome::Failed(format!(
            "release v{} (release {}) {}: its release phase did not succeed; the live release stays v{live_version}",
            release.version, release.id, release.status
        )));
    }
    ci::say(&format!(
        "Promoted v{} ({}) to {} in {}",
        release.version,
        short(&commit),
        before.app,
        human(started.elapsed())
    ));
    record["release"] = json!({ "id": release.id, "version": release.version });
    record["web_url"] = json!(before.web_url);
    record["timings_ms"] = json!({ "total": started.elapsed().as_millis() as u64 });
    state.set("promote", record);
    ci::write_outputs(&[
        ("release-version", release.version.to_string()),
        ("commit", commit.clone()),
    ])?;
    ci::write_summary(&format!(
        "### Promoted {} v{} to {} v{}\n\ncommit `{}`, previous v{live_version}\n\n",
        staging_app.name,
        staging_release.version,
        before.app,
        release.version,
        deploy::short(&commit)
    ))?;
    Ok(Outcome::Done)
}

/// Runs a pipeline promotion and waits until the target has its release.
fn pipeline_promotion(
    follow: &Follow<'_>,
    pipeline: &str,
    source_id: &str,
    target_id: &str,
    target: &str,
) -> Result<Release> {
    let promotion = follow
        .heroku
        .promote(pipeline, source_id, target_id)
        .with_context(|| format!("could not start the pipeline promotion to {target}"))?;
    ci::say(&format!("Pipeline promotion {} started", promotion.id));
    loop {
        let targets = follow.heroku.promotion_targets(&promotion.id)?;
        let Some(t) = targets.into_iter().find(|t| t.app.id == target_id) else {
            return Err(anyhow!(
                "pipeline promotion {} has no target {target}",
                promotion.id
            ));
        };
        if let Some(release) = &t.release {
            return follow.heroku.release(target, &release.id);
        }
        if t.status == Status::Failed {
            return Err(anyhow!(
                "pipeline promotion {} to {target} failed: {}",
                promotion.id,
                t.error_message.unwrap_or_else(|| "no reason given".into())
            ));
        }
        follow.sleep(&format!(
            "pipeline promotion {} to create a release",
            promotion.id
        ))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_pipeline_promotes_through_it() {
        assert_eq!(route(Some("p1"), Some("p1")), Route::Pipeline("p1".into()));
        assert_eq!(route(Some("p1"), Some("p2")), Route::Slug);
        assert_eq!(route(None, Some("p1")), Route::Slug);
        assert_eq!(route(None, None), Route::Slug);
    }
}
