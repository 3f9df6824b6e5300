//! `shipline-sandbox`: fake services on loopback for shipline's integration tests and demo.
//!
//! Each fake answers like the real service's public reference and published schema describe
//! it (shapes, status codes, error bodies, pagination, rate-limit headers), and can be
//! scripted per test: what a build prints and how it ends, which request fails next, how much
//! rate limit is left. Every request is recorded so tests can assert what a service received.
//!
//! - [`circleci`]: CircleCI API v2 as `shipline lock` reads it, driven by a simulation of
//!   builds that start, wait on their tests, reach the lock, run and finish.
//! - [`heroku`]: the Heroku Platform API (with dynos that boot release by release, preboot,
//!   pipelines and promotions), its S3 stand-in for source blobs, and the build and release
//!   output streams.
//! - [`github`]: the GitHub REST API (comparing commits), answered from real repositories.
//! - [`scenario`]: everything one CI job of staging → production talks to, started together
//!   (`shipline-sandbox pipeline`), and [`control`], its out-of-band JSON API for scripting
//!   the next dyno boot, passing and finishing builds, and reading what the fakes received.
//! - [`web`]: the scenario's apps at their URLs, answering as Heroku's router would from
//!   the dynos (the serving commit, or `Application error` when they crashed).
//! - [`transcript`]: what Slack received, laid out for a terminal as Slack lays it out.
//! - [`server`]: the small HTTP/1.1 server they run on.
//! - [`slack`]: Slack's incoming webhooks and Web API (`chat.postMessage`, `chat.update`),
//!   enforcing its limits and keeping every message with its thread replies and edits.
//! - [`tarball`]: reads uploaded source tarballs the way Heroku's build service does.
//! - [`target`]: a scriptable HTTP app for endpoint checks (statuses in sequence, slow
//!   answers, redirects, a port where nothing listens).
//! - [`tls`]: a test CA and server certificates made at test time (good, unknown issuer,
//!   wrong name, expired); every fake above can serve HTTPS with one (`start_tls`).
//! - [`proxy`]: an HTTP proxy on loopback (`CONNECT` tunnels and absolute-form requests),
//!   optionally demanding credentials, recording what went through it.

pub mod circleci;
pub mod control;
pub mod github;
pub mod heroku;
pub mod proxy;
pub mod scenario;
pub mod server;
pub mod slack;
pub mod tarball;
pub mod target;
pub mod tls;
pub mod transcript;
mod util;
pub mod web;

pub use github::GitHub;
pub use heroku::{AppRef, Config, DynoBoot, Failure, Heroku, Recorded, Script};
pub use proxy::Proxy;
pub use target::{Answer, Target};
pub use tls::{ServerCert, TestCa};
