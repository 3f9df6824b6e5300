//! The real network stack: every service over HTTPS with a certificate authority made at test
//! time and trusted the way users trust theirs (`SSL_CERT_FILE`, `SSL_CERT_DIR`), each TLS
//! failure class with its one-line explanation, and proxies (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`) through a CONNECT proxy on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{Run, World};
use shipline_sandbox::circleci::{BuildSpec, CircleCi};
use shipline_sandbox::proxy::{Proxy, ProxyAuth};
use shipline_sandbox::slack::{Slack, DEPLOYS};
use shipline_sandbox::tls::{ServerCert, TestCa};
use shipline_sandbox::{Answer, Target};

const APP: &str = "demo-app";

/// A repository with a live commit and a new one, a test CA every step trusts
/// (`SSL_CERT_FILE`), and a Heroku with the app live at the first commit: over HTTPS with the
/// certificate `cert` makes, or over plain HTTP when `None`.
fn world(name: &str, cert: Option<fn(&TestCa) -> ServerCert>) -> World {
    let w = World::new(name).with_trusted_ca();
    let (first, _) = w.repo().web_app_and_change("Second");
    let w = match cert {
        Some(make) => w.with_heroku_tls(make),
        None => w.with_heroku(),
    };
    w.heroku().create_app(APP);
    w.heroku().seed_release(APP, &first, None);
    w
}

/// A world whose Heroku has a good certificate of the trusted CA.
fn https_world(name: &str) -> World {
    world(name, Some(TestCa::server_cert))
}

/// Runs `shipline ARGS` with the world's variables and `extra`.
fn run(w: &World, args: &[&str], extra: &[(&str, &str)]) -> Run {
    w.shipline(args).envs(extra.iter().copied()).run()
}

/// `host:port` of `url`, as a proxy is asked to CONNECT to it.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap().to_string()
}

/// `proxy`'s URL with `user:pass@`, as users write a proxy that wants credentials.
fn with_credentials(proxy: &Proxy, user: &str, pass: &str) -> String {
    proxy
        .url()
        .replacen("http://", &format!("http://{user}:{pass}@"), 1)
}

#[test]
fn deploy_verify_lock_and_notify_run_over_https_trusting_the_ca_users_give() {
    let w = https_world("net-https");
    assert!(w.heroku().url().starts_with("https://"));

    let run = run(&w, &["deploy", "--app", APP, "--poll", "50ms"], &[]);
    run.code(0).stdout_has("Released v3");

    let target = Target::start_tls(&w.ca().server_cert());
    target.script("/health", vec![Answer::new(200, "ok")]);
    let health = target.url("/health");
    assert!(health.starts_with("https://"));
    // The directory form, as OpenSSL lays it out.
    let run = w
        .shipline(["verify", "--check", &health, "--poll", "50ms"])
        .without_env("SSL_CERT_FILE")
        .env("SSL_CERT_DIR", w.ca_dir().to_str().unwrap())
        .run();
    run.code(0).stdout_has("OK https://127.0.0.1");

    let slack = Slack::start_tls(&w.ca().server_cert());
    let webhook = slack.webhook_url();
    assert!(webhook.starts_with("https://"));
    let run = w
        .shipline(["notify"])
        .env("SLACK_WEBHOOK_URL", &webhook)
        .run();
    run.code(0);
    assert_eq!(slack.messages(DEPLOYS).len(), 1);

    let circle = CircleCi::start_tls(&w.ca().server_cert());
    let build = circle.start_build(BuildSpec::branch("main", Duration::ZERO));
    assert!(circle.wait_at_lock(&build, Duration::from_secs(10)));
    let run = w
        .shipline(["lock", "--poll", "50ms"])
        .envs(circle.job_env(&build, circle.token()))
        .run();
    run.code(0).stdout_has("Lock held by #");
    assert_eq!(run.step("lock")["outcome"], "done");
}

/// One failing deploy against a server with `cert` (or plain HTTP when `None`), trusting the
/// test CA: exit 1 at once, with `expected` in the one-line error and no retry.
fn fails_with(name: &str, cert: Option<fn(&TestCa) -> ServerCert>, expected: &str) {
    let w = world(name, cert);
    let url = w.heroku().url().replacen("http://", "https://", 1);
    let started = Instant::now();
    let run = w
        .shipline(["deploy", "--app", APP])
        .env("SHIPLINE_HEROKU_API_URL", url)
        .run();
    run.code(1);
    assert!(run.stderr.contains(expected), "{name}: {run:?}");
    assert!(run.stderr.contains("127.0.0.1"), "names the host: {run:?}");
    assert!(!run.stdout.contains("retrying"), "not retried: {run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
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
fn a_server_with_no_cipher_in_common_says_so() {
    fails_with(
        "net-no-common-cipher",
        Some(|ca| ca.chacha20_only_server_cert()),
        "have no TLS version or cipher suite in common",
    );
}

#[test]
fn a_plain_http_server_on_an_https_url_says_so() {
    fails_with("net-plain", None, "does not speak TLS on this port");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_a_configuration_error() {
    let w = World::without_git("net-bad-ca");
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
        let run = w.shipline(["notify", "--dry-run"]).env(var, value).run();
        assert_eq!(run.code, 2, "{var}: {run:?}");
        assert!(run.stderr.contains(expected), "{var}: {run:?}");
        run.log_lacks("s3cr3t");
    }
}

#[test]
fn a_ca_file_without_a_certificate_is_said_when_the_first_connection_needs_it() {
    let w = https_world("net-empty-ca");
    for (text, why) in [
        (
            "not a certificate\n",
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
        // PEM framing around bytes that are no X.509 certificate.
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "holds no certificate usable as a CA",
        ),
    ] {
        let file = w.path().join("unusable.pem");
        std::fs::write(&file, text).unwrap();
        let run = w
            .shipline(["rollback", "--app", APP, "--dry-run"])
            .env("SSL_CERT_FILE", file.to_str().unwrap())
            .run();
        run.code(1)
            .stdout_has("warning: SSL_CERT_FILE: ")
            .stdout_has(&format!("{why}; its certificates are not trusted"));
        assert!(
            run.stderr.contains("SSL_CERT_FILE"),
            "the unknown CA says what to do: {run:?}"
        );
    }
}

#[test]
fn every_request_goes_through_the_proxy_and_no_proxy_hosts_do_not() {
    let w = https_world("net-proxy");
    let target = Target::start_tls(&w.ca().server_cert());
    target.script("/health", vec![Answer::new(200, "ok")]);
    let proxy = Proxy::start_with_auth("deployer", "pr0xy-s3cret");
    let proxy_url = with_credentials(&proxy, "deployer", "pr0xy-s3cret");
    let env = [("HTTPS_PROXY", proxy_url.as_str())];
    run(&w, &["deploy", "--app", APP, "--poll", "50ms"], &env).code(0);
    let health = target.url("/health");
    let verify = ["verify", "--check", &health, "--poll", "50ms"];
    let run = run(&w, &verify, &env);
    run.code(0);

    let through = proxy.targets();
    assert!(through.contains(&host(&w.heroku().url())), "{through:?}");
    assert!(
        through.contains(&host(&health)),
        "the health check too: {through:?}"
    );
    assert!(
        proxy.requests().iter().all(|r| r.auth == ProxyAuth::Valid),
        "the proxy's credentials were sent"
    );
    let state = std::fs::read_to_string(w.state_path()).unwrap();
    assert!(!state.contains("pr0xy-s3cret") && !run.log().contains("pr0xy-s3cret"));

    proxy.clear();
    w.shipline(verify)
        .envs(env)
        .env("NO_PROXY", "127.0.0.1")
        .run()
        .code(0);
    assert!(
        proxy.targets().is_empty(),
        "NO_PROXY hosts go direct: {:?}",
        proxy.targets()
    );
}

#[test]
fn a_proxy_that_is_down_or_refuses_is_named() {
    let w = https_world("net-proxy-down");
    let rollback = ["rollback", "--app", APP, "--dry-run"];
    let run = w
        .shipline(rollback)
        .env("HTTPS_PROXY", Proxy::refused_url())
        .run();
    run.code(1)
        .stderr_has("through the proxy")
        .stderr_has("HTTPS_PROXY");

    let proxy = Proxy::start_with_auth("deployer", "right");
    let wrong = with_credentials(&proxy, "deployer", "wrong");
    let run = w.shipline(rollback).env("HTTPS_PROXY", wrong).run();
    run.code(1).stderr_has("HTTPS_PROXY").log_lacks("wrong@");
}

#[test]
fn plain_http_health_checks_take_http_proxy_and_all_proxy_is_the_fallback() {
    let w = https_world("net-http-proxy");
    assert_eq!(
        run(&w, &["deploy", "--app", APP, "--poll", "50ms"], &[]).code,
        0
    );
    let target = Target::start();
    target.script("/health", vec![Answer::new(200, "ok")]);
    let health = target.url("/health");
    let target_host = host(&health);
    let heroku_host = host(&w.heroku().url());
    let verify = ["verify", "--check", &health, "--poll", "50ms"];

    // Lower case, as many runners set it; only http:// goes through it.
    let http_proxy = Proxy::start();
    w.shipline(verify)
        .env("http_proxy", http_proxy.url())
        .run()
        .code(0);
    assert_eq!(
        http_proxy.targets(),
        vec![target_host.clone()],
        "only the http:// check"
    );

    // ALL_PROXY carries both schemes when nothing more specific is set.
    let all = Proxy::start();
    w.shipline(verify).env("ALL_PROXY", all.url()).run().code(0);
    let through = all.targets();
    assert!(
        through.contains(&heroku_host) && through.contains(&target_host),
        "{through:?}"
    );
}
