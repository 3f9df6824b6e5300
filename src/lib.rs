//! shipline: continuous deployment from CI to Heroku, as a library the binary (`main.rs`) and
//! the tests share. Dependencies point one way:
//!
//! - [`cli`]: flags and variables, as data ([`cli::COMMANDS`]), parsed into each command's args;
//! - [`steps`]: one module per command, which fetches, decides and acts, never calling another
//!   step;
//! - the domain the steps share: the deploy [`guard`]s, the [`lock`] verdict, release [`notes`],
//!   the [`slack`] message, [`follow`]ing work on Heroku and [`adopt`]ing what a cancelled job
//!   left in flight, the [`state`] file and a step's [`outcome`];
//! - the service clients: [`heroku`], [`circleci`], [`github`], [`slack`]'s transports, and
//!   [`git`] for the repository;
//! - at the bottom, [`http`] with the [`network`] settings, and what every layer uses: [`ci`]
//!   (the log and outputs), [`text`], [`time`], the [`usage`] error (exit code 2) and the
//!   [`signal`]s that cancel a step (exit code 130 or 143).

pub mod adopt;
pub mod ci;
pub mod circleci;
pub mod cli;
pub mod follow;
pub mod git;
pub mod github;
pub mod guard;
pub mod heroku;
pub mod http;
pub mod lock;
pub mod network;
pub mod notes;
pub mod outcome;
pub mod signal;
pub mod slack;
pub mod state;
pub mod steps;
pub mod text;
pub mod time;
pub mod tls;
pub mod usage;
