//! `shipline-sandbox`: fake services on loopback for shipline's integration tests and demo.
//!
//! Each fake answers like the real service's public reference and published schema describe
//! it (shapes, status codes, error bodies, pagination, rate-limit headers), and can be
//! scripted per test: what a build prints and how it ends, which request fails next, how much
//! rate limit is left. Every request is recorded so tests can assert what a service received.
//!
//! - [`heroku`]: the Heroku Platform API, its S3 stand-in for source blobs, and the build and
//!   release output streams.
//! - [`github`]: the GitHub REST API (comparing commits), answered from real repositories.
//! - [`server`]: the small HTTP/1.1 server they run on.
//! - [`tarball`]: reads uploaded source tarballs the way Heroku's build service does.

pub mod github;
pub mod heroku;
pub mod server;
pub mod tarball;
mod util;

pub use github::GitHub;
pub use heroku::{AppRef, Config, DynoBoot, Failure, Heroku, Recorded, Script};
