//! The apps themselves, as their URLs answer: one loopback port per app of a [`Scenario`],
//! answering what Heroku's router would from the fake Heroku's dynos at that moment. So an
//! endpoint check (`shipline verify --check URL/health --expect-body SHA`) sees what it would
//! in production: the commit that serves, the old one while preboot keeps the old dynos, and
//! Heroku's `Application error` page when the app crashed.
//!
//! Every path answers the same: `200` with `{"status": "ok", "commit": "<sha>",
//! "release": "v<N>"}` from a web dyno that is `up` (the newest release that has one), else
//! `503` with Heroku's error page (code `H10` when the dynos crashed, `H20` while they boot).

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::scenario::Scenario;
use crate::server::{Request, Response, Server};

/// The apps' URLs, served while this lives.
pub struct Web {
    apps: Vec<(String, String)>,
    _servers: Vec<Server>,
}

impl Web {
    /// Serves every app of `scenario` on its own free port (over HTTPS when the scenario's
    /// [`crate::scenario::Spec::tls`] says so).
    pub fn start(scenario: Arc<Scenario>) -> io::Result<Web> {
        let mut apps = Vec::new();
        let mut servers = Vec::new();
        let tls = scenario.spec().tls.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        for app in scenario.apps() {
            let listener = TcpListener::bind(("127.0.0.1", 0))?;
            let url = format!("{scheme}://{}", listener.local_addr()?);
            let (s, name) = (scenario.clone(), app.clone());
            servers.push(Server::serve_with(
                listener,
                Arc::new(move |req| answer(&s, &name, &req)),
                tls.as_ref(),
            )?);
            apps.push((app, url));
        }
        Ok(Web {
            apps,
            _servers: servers,
        })
    }

    /// Each app with its URL (`http://127.0.0.1:PORT`, `https://` with TLS), staging first.
    pub fn urls(&self) -> &[(String, String)] {
        &self.apps
    }

    /// One app's URL.
    pub fn url(&self, app: &str) -> Option<&str> {
        self.apps
            .iter()
            .find(|(a, _)| a == app)
            .map(|(_, u)| u.as_str())
    }
}

/// Heroku's error page, as the router serves it (the real one is HTML with an iframe).
fn error_page(code: &str, app: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Application Error</title></head><body>\
         Application error: an error occurred in the application and your page could not be \
         served. ({code}, app {app})</body></html>"
    );
    Response::new(503, "text/html; charset=utf-8", body)
        .with_header("Cache-Control", "no-cache, no-store")
}

fn answer(scenario: &Scenario, app: &str, _req: &Request) -> Response {
    let heroku = &scenario.heroku;
    let dynos = heroku.dynos(app);
    let web: Vec<&Value> = dynos.iter().filter(|d| d["type"] == "web").collect();
    let serving = web
        .iter()
        .filter(|d| d["state"] == "up")
        .max_by_key(|d| d["release"]["version"].as_u64().unwrap_or(0));
    let Some(dyno) = serving else {
        let crashed = web.iter().any(|d| d["state"] == "crashed");
        return error_page(if crashed { "H10" } else { "H20" }, app);
    };
    let version = dyno["release"]["version"].as_u64().unwrap_or(0);
    let slug = heroku
        .releases(app)
        .into_iter()
        .find(|r| r["version"].as_u64() == Some(version))
        .and_then(|r| r["slug"]["id"].as_str().map(str::to_string));
    let commit = slug.and_then(|id| {
        heroku
            .slugs(app)
            .into_iter()
            .find(|s| s["id"] == id.as_str())
            .and_then(|s| s["commit"].as_str().map(str::to_string))
    });
    let body = json!({"status": "ok", "commit": commit, "release": format!("v{version}")});
    Response::new(200, "application/json", format!("{body}\n"))
}
