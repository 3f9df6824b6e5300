//! The real network stack: every service over HTTPS with a certificate authority made at test
//! time and trusted the way users trust theirs (`SSL_CERT_FILE`, `SSL_CERT_DIR`), each TLS
//! failure class with its one-line explanation, and proxies (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`) through a CONNECT proxy on loopback.

mod common;

use std::path::{Path, PathBuf};

use common::{shipline, step_record, Repo, Run, TempDir};
use serde_json::Value;
use shipline_sandbox::circleci::{BuildSpec, CircleCi};
use shipline_sandbox::proxy::Proxy;
use shipline_sandbox::slack::Slack;
use shipline_sandbox::tls::{ServerCert, TestCa};
use shipline_sandbox::{Answer, Heroku, Target};

const APP: &str = "demo-app";

/// A repository with a live commit and a new one, and a test CA written where users point
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`.
struct World {
    repo: Repo,
    ca: TestCa,
    ca_file: PathBuf,
    ca_dir: PathBuf,
    _dir: TempDir,
    first: String,
}

impl World {
    fn new(name: &str) -> World {
        let repo = Repo::new(name);
        repo.write("Procfile", "web: node index.js\n");
        repo.write("index.js", "console.log('v1')\n");
        let first = repo.commit("Initial app");
        repo.write("index.js", "console.log('v2')\n");
        repo.commit("Second");
        let dir = TempDir::new(&format!("{name}-ca"));
        let ca = TestCa::new();
        let ca_file = dir.path.join("ca.pem");
        ca.write_pem(&ca_file).unwrap();
        let ca_dir = dir.path.join("certs");
        ca.write_cert_dir(&ca_dir).unwrap();
        World {
            repo,
            ca,
            ca_file,
            ca_dir,
            _dir: dir,
            first,
        }
    }

    /// A Heroku fake over HTTPS with `cert`, the app live at the first commit.
    fn heroku(&self, cert: &ServerCert) -> Heroku {
        let heroku = Heroku::start_tls(cert);
        heroku.create_app(APP);
        heroku.seed_release(APP, &self.first, None);
        heroku
    }

    fn run(&self, heroku: &Heroku, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let key = heroku.api_key().to_string();
        let url = heroku.url();
        let mut env = vec![
            ("HEROKU_API_KEY", key.as_str()),
            ("SHIPLINE_HEROKU_API_URL", url.as_str()),
        ];
        env.extend_from_slice(extra);
        shipline(self.repo.path(), args, &env)
    }

    fn trusted(&self) -> Vec<(&str, &str)> {
        vec![("SSL_CERT_FILE", self.ca_file.to_str().unwrap())]
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.repo.path().join(".shipline/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn deploy_verify_lock_and_notify_run_over_https_trusting_the_ca_users_give() {
    let w = World::new("net-https");
    let heroku = w.heroku(&w.ca.server_cert());
    assert!(heroku.url().starts_with("https://"));
    let trusted = w.trusted();

    let run = w.run(
        &heroku,
        &["deploy", "--app", APP, "--poll", "50ms"],
        &trusted,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Released v3"), "{run:?}");

    let target = Target::start_tls(&w.ca.server_cert());
    target.script("/health", vec![Answer::new(200, "ok")]);
    let health = target.url("/health");
    assert!(health.starts_with("https://"));
    // The directory form, as OpenSSL lays it out.
    let by_dir = [("SSL_CERT_DIR", path_str(&w.ca_dir))];
    let run = w.run(
        &heroku,
        &["verify", "--check", &health, "--poll", "50ms"],
        &by_dir,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("OK https://127.0.0.1"), "{run:?}");

    let slack = Slack::start_tls(&w.ca.server_cert());
    let webhook = slack.webhook_url();
    assert!(webhook.starts_with("https://"));
    let mut env = trusted.clone();
    env.push(("SLACK_WEBHOOK_URL", webhook.as_str()));
    let run = w.run(&heroku, &["notify"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(slack.messages(shipline_sandbox::slack::DEPLOYS).len(), 1);

    let circle = CircleCi::start_tls(&w.ca.server_cert());
    let build = circle.start_build(BuildSpec::branch("main", std::time::Duration::ZERO));
    assert!(circle.wait_at_lock(&build, std::time::Duration::from_secs(10)));
    let job_env = circle.job_env(&build, circle.token());
    let mut env: Vec<(&str, &str)> = job_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend_from_slice(&trusted);
    let run = shipline(w.repo.path(), &["lock", "--poll", "50ms"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Lock held by #"), "{run:?}");
    assert_eq!(step_record(&w.state(), "lock")["outcome"], "done");
}

/// One failing deploy against a server with `cert` (or plain HTTP when `None`), trusting the
/// test CA: exit 1 at once, with `expected` in the one-line error and no retry.
fn fails_with(name: &str, cert: Option<fn(&TestCa) -> ServerCert>, expected: &str) {
    let w = World::new(name);
    let (heroku, url) = match cert {
        Some(make) => {
            let heroku = w.heroku(&make(&w.ca));
            let url = heroku.url();
            (heroku, url)
        }
        None => {
            let heroku = Heroku::start();
            heroku.create_app(APP);
            let url = heroku.url().replacen("http://", "https://", 1);
            (heroku, url)
        }
    };
    let key = heroku.api_key().to_string();
    let mut env = w.trusted();
    env.push(("HEROKU_API_KEY", &key));
    env.push(("SHIPLINE_HEROKU_API_URL", &url));
    let started = std::time::Instant::now();
    let run = shipline(w.repo.path(), &["deploy", "--app", APP], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(expected), "{name}: {run:?}");
    assert!(run.stderr.contains("127.0.0.1"), "names the host: {run:?}");
    assert!(!run.stdout.contains("retrying"), "not retried: {run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "fails at once: {run:?}"
    );
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn an_unknown_certificate_authority_says_to_use_ssl_cert_file() {
    fails_with(
        "net-unknown-ca",
        Some(|_| ServerCert::unknown_ca()),
        "signed by an authority shipline does not trust: add your CA's certificate (PEM) with SSL_CERT_FILE",
    );
}

#[test]
fn a_certificate_for_another_name_says_so() {
    fails_with(
        "net-wrong-name",
        Some(|ca| ca.server_cert_for(&["other.example"])),
        "is not for 127.0.0.1",
    );
}

#[test]
fn an_expired_certificate_says_so() {
    fails_with(
        "net-expired",
        Some(|ca| ca.expired_server_cert()),
        "has expired",
    );
}

#[test]
fn a_plain_http_server_on_an_https_url_says_so() {
    fails_with("net-plain", None, "does not speak TLS on this port");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_a_configuration_error() {
    let dir = TempDir::new("net-bad-ca");
    for (var, value, expected) in [
        (
            "SSL_CERT_FILE",
            "/nonexistent/ca.pem",
            "SSL_CERT_FILE names /nonexistent/ca.pem, which cannot be read",
        ),
        (
            "SSL_CERT_DIR",
            "/nonexistent",
            "SSL_CERT_DIR names /nonexistent",
        ),
        (
            "HTTPS_PROXY",
            "http://user:s3cr3t@",
            "HTTPS_PROXY is not a proxy URL",
        ),
    ] {
        let run = shipline(&dir.path, &["notify", "--dry-run"], &[(var, value)]);
        assert_eq!(run.code, 2, "{var}: {run:?}");
        assert!(run.stderr.contains(expected), "{var}: {run:?}");
        assert!(!run.log().contains("s3cr3t"), "{run:?}");
    }
}

#[test]
fn a_ca_file_without_a_certificate_is_said_when_the_first_connection_needs_it() {
    let w = World::new("net-empty-ca");
    let heroku = w.heroku(&w.ca.server_cert());
    let empty = w.repo.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let run = w.run(
        &heroku,
        &["rollback", "--app", APP, "--dry-run"],
        &[("SSL_CERT_FILE", path_str(&empty))],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("warning: SSL_CERT_FILE: ")
            && run.stdout.contains(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----); its certificates are not trusted"
            ),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("SSL_CERT_FILE"),
        "the unknown CA says what to do: {run:?}"
    );
}

#[test]
fn every_request_goes_through_the_proxy_and_no_proxy_hosts_do_not() {
    let w = World::new("net-proxy");
    let heroku = w.heroku(&w.ca.server_cert());
    let target = Target::start_tls(&w.ca.server_cert());
    target.script("/health", vec![Answer::new(200, "ok")]);
    let proxy = Proxy::start_with_auth("deployer", "pr0xy-s3cret");
    let proxy_url = proxy
        .url()
        .replacen("http://", "http://deployer:pr0xy-s3cret@", 1);
    let mut env = w.trusted();
    env.push(("HTTPS_PROXY", proxy_url.as_str()));
    let run = w.run(&heroku, &["deploy", "--app", APP, "--poll", "50ms"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    let health = target.url("/health");
    let run = w.run(
        &heroku,
        &["verify", "--check", &health, "--poll", "50ms"],
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");

    let heroku_host = heroku.url().trim_start_matches("https://").to_string();
    let target_host = health
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let through = proxy.targets();
    assert!(through.contains(&heroku_host), "{through:?}");
    assert!(
        through.contains(&target_host),
        "the health check too: {through:?}"
    );
    assert!(
        proxy
            .requests()
            .iter()
            .all(|r| r.auth == shipline_sandbox::proxy::ProxyAuth::Valid),
        "the proxy's credentials were sent"
    );
    let state = std::fs::read_to_string(w.repo.path().join(".shipline/state.json")).unwrap();
    assert!(!state.contains("pr0xy-s3cret") && !run.log().contains("pr0xy-s3cret"));

    proxy.clear();
    let mut direct = env.clone();
    direct.push(("NO_PROXY", "127.0.0.1"));
    let run = w.run(
        &heroku,
        &["verify", "--check", &health, "--poll", "50ms"],
        &direct,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        proxy.targets().is_empty(),
        "NO_PROXY hosts go direct: {:?}",
        proxy.targets()
    );
}

#[test]
fn a_proxy_that_is_down_or_refuses_is_named() {
    let w = World::new("net-proxy-down");
    let heroku = w.heroku(&w.ca.server_cert());
    let mut env = w.trusted();
    let down = Proxy::refused_url();
    env.push(("HTTPS_PROXY", down.as_str()));
    let run = w.run(&heroku, &["rollback", "--app", APP, "--dry-run"], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("through the proxy") && run.stderr.contains("HTTPS_PROXY"),
        "{run:?}"
    );

    let proxy = Proxy::start_with_auth("deployer", "right");
    let wrong = proxy.url().replacen("http://", "http://deployer:wrong@", 1);
    let mut env = w.trusted();
    env.push(("HTTPS_PROXY", wrong.as_str()));
    let run = w.run(&heroku, &["rollback", "--app", APP, "--dry-run"], &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("HTTPS_PROXY"), "{run:?}");
    assert!(!run.log().contains("wrong@"), "{run:?}");
}

#[test]
fn plain_http_health_checks_take_http_proxy_and_all_proxy_is_the_fallback() {
    let w = World::new("net-http-proxy");
    let heroku = w.heroku(&w.ca.server_cert());
    assert_eq!(
        w.run(
            &heroku,
            &["deploy", "--app", APP, "--poll", "50ms"],
            &w.trusted()
        )
        .code,
        0
    );
    let target = Target::start();
    target.script("/health", vec![Answer::new(200, "ok")]);
    let health = target.url("/health");
    let target_host = health
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let heroku_host = heroku.url().trim_start_matches("https://").to_string();

    // Lower case, as many runners set it; only http:// goes through it.
    let http_proxy = Proxy::start();
    let mut env = w.trusted();
    let url = http_proxy.url();
    env.push(("http_proxy", url.as_str()));
    let run = w.run(
        &heroku,
        &["verify", "--check", &health, "--poll", "50ms"],
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        http_proxy.targets(),
        vec![target_host.clone()],
        "only the http:// check"
    );

    // ALL_PROXY carries both schemes when nothing more specific is set.
    let all = Proxy::start();
    let mut env = w.trusted();
    let url = all.url();
    env.push(("ALL_PROXY", url.as_str()));
    let run = w.run(
        &heroku,
        &["verify", "--check", &health, "--poll", "50ms"],
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let through = all.targets();
    assert!(
        through.contains(&heroku_host) && through.contains(&target_host),
        "{through:?}"
    );
}
