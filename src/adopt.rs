//! Re-runs adopt work in flight. A cancelled CI job stops, Heroku does not: the build it started
//! keeps building and its release phase keeps running. The re-run of the job must follow that
//! work rather than start another build of the same commit (two releases of one commit), and
//! must not fail on "release still pending" when the pending release is its own.
//!
//! What is in flight is read from Heroku's own records (the app's recent builds and the
//! release a build created), so a job killed without a chance to record anything (SIGKILL) is
//! picked up too; the state file's [`crate::state::InFlight`] adds only how the cancelled step
//! ended. The decision is a pure function of those records.

use crate::heroku::{Build, Status};

/// How many recent builds a deploy looks through for one of its commit.
pub const RECENT_BUILDS: u32 = 10;

/// What the app's recent builds say about a deploy of `commit`.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// Nothing of the commit in flight, and no build of another: start a build.
    Nothing,
    /// A build of the commit still running: follow it.
    Building(&'a Build),
    /// The newest build of the commit succeeded: its release may still be in its release
    /// phase, or have finished since (the caller reads it).
    Built(&'a Build),
    /// A build of another commit still running: another deploy is under way.
    Other(&'a Build),
}

/// Looks through `builds` (newest first) for the work of a deploy of `commit`.
pub fn find<'a>(builds: &'a [Build], commit: &str) -> Found<'a> {
    let ours = |b: &&Build| b.commit() == Some(commit);
    if let Some(build) = builds
        .iter()
        .filter(ours)
        .find(|b| b.status == Status::Pending)
    {
        return Found::Building(build);
    }
    if let Some(other) = builds
        .iter()
        .find(|b| b.status == Status::Pending && b.commit() != Some(commit))
    {
        return Found::Other(other);
    }
    match builds.iter().find(ours) {
        Some(build) if build.status == Status::Succeeded && build.release.is_some() => {
            Found::Built(build)
        }
        _ => Found::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heroku::{BuildSource, Ref};

    const OURS: &str = "1111111111111111111111111111111111111111";
    const OTHER: &str = "2222222222222222222222222222222222222222";

    fn build(id: &str, commit: &str, status: Status, release: Option<&str>) -> Build {
        Build {
            id: id.into(),
            status,
            output_stream_url: None,
            release: release.map(|r| Ref { id: r.into() }),
            source_blob: Some(BuildSource {
                version: Some(commit.into()),
            }),
            created_at: None,
        }
    }

    #[test]
    fn a_running_build_of_the_commit_is_followed_not_repeated() {
        let builds = [
            build("b3", OURS, Status::Pending, None),
            build("b2", OTHER, Status::Succeeded, Some("r2")),
        ];
        assert_eq!(find(&builds, OURS), Found::Building(&builds[0]));
    }

    #[test]
    fn a_finished_build_of_the_commit_leads_to_its_release() {
        let builds = [
            build("b3", OURS, Status::Succeeded, Some("r3")),
            build("b2", OURS, Status::Failed, None),
        ];
        assert_eq!(find(&builds, OURS), Found::Built(&builds[0]));
        // A failed newest build released nothing: build again.
        let failed = [
            build("b4", OURS, Status::Failed, None),
            build("b3", OURS, Status::Succeeded, Some("r3")),
        ];
        assert_eq!(find(&failed, OURS), Found::Nothing);
    }

    #[test]
    fn another_commit_building_is_another_deploy() {
        let builds = [build("b9", OTHER, Status::Pending, None)];
        assert_eq!(find(&builds, OURS), Found::Other(&builds[0]));
        assert_eq!(find(&[], OURS), Found::Nothing);
    }
}
