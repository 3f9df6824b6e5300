//! The git side of a deploy, and everything shipline asks of a repository: which commit ships
//! (`repo`), how two commits relate and which commits lie between them (`history`, the one
//! walk the deploy guard and the release notes share), completing a shallow CI clone from its
//! own remote (`fetch`, the one deepen loop), and the source tarball Heroku builds from
//! (`archive`, written by the byte-exact `tar` writer).
//!
//! Everything is read from the object database with gix, never from the working directory, so
//! a dirty or partially checked-out CI workspace cannot leak into a deploy. The only network
//! access is a `git fetch` run through the `git` command when a shallow CI clone lacks the
//! history needed to compare the deploying commit with the live one.

mod archive;
mod fetch;
mod gzip;
pub mod history;
mod repo;
mod revision;
mod tar;
#[cfg(test)]
mod testing;

pub use archive::ArchiveSummary;
pub use fetch::{complete, remote, Deepen, Failure, Look, Unanswered};
pub use history::Relation;
pub use repo::{open, open_at, Commit, Repository};
