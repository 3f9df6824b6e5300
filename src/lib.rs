//! shipline: continuous deployment from CI to Heroku, as a library the binary (`main.rs`) and
//! the tests share. Data flows one way: CI environment and flags ([`cli`]) → a step
//! ([`steps`]) that decides with pure functions and talks to the services through typed
//! clients ([`heroku`], [`circleci`], [`github`], [`slack`] with its [`slack::message`], all
//! over [`http`] and the [`network`] settings) → an [`outcome::Outcome`], recorded in the
//! [`state`] file and the CI outputs ([`ci`]).

pub mod ci;
pub mod circleci;
pub mod cli;
pub mod git;
pub mod github;
pub mod heroku;
pub mod http;
pub mod network;
pub mod notes;
pub mod outcome;
pub mod slack;
pub mod state;
pub mod steps;
pub mod text;
pub mod time;
