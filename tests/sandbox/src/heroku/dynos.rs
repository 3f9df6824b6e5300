//! The dyno list as a timeline per release change, derived from the clock like everything else.
//!
//! When a release becomes current (at its creation, or when its release phase succeeds), with
//! its [`DynoBoot`] `b`:
//!
//! - for `b.appear_after` the list still shows the previous current release's dynos;
//! - then the new release's dynos (one per formation quantity, `web.1`, `web.2`, ...) are
//!   `starting` for `b.starting_for`, then settle in `b.settles_in` (all of them, or just one
//!   with `b.only_one`, the others `up`); without preboot the old dynos are gone from the list
//!   as soon as the new ones appear;
//! - with preboot, the previous release's `web` dynos stay listed `up` until the new dynos have
//!   settled plus the app's preboot overlap (other process types restart at once, as on
//!   Heroku).
//!
//! Releases without a slug (`Initial release`) have no dynos. One-off dynos stay on the release
//! they started on; a release phase shows as a `release.NNNN` dyno of the pending release.

use std::time::{Instant, SystemTime};

use super::model::{App, Release};
use super::script::DynoBoot;
use crate::util::{after, sha256_hex, uuid_from};

/// A one-off dyno (`heroku run`): it stays in its state (`up` unless scripted) on the release it
/// started on.
pub struct OneOff {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub release_id: String,
    pub version: u64,
    pub created: SystemTime,
}

/// One dyno as the list shows it at an instant.
pub struct Dyno {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub command: String,
    pub size: String,
    pub state: String,
    pub release_id: String,
    pub version: u64,
    pub created: SystemTime,
    pub updated: SystemTime,
}

/// A number of four digits derived from `seed`, like the suffix of `run.4821`.
pub fn four_digits(seed: &str) -> u32 {
    let hex = sha256_hex(seed.as_bytes());
    let n = u32::from_str_radix(&hex[..8], 16).unwrap_or(0);
    1000 + n % 9000
}

/// When a release's dynos appear and settle, with wall-clock conversions.
struct Boot<'a> {
    release: &'a Release,
    boot: &'a DynoBoot,
    since: Instant,
    since_at: SystemTime,
}

impl<'a> Boot<'a> {
    fn new(app: &'a App, release: &'a Release) -> Boot<'a> {
        let (since, since_at) = release.done_at();
        Boot {
            release,
            boot: app.boot_of(release),
            since,
            since_at,
        }
    }

    fn appear(&self) -> Instant {
        self.since + self.boot.appear_after
    }

    fn settle(&self) -> Instant {
        self.appear() + self.boot.starting_for
    }

    fn wall(&self, t: Instant) -> SystemTime {
        after(self.since_at, t.saturating_duration_since(self.since))
    }

    /// The state of dyno `name` at `now` (once it has appeared) and when it last changed.
    fn state(&self, name: &str, crashing: &str, now: Instant) -> (String, SystemTime) {
        if now < self.settle() {
            return ("starting".into(), self.wall(self.appear()));
        }
        let state = if !self.boot.only_one || name == crashing {
            self.boot.settles_in.clone()
        } else {
            "up".into()
        };
        (state, self.wall(self.settle()))
    }

    fn dyno(&self, slot: &Slot, state: (String, SystemTime)) -> Dyno {
        Dyno {
            id: uuid_from(&format!("{} {}", self.release.id, slot.name)),
            name: slot.name.clone(),
            kind: slot.kind.clone(),
            command: slot.command.clone(),
            size: slot.size.clone(),
            state: state.0,
            release_id: self.release.id.clone(),
            version: self.release.version,
            created: self.wall(self.appear()),
            updated: state.1.max(self.wall(self.appear())),
        }
    }
}

/// One dyno the formation asks for.
struct Slot {
    name: String,
    kind: String,
    command: String,
    size: String,
}

fn slots(app: &App) -> Vec<Slot> {
    app.formation
        .iter()
        .filter(|f| f.kind != "release")
        .flat_map(|f| {
            (1..=f.quantity).map(move |n| Slot {
                name: format!("{}.{n}", f.kind),
                kind: f.kind.clone(),
                command: f.command.clone(),
                size: f.size.clone(),
            })
        })
        .collect()
}

/// The dyno that crashes with [`DynoBoot::crash_one_after`]: `web.2`, else `web.1`, else the
/// first dyno.
fn crashing(slots: &[Slot]) -> String {
    ["web.2", "web.1"]
        .iter()
        .find(|n| slots.iter().any(|s| s.name == **n))
        .map(|n| n.to_string())
        .or_else(|| slots.first().map(|s| s.name.clone()))
        .unwrap_or_default()
}

/// The release that was current just before `current` became current.
fn previous<'a>(app: &'a App, current: &Release, now: Instant) -> Option<&'a Release> {
    let (since, _) = current.done_at();
    app.releases
        .iter()
        .filter(|r| r.version < current.version)
        .filter(|r| r.status(now) == "succeeded" && r.done_at().0 <= since)
        .max_by_key(|r| r.version)
}

/// The app's dynos at `now`, as `GET /apps/{app}/dynos` lists them.
pub fn list(app: &App, now: Instant) -> Vec<Dyno> {
    let mut out = Vec::new();
    let slots = slots(app);
    let crashing = crashing(&slots);
    if let Some(current) = app.current(now) {
        let new = Boot::new(app, current);
        let old = previous(app, current, now)
            .filter(|r| r.slug_id.is_some())
            .map(|r| Boot::new(app, r));
        if let Some(old) = &old {
            let preboot_until = new.settle() + app.preboot_overlap;
            for slot in &slots {
                let listed = now < new.appear()
                    || (app.preboot && slot.kind == "web" && now < preboot_until);
                if !listed {
                    continue;
                }
                // Old dynos had settled; they stay `up` unless their own release was
                // scripted to boot otherwise.
                let state = if old.release.boot.is_some() {
                    old.state(&slot.name, &crashing, now)
                } else {
                    ("up".into(), old.wall(old.settle()))
                };
                out.push(old.dyno(slot, state));
            }
        }
        if current.slug_id.is_some() && now >= new.appear() {
            for slot in &slots {
                let state = new.state(&slot.name, &crashing, now);
                out.push(new.dyno(slot, state));
            }
        }
    }
    for one_off in &app.one_offs {
        out.push(Dyno {
            id: one_off.id.clone(),
            name: one_off.name.clone(),
            kind: one_off.kind.clone(),
            command: "bash".into(),
            size: "Basic".into(),
            state: one_off.state.clone(),
            release_id: one_off.release_id.clone(),
            version: one_off.version,
            created: one_off.created,
            updated: one_off.created,
        });
    }
    let command = app
        .formation
        .iter()
        .find(|f| f.kind == "release")
        .map(|f| f.command.clone())
        .unwrap_or_else(|| "npm run migrate".into());
    for release in &app.releases {
        let Some(phase) = &release.phase else {
            continue;
        };
        if now < phase.t0 || phase.finished(now) {
            continue;
        }
        let started = now >= phase.start();
        let name = format!("release.{}", four_digits(&release.id));
        out.push(Dyno {
            id: uuid_from(&format!("{} {name}", release.id)),
            name,
            kind: "release".into(),
            command: command.clone(),
            size: "Basic".into(),
            state: if started { "up" } else { "starting" }.into(),
            release_id: release.id.clone(),
            version: release.version,
            created: phase.at,
            updated: if started {
                after(phase.at, phase.start() - phase.t0)
            } else {
                phase.at
            },
        });
    }
    out
}
