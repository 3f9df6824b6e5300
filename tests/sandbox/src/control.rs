//! The control API of a [`Scenario`]: JSON over HTTP on its own loopback port, for what a test
//! or the demo does *to* the services rather than *with* them — script the next dyno boot,
//! pass a build's tests or finish its job, and read back everything the fakes received. The
//! fakes' own ports answer only what the real services answer.
//!
//! Endpoints (every answer is JSON; errors are `{"error": "<what failed and what to do>"}`):
//!
//! | method and path | what it does |
//! | --- | --- |
//! | `GET /` | the scenario: apps, pipeline, service URLs, builds, and this list |
//! | `POST /heroku/apps/{app}/next-boot` | the app's next release boots as told: `{"crash": true, "starting_ms": 1500, "only_one": false}` (all optional; by default its dynos go `starting` then `crashed`) |
//! | `GET /heroku/apps/{app}/releases` | its releases as the Platform API renders them, oldest first |
//! | `GET /heroku/apps/{app}/builds` | its builds, oldest first |
//! | `GET /heroku/apps/{app}/dynos` | its dynos now |
//! | `GET /heroku/promotions` | every pipeline promotion with its targets |
//! | `GET /requests/{service}` | every request `heroku`, `slack`, `circleci` or `github` received, in order: method, path, query, headers, body (text, or `null` with `body_bytes` when binary) |
//! | `GET /slack/messages` | every Slack message in arrival order (webhook and Web API), with thread replies and earlier versions (`edits`) |
//! | `GET /slack/directory` | the names Slack shows for IDs: `channels`, `usergroups` (`S0ONCALL` → `oncall`), `users` |
//! | `GET /circleci/builds`, `GET /github/runs` | each build's number and `deploy` job status |
//! | `POST /circleci/builds/{n}/tests`, `POST /github/runs/{n}/tests` | its tests end now, `{"passed": true}` by default; answers once its `deploy` job runs (has reached the lock) |
//! | `POST /circleci/builds/{n}/finish`, `POST /github/runs/{n}/finish` | its `deploy` job ends, `{"success": true}` by default: a lock waiting behind it proceeds |
//! | `POST /circleci/builds/{n}/cancel` | its workflow is cancelled |

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::heroku::DynoBoot;
use crate::scenario::Scenario;
use crate::server::{Request, Response, Server};
use crate::slack::{Message, Via};

const JSON: &str = "application/json; charset=utf-8";

/// How long `POST …/tests` waits for the deploy job to start running.
const AT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoints, for `GET /` and for the answer to an unknown path.
const ENDPOINTS: [&str; 15] = [
    "GET /",
    "POST /heroku/apps/{app}/next-boot {\"crash\": true, \"starting_ms\": 1500, \"only_one\": false}",
    "GET /heroku/apps/{app}/releases",
    "GET /heroku/apps/{app}/builds",
    "GET /heroku/apps/{app}/dynos",
    "GET /heroku/promotions",
    "GET /requests/{heroku|slack|circleci|github}",
    "GET /slack/messages",
    "GET /slack/directory",
    "GET /circleci/builds",
    "GET /github/runs",
    "POST /circleci/builds/{n}/tests {\"passed\": true}",
    "POST /circleci/builds/{n}/finish {\"success\": true}",
    "POST /circleci/builds/{n}/cancel",
    "POST /github/runs/{n}/tests, POST /github/runs/{n}/finish",
];

/// A running control API. Dropping it stops the server (the scenario lives on while
/// anything else holds it).
pub struct Control {
    url: String,
    _server: Server,
}

impl Control {
    /// Serves the control API of `scenario` on 127.0.0.1:`port` (0 for a free port).
    pub fn start(scenario: Arc<Scenario>, port: u16) -> io::Result<Control> {
        Control::start_with(scenario, port, Vec::new())
    }

    /// The same, with `extra` environment (such as the apps' URLs from [`crate::web::Web`])
    /// shown under `env` by `GET /`.
    pub fn start_with(
        scenario: Arc<Scenario>,
        port: u16,
        extra: Vec<(String, String)>,
    ) -> io::Result<Control> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let url = format!("http://{}", listener.local_addr()?);
        let base = url.clone();
        let server = Server::serve(
            listener,
            Arc::new(move |req| handle(&scenario, &base, &extra, &req)),
        )?;
        Ok(Control {
            url,
            _server: server,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (what `SHIPLINE_SANDBOX_CONTROL` holds).
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

fn answer(status: u16, body: Value) -> Response {
    Response::new(status, JSON, format!("{body:#}\n"))
}

fn error(status: u16, message: String) -> Response {
    answer(status, json!({ "error": message }))
}

fn handle(scenario: &Scenario, base: &str, extra: &[(String, String)], req: &Request) -> Response {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let method = req.method.as_str();
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(Value::Object(map)) => Value::Object(map),
            _ => {
                return error(
                    400,
                    format!(
                        "the body of {method} {} is not a JSON object; send e.g. {{}} or \
                         {{\"crash\": true}}",
                        req.path
                    ),
                )
            }
        }
    };
    match (method, parts.as_slice()) {
        ("GET", [""]) => answer(200, overview(scenario, base, extra)),
        ("POST", ["heroku", "apps", app, "next-boot"]) => next_boot(scenario, app, &body),
        ("GET", ["heroku", "apps", app, what @ ("releases" | "builds" | "dynos")]) => {
            if !scenario.apps().iter().any(|a| a == app) {
                return unknown_app(scenario, app);
            }
            let items = match *what {
                "releases" => scenario.heroku.releases(app),
                "builds" => scenario.heroku.builds(app),
                _ => scenario.heroku.dynos(app),
            };
            answer(200, Value::Array(items))
        }
        ("GET", ["heroku", "promotions"]) => {
            answer(200, Value::Array(scenario.heroku.promotions()))
        }
        ("GET", ["requests", service]) => requests(scenario, service),
        ("GET", ["slack", "messages"]) => answer(200, slack_messages(scenario)),
        ("GET", ["slack", "directory"]) => answer(200, scenario.slack_directory()),
        ("GET", [ci @ ("circleci" | "github"), kind]) if *kind == builds_word(ci) => {
            answer(200, Value::Array(builds_json(scenario, ci)))
        }
        ("POST", [ci @ ("circleci" | "github"), kind, number, action])
            if *kind == builds_word(ci) =>
        {
            build_action(scenario, ci, number, action, &body)
        }
        (_, _) => error(
            404,
            format!(
                "no control endpoint {method} {}; the endpoints are: {}",
                req.path,
                ENDPOINTS.join("; ")
            ),
        ),
    }
}

/// `builds` on CircleCI, `runs` on GitHub: each CI's own word.
fn builds_word(ci: &str) -> &'static str {
    if ci == "github" {
        "runs"
    } else {
        "builds"
    }
}

fn overview(scenario: &Scenario, base: &str, extra: &[(String, String)]) -> Value {
    let spec = scenario.spec();
    let env: serde_json::Map<String, Value> = scenario
        .env(base)
        .into_iter()
        .chain(extra.iter().cloned())
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({
        "staging": spec.staging,
        "production": spec.production,
        "pipeline": spec.pipeline,
        "live_commit": spec.live_commit,
        "heroku": scenario.heroku.url(),
        "slack": scenario.slack.url(),
        "circleci": scenario.circleci.as_ref().map(|c| c.api_url()),
        "github": scenario.github.as_ref().map(|g| g.url()),
        "circleci_builds": builds_json(scenario, "circleci"),
        "github_runs": builds_json(scenario, "github"),
        "env": env,
        "endpoints": ENDPOINTS,
    })
}

fn unknown_app(scenario: &Scenario, app: &str) -> Response {
    error(
        404,
        format!(
            "no app {app:?} in this scenario; its apps are {}",
            scenario.apps().join(", ")
        ),
    )
}

fn next_boot(scenario: &Scenario, app: &str, body: &Value) -> Response {
    if !scenario.apps().iter().any(|a| a == app) {
        return unknown_app(scenario, app);
    }
    let crash = match &body["crash"] {
        Value::Null => true,
        Value::Bool(b) => *b,
        other => return error(400, format!("\"crash\" must be true or false, not {other}")),
    };
    let starting = match &body["starting_ms"] {
        Value::Null => scenario.spec().boot,
        v => match v.as_u64() {
            Some(ms) => Duration::from_millis(ms),
            None => {
                return error(
                    400,
                    format!("\"starting_ms\" must be a number of milliseconds, not {v}"),
                )
            }
        },
    };
    let only_one = body["only_one"].as_bool().unwrap_or(false);
    let boot = match (crash, only_one) {
        (false, _) => DynoBoot::up_after(starting),
        (true, false) => DynoBoot::crash_after(starting),
        (true, true) => DynoBoot::crash_one_after(starting),
    };
    scenario.heroku.script_next_dyno_boot(app, boot.clone());
    answer(
        200,
        json!({
            "app": app,
            "next_release": {
                "starting_ms": starting.as_millis() as u64,
                "settles_in": boot.settles_in,
                "only_one": boot.only_one,
            },
        }),
    )
}

/// A request as JSON: the body as text when it is UTF-8, else `null` with its length.
pub fn recorded_json(req: &Request) -> Value {
    let headers: Vec<Value> = req.headers.iter().map(|(n, v)| json!([n, v])).collect();
    json!({
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": headers,
        "body": std::str::from_utf8(&req.body).ok(),
        "body_bytes": req.body.len(),
    })
}

fn requests(scenario: &Scenario, service: &str) -> Response {
    let items: Vec<Value> = match service {
        "heroku" => scenario
            .heroku
            .requests()
            .iter()
            .map(recorded_json)
            .collect(),
        "slack" => scenario
            .slack
            .requests()
            .iter()
            .map(recorded_json)
            .collect(),
        "circleci" => match &scenario.circleci {
            None => Vec::new(),
            Some(ci) => ci
                .requests()
                .iter()
                .map(|r| {
                    let mut v = recorded_json(&r.request);
                    v["token_label"] = json!(r.token);
                    v
                })
                .collect(),
        },
        "github" => match &scenario.github {
            None => Vec::new(),
            Some(gh) => gh.requests().iter().map(recorded_json).collect(),
        },
        other => {
            return error(
                404,
                format!(
                    "no service {other:?}; ask for /requests/heroku, /requests/slack, \
                     /requests/circleci or /requests/github"
                ),
            )
        }
    };
    answer(200, Value::Array(items))
}

fn message_json(m: &Message, names: &[(String, String)]) -> Value {
    let name = names
        .iter()
        .find(|(id, _)| *id == m.channel)
        .map(|(_, n)| n.clone());
    json!({
        "channel": m.channel,
        "channel_name": name,
        "ts": m.ts,
        "via": match m.via { Via::Webhook => "webhook", Via::WebApi => "web_api" },
        "text": m.text,
        "blocks": m.blocks,
        "thread_ts": m.thread_ts,
        "edits": m.edits,
        "replies": m.replies.iter().map(|r| message_json(r, names)).collect::<Vec<_>>(),
    })
}

/// Every message Slack holds, in arrival order, as `GET /slack/messages` answers.
pub fn slack_messages(scenario: &Scenario) -> Value {
    let names = scenario.slack.channel_names();
    Value::Array(
        scenario
            .slack
            .all_messages()
            .iter()
            .map(|m| message_json(m, &names))
            .collect(),
    )
}

fn builds_json(scenario: &Scenario, ci: &str) -> Vec<Value> {
    let numbers = match ci {
        "circleci" => &scenario.spec().circleci_builds,
        _ => &scenario.spec().github_runs,
    };
    numbers
        .iter()
        .filter_map(|&n| {
            let build = scenario.build(ci, n)?;
            Some(json!({"number": n, "deploy_job": scenario.job_status(&build)}))
        })
        .collect()
}

fn build_action(
    scenario: &Scenario,
    ci: &str,
    number: &str,
    action: &str,
    body: &Value,
) -> Response {
    let word = builds_word(ci);
    let parsed = number.trim_start_matches('#').parse::<u64>().ok();
    let Some((number, build)) = parsed.and_then(|n| Some((n, scenario.build(ci, n)?))) else {
        let known = builds_json(scenario, ci)
            .iter()
            .map(|b| b["number"].to_string())
            .collect::<Vec<_>>();
        return error(
            404,
            format!(
                "no {ci} {} {number:?} in this scenario; its {word} are: {}",
                &word[..word.len() - 1],
                if known.is_empty() {
                    format!("none (start it with --{ci}-{word})")
                } else {
                    known.join(", ")
                }
            ),
        );
    };
    let flag = |name: &str| match &body[name] {
        Value::Null => Ok(true),
        Value::Bool(b) => Ok(*b),
        other => Err(error(
            400,
            format!("\"{name}\" must be true or false, not {other}"),
        )),
    };
    match action {
        "tests" => {
            let passed = match flag("passed") {
                Ok(b) => b,
                Err(e) => return e,
            };
            let at_lock = scenario.pass_tests(&build, passed, AT_LOCK_TIMEOUT);
            let status = scenario.job_status(&build);
            if passed && !at_lock {
                return error(
                    409,
                    format!(
                        "the tests of {number} passed but its deploy job did not start \
                         running within {}s (it is {status}); was the build cancelled?",
                        AT_LOCK_TIMEOUT.as_secs()
                    ),
                );
            }
            answer(200, json!({"number": number, "deploy_job": status}))
        }
        "finish" => {
            let success = match flag("success") {
                Ok(b) => b,
                Err(e) => return e,
            };
            let status = scenario.job_status(&build);
            if !matches!(status.as_str(), "running" | "in_progress") {
                return error(
                    409,
                    format!(
                        "the deploy job of {number} is {status}, not running: only a running \
                         job can finish (pass its tests first with POST …/{number}/tests)"
                    ),
                );
            }
            scenario.finish(&build, success);
            answer(
                200,
                json!({"number": number, "deploy_job": scenario.job_status(&build)}),
            )
        }
        "cancel" if ci == "circleci" => {
            scenario.cancel(&build);
            answer(
                200,
                json!({"number": number, "deploy_job": scenario.job_status(&build)}),
            )
        }
        other => error(
            404,
            format!(
                "no action {other:?} on a {ci} build; use tests, finish{}",
                if ci == "circleci" { " or cancel" } else { "" }
            ),
        ),
    }
}

/// `GET base+path` on a control API and the answer as JSON; for
/// `shipline-sandbox slack-transcript` and tests. Errors say what failed and what to check.
pub fn get_json(base: &str, path: &str) -> Result<Value, String> {
    control_call("GET", base, path, None)
}

/// `POST base+path` with a JSON body on a control API, and the answer as JSON.
pub fn post_json(base: &str, path: &str, body: &Value) -> Result<Value, String> {
    control_call("POST", base, path, Some(body))
}

fn control_call(
    method: &str,
    base: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let body = body.map(Value::to_string).unwrap_or_default();
    let (status, text) =
        http(method, &url, &[("Content-Type", "application/json")], body.as_bytes()).map_err(
            |e| format!("{e}; is `shipline-sandbox pipeline` running, and {base} its control URL (SHIPLINE_SANDBOX_CONTROL)?"),
        )?;
    let value: Value = serde_json::from_str(&text).map_err(|_| {
        format!("{method} {url} answered {status} without JSON; is {base} the control URL (SHIPLINE_SANDBOX_CONTROL), not a fake service?")
    })?;
    if status != 200 {
        let why = value["error"].as_str().unwrap_or("no reason given");
        return Err(format!("{method} {url} answered {status}: {why}"));
    }
    Ok(value)
}

/// A minimal HTTP/1.1 client for loopback URLs (`http://127.0.0.1:PORT/path`): sends one
/// request and returns the status and body (`Content-Length` or read to close, as the
/// sandbox's servers answer). Enough for tests and the CLI; not a general client.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not a plain http:// URL on loopback"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream =
        TcpStream::connect(host).map_err(|e| format!("cannot connect to {host}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {url}: the answer is not HTTP"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {url}: the answer has no HTTP status"))?;
    Ok((status, body.to_string()))
}
