//! The lock's decision, as a pure function of the builds read from the CI: proceed, wait
//! behind an earlier build, or skip because a newer build supersedes this one.
//!
//! The CI's own record of its builds is the queue. Each build of the same workflow on the same
//! branch is reduced to where its job of the lock's name stands ([`JobState`]) and a total,
//! numeric order ([`OrderKey`]); [`decide`] does the rest. No I/O, no clock: `now` is given.

use std::time::{Duration, SystemTime};

use crate::time::human;

/// How the lock treats builds that are not the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every build deploys, one at a time, oldest first.
    Queue,
    /// A build that a newer one has overtaken exits as skipped.
    Latest,
}

impl Mode {
    /// `--mode`'s words, the default first.
    pub const WORDS: &[(&str, Mode)] = &[("queue", Mode::Queue), ("latest", Mode::Latest)];

    /// What `--mode` takes, for its error message.
    pub const TAKES: &str =
        "queue (every build deploys, in order) or latest (superseded builds skip)";

    /// The word used in flags and messages.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Queue => "queue",
            Mode::Latest => "latest",
        }
    }
}

/// What the lock needs to know to decide, beyond the builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Queue or latest.
    pub mode: Mode,
    /// Whether builds held for a manual approval block earlier ones' successors.
    pub include_on_hold: bool,
    /// A build whose job has run longer than this is reported and ignored.
    pub stale_after: Option<Duration>,
}

/// A build's place in the order: numeric, total, no ties. `major` is the CircleCI pipeline
/// number or the GitHub run's rank; `minor` orders builds sharing it (a rerun workflow of the
/// same pipeline, by creation time); the id settles anything left.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    /// Pipeline number (CircleCI) or run rank (GitHub).
    pub major: u64,
    /// Creation time in milliseconds, for builds sharing `major`.
    pub minor: u64,
    /// The build's id.
    pub id: String,
}

/// Where a build's job of the lock's name stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// The build may still get the job: a pipeline whose configuration is still being set up.
    Pending,
    /// Waiting for the jobs it requires (its tests).
    Blocked,
    /// Held behind a manual approval.
    OnHold,
    /// Its turn came; waiting for an executor.
    Queued,
    /// Running: waiting at the lock, or holding it.
    Running,
    /// Finished successfully: it deployed (or its own lock let it pass).
    Succeeded,
    /// Finished otherwise: failed, canceled, not run.
    Ended,
    /// A status this version does not know; treated as in flight, never as finished.
    Unknown(String),
}

impl JobState {
    /// Whether an earlier build in this state keeps a later one waiting.
    pub fn blocks(&self, include_on_hold: bool) -> bool {
        match self {
            JobState::Pending
            | JobState::Blocked
            | JobState::Queued
            | JobState::Running
            | JobState::Unknown(_) => true,
            JobState::OnHold => include_on_hold,
            JobState::Succeeded | JobState::Ended => false,
        }
    }

    /// Whether a newer build in this state supersedes an older one in `latest` mode: its job
    /// reached the lock, or already finished a deploy. A build still blocked on its tests
    /// never supersedes anything: its tests may fail.
    pub fn supersedes(&self) -> bool {
        matches!(self, JobState::Running | JobState::Succeeded)
    }
}

/// One build of the same job on the same branch, as the lock sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Its place in the order.
    pub key: OrderKey,
    /// The number people know it by (`#100`).
    pub number: u64,
    /// Where to look at it.
    pub link: String,
    /// Its job's state.
    pub state: JobState,
    /// When its job started, if it has.
    pub started: Option<SystemTime>,
    /// When the build was created.
    pub created: Option<SystemTime>,
}

impl Build {
    /// How long its job has been running at `now`, if it is running.
    pub fn running_for(&self, now: SystemTime) -> Option<Duration> {
        if self.state != JobState::Running {
            return None;
        }
        let since = self.started.or(self.created)?;
        Some(now.duration_since(since).unwrap_or_default())
    }

    /// Whether its job has been running longer than `stale_after` at `now`, so the lock ignores
    /// it (`--stale-after`; without it nothing is stale). Only a running job can be stale.
    pub fn is_stale(&self, stale_after: Option<Duration>, now: SystemTime) -> bool {
        match (stale_after, self.running_for(now)) {
            (Some(limit), Some(ran)) => ran > limit,
            _ => false,
        }
    }

    /// Its state in words, with how long: `running for 2m10s`, `blocked on its upstream jobs
    /// (created 3m05s ago)`.
    pub fn situation(&self, now: SystemTime) -> String {
        let age =
            |t: Option<SystemTime>| t.map(|t| human(now.duration_since(t).unwrap_or_default()));
        match &self.state {
            JobState::Running => match self.running_for(now) {
                Some(d) => format!("running for {}", human(d)),
                None => "running".into(),
            },
            JobState::Queued => "queued for an executor".into(),
            JobState::Blocked => match age(self.created) {
                Some(a) => format!("blocked on its upstream jobs (build created {a} ago)"),
                None => "blocked on its upstream jobs".into(),
            },
            JobState::OnHold => "on hold for a manual approval".into(),
            JobState::Pending => "still setting up its configuration".into(),
            JobState::Succeeded => "finished".into(),
            JobState::Ended => "ended without success".into(),
            JobState::Unknown(s) => format!("in unknown status `{s}` (treated as in flight)"),
        }
    }

    /// `#41 (running for 2m10s, https://…)`.
    pub fn describe(&self, now: SystemTime) -> String {
        format!("#{} ({}, {})", self.number, self.situation(now), self.link)
    }
}

/// The lock's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockVerdict {
    /// No earlier build is in flight: take the lock.
    Proceed {
        /// Builds ignored because they ran longer than `--stale-after`.
        stale: Vec<Build>,
    },
    /// Earlier builds are in flight.
    Wait {
        /// The earlier builds in flight, nearest (newest) first: the first is the one this
        /// build waits behind directly.
        behind: Vec<Build>,
        /// Builds ignored because they ran longer than `--stale-after`.
        stale: Vec<Build>,
    },
    /// `latest` mode: a newer build reached the lock or finished its deploy; this one skips.
    Skip {
        /// The newest such build.
        by: Build,
        /// Builds ignored because they ran longer than `--stale-after`.
        stale: Vec<Build>,
    },
}

impl LockVerdict {
    /// The stale builds the verdict ignored.
    pub fn stale(&self) -> &[Build] {
        match self {
            LockVerdict::Proceed { stale }
            | LockVerdict::Wait { stale, .. }
            | LockVerdict::Skip { stale, .. } => stale,
        }
    }

    /// Whether two verdicts say the same thing (for the confirming second read): both proceed,
    /// or both skip.
    pub fn agrees_with(&self, other: &LockVerdict) -> bool {
        matches!(
            (self, other),
            (LockVerdict::Proceed { .. }, LockVerdict::Proceed { .. })
                | (LockVerdict::Skip { .. }, LockVerdict::Skip { .. })
        )
    }
}

/// Decides for the build `own` given the other builds of the same job on the same branch.
///
/// 1. `own` is excluded by id, whatever the list says about it.
/// 2. With `stale_after`, a build whose job has been running longer is ignored (and listed).
/// 3. `latest` mode: the newest newer build whose job is running or has succeeded supersedes
///    `own` → [`LockVerdict::Skip`]. A newer build that is blocked, queued, on hold or still
///    setting up does not; so the newest build never skips.
/// 4. An earlier build whose job is pending, blocked, queued, running, of unknown status, or
///    (with `include_on_hold`) on hold → [`LockVerdict::Wait`], nearest first.
/// 5. Otherwise → [`LockVerdict::Proceed`].
pub fn decide(own: &OrderKey, others: &[Build], policy: &Policy, now: SystemTime) -> LockVerdict {
    let mut stale = Vec::new();
    let mut live = Vec::new();
    for build in others.iter().filter(|b| b.key.id != own.id) {
        if build.is_stale(policy.stale_after, now) {
            stale.push(build.clone());
        } else {
            live.push(build);
        }
    }
    stale.sort_unstable_by(oldest_first);

    if policy.mode == Mode::Latest {
        let newest_ahead = live
            .iter()
            .filter(|b| b.key > *own && b.state.supersedes())
            .max_by(|a, b| a.key.cmp(&b.key));
        if let Some(by) = newest_ahead {
            return LockVerdict::Skip {
                by: (*by).clone(),
                stale,
            };
        }
    }

    let mut behind: Vec<Build> = live
        .iter()
        .filter(|b| b.key < *own && b.state.blocks(policy.include_on_hold))
        .map(|b| (*b).clone())
        .collect();
    if behind.is_empty() {
        return LockVerdict::Proceed { stale };
    }
    behind.sort_unstable_by(oldest_first);
    behind.reverse();
    LockVerdict::Wait { behind, stale }
}

/// Builds in the order the CI started them (keys are unique, so the sort needs no stability;
/// one function for both lists, so one sort is linked).
fn oldest_first(a: &Build, b: &Build) -> std::cmp::Ordering {
    a.key.cmp(&b.key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn key(n: u64) -> OrderKey {
        OrderKey {
            major: n,
            minor: 0,
            id: format!("wf-{n}"),
        }
    }

    fn build(n: u64, state: JobState) -> Build {
        Build {
            key: key(n),
            number: n,
            link: format!("https://ci.example/{n}"),
            state,
            started: Some(now() - Duration::from_secs(60)),
            created: Some(now() - Duration::from_secs(300)),
        }
    }

    const QUEUE: Policy = Policy {
        mode: Mode::Queue,
        include_on_hold: false,
        stale_after: None,
    };
    const LATEST: Policy = Policy {
        mode: Mode::Latest,
        ..QUEUE
    };

    fn numbers(builds: &[Build]) -> Vec<u64> {
        builds.iter().map(|b| b.number).collect()
    }

    #[test]
    fn alone_proceeds() {
        assert_eq!(
            decide(&key(7), &[], &QUEUE, now()),
            LockVerdict::Proceed { stale: vec![] }
        );
    }

    #[test]
    fn every_in_flight_state_of_an_earlier_build_blocks() {
        for state in [
            JobState::Pending,
            JobState::Blocked,
            JobState::Queued,
            JobState::Running,
            JobState::Unknown("new".into()),
        ] {
            let v = decide(&key(7), &[build(6, state.clone())], &QUEUE, now());
            assert!(matches!(v, LockVerdict::Wait { .. }), "{state:?}: {v:?}");
        }
        for state in [JobState::Succeeded, JobState::Ended] {
            let v = decide(&key(7), &[build(6, state.clone())], &QUEUE, now());
            assert!(matches!(v, LockVerdict::Proceed { .. }), "{state:?}: {v:?}");
        }
    }

    #[test]
    fn order_is_numeric_not_lexical() {
        // "100" < "99" as strings; as numbers 99 goes first.
        let v = decide(&key(100), &[build(99, JobState::Running)], &QUEUE, now());
        assert!(matches!(v, LockVerdict::Wait { ref behind, .. } if numbers(behind) == [99]));
        let v = decide(&key(99), &[build(100, JobState::Running)], &QUEUE, now());
        assert!(matches!(v, LockVerdict::Proceed { .. }), "{v:?}");
        let v = decide(&key(1000), &[build(999, JobState::Blocked)], &QUEUE, now());
        assert!(matches!(v, LockVerdict::Wait { .. }));
    }

    #[test]
    fn waits_behind_the_nearest_earlier_build_first() {
        let others = [
            build(3, JobState::Running),
            build(5, JobState::Blocked),
            build(4, JobState::Ended),
            build(9, JobState::Running),
        ];
        match decide(&key(6), &others, &QUEUE, now()) {
            LockVerdict::Wait { behind, .. } => assert_eq!(numbers(&behind), [5, 3]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_own_build_is_excluded_by_id() {
        let mut me = build(6, JobState::Running);
        me.key = key(6);
        let v = decide(&key(6), &[me], &QUEUE, now());
        assert!(matches!(v, LockVerdict::Proceed { .. }));
        // A rerun workflow of the same pipeline created earlier is another build.
        let mut first_attempt = build(6, JobState::Running);
        first_attempt.key = OrderKey {
            major: 6,
            minor: 0,
            id: "wf-6-first".into(),
        };
        let own = OrderKey {
            major: 6,
            minor: 5,
            id: "wf-6-rerun".into(),
        };
        assert!(matches!(
            decide(&own, &[first_attempt], &QUEUE, now()),
            LockVerdict::Wait { .. }
        ));
    }

    #[test]
    fn on_hold_blocks_only_when_asked() {
        let others = [build(5, JobState::OnHold)];
        assert!(matches!(
            decide(&key(6), &others, &QUEUE, now()),
            LockVerdict::Proceed { .. }
        ));
        let strict = Policy {
            include_on_hold: true,
            ..QUEUE
        };
        assert!(matches!(
            decide(&key(6), &others, &strict, now()),
            LockVerdict::Wait { .. }
        ));
    }

    #[test]
    fn latest_skips_for_a_newer_build_at_the_lock_or_done() {
        let others = [
            build(5, JobState::Running),
            build(7, JobState::Running),
            build(8, JobState::Running),
            build(9, JobState::Blocked),
        ];
        match decide(&key(6), &others, &LATEST, now()) {
            LockVerdict::Skip { by, .. } => assert_eq!(by.number, 8),
            other => panic!("{other:?}"),
        }
        let done = [build(7, JobState::Succeeded)];
        assert!(matches!(
            decide(&key(6), &done, &LATEST, now()),
            LockVerdict::Skip { .. }
        ));
        // Queue mode never skips.
        assert!(matches!(
            decide(&key(6), &others, &QUEUE, now()),
            LockVerdict::Wait { .. }
        ));
    }

    #[test]
    fn latest_never_skips_for_a_newer_build_still_blocked_on_tests() {
        for state in [
            JobState::Blocked,
            JobState::Queued,
            JobState::Pending,
            JobState::OnHold,
            JobState::Ended,
            JobState::Unknown("x".into()),
        ] {
            let others = [build(5, JobState::Running), build(7, state.clone())];
            let v = decide(&key(6), &others, &LATEST, now());
            assert!(matches!(v, LockVerdict::Wait { .. }), "{state:?}: {v:?}");
        }
    }

    #[test]
    fn the_newest_build_never_skips() {
        let others: Vec<Build> = (1..10).map(|n| build(n, JobState::Running)).collect();
        let v = decide(&key(10), &others, &LATEST, now());
        assert!(matches!(v, LockVerdict::Wait { .. }), "{v:?}");
        let v = decide(&key(10), &[build(9, JobState::Succeeded)], &LATEST, now());
        assert!(matches!(v, LockVerdict::Proceed { .. }), "{v:?}");
    }

    #[test]
    fn stale_builds_are_reported_and_ignored_both_ways() {
        let mut ghost = build(5, JobState::Running);
        ghost.started = Some(now() - Duration::from_secs(7200));
        let mut newer_ghost = build(8, JobState::Running);
        newer_ghost.started = Some(now() - Duration::from_secs(7200));
        let others = [ghost.clone(), newer_ghost.clone()];
        let policy = Policy {
            stale_after: Some(Duration::from_secs(3600)),
            ..LATEST
        };
        match decide(&key(6), &others, &policy, now()) {
            LockVerdict::Proceed { stale } => assert_eq!(numbers(&stale), [5, 8]),
            other => panic!("{other:?}"),
        }
        // Without --stale-after the ghost blocks (and the newer one supersedes).
        assert!(matches!(
            decide(&key(6), &[ghost.clone()], &QUEUE, now()),
            LockVerdict::Wait { .. }
        ));
        // A blocked build is never stale: only a running job is.
        let mut old_blocked = build(5, JobState::Blocked);
        old_blocked.created = Some(now() - Duration::from_secs(7200));
        assert!(matches!(
            decide(&key(6), &[old_blocked], &policy, now()),
            LockVerdict::Wait { .. }
        ));
    }

    #[test]
    fn situations_say_how_long() {
        let b = build(41, JobState::Running);
        assert_eq!(
            b.describe(now()),
            "#41 (running for 1m00s, https://ci.example/41)"
        );
        assert!(build(41, JobState::Blocked)
            .situation(now())
            .contains("created 5m00s ago"));
        let agree = LockVerdict::Proceed { stale: vec![] };
        assert!(agree.agrees_with(&LockVerdict::Proceed { stale: vec![] }));
        assert!(!agree.agrees_with(&LockVerdict::Wait {
            behind: vec![],
            stale: vec![]
        }));
    }
}
