//! The fakes over HTTPS, as a rustls client (ureq) sees them: each answers when the client
//! trusts the test CA, and each failing certificate fails the handshake for its own reason.

mod common;

use std::time::Duration;

use common::{app_source, sha256_checksum, ACCEPT, COMMIT};
use serde_json::{json, Value};
use shipline_sandbox::circleci::CircleCi;
use shipline_sandbox::slack::Slack;
use shipline_sandbox::{Answer, GitHub, Heroku, ServerCert, Target, TestCa};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// A client trusting `ca` only (or the built-in web roots with `None`), answers of any status.
fn client(ca: Option<&TestCa>) -> ureq::Agent {
    let mut tls = TlsConfig::builder();
    if let Some(ca) = ca {
        let der = ca.cert_der();
        tls = tls.root_certs(RootCerts::new_with_certs(&[Certificate::from_der(
            der.as_ref(),
        )
        .to_owned()]));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET `url`: status and body, or the error's text.
fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    let mut req = agent.get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut resp = req.call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut req = agent.post(url).header("Content-Type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut resp = req.send(body.to_string()).expect("POST over https");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn every_fake_answers_over_https_to_a_client_trusting_the_test_ca() {
    let ca = TestCa::new();
    let cert = ca.server_cert();
    let agent = client(Some(&ca));

    let heroku = Heroku::start_tls(&cert);
    assert!(
        heroku.url().starts_with("https://127.0.0.1:"),
        "{}",
        heroku.url()
    );
    let bearer = format!("Bearer {}", heroku.api_key());
    let (status, body) = get(
        &agent,
        &format!("{}/account", heroku.url()),
        &[("Accept", ACCEPT), ("Authorization", &bearer)],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&heroku.email()), "{body}");

    let circle = CircleCi::start_tls(&cert);
    assert!(circle.api_url().starts_with("https://127.0.0.1:"));
    let (status, body) = get(
        &agent,
        &format!("{}/me", circle.api_url()),
        &[("Circle-Token", circle.token())],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let github = GitHub::start_tls(&cert);
    assert!(github.url().starts_with("https://127.0.0.1:"));
    // A repository it does not serve: GitHub's 404, with its rate-limit headers.
    let resp = agent
        .get(format!("{}/repos/acme/none/compare/a...b", github.url()))
        .header("Authorization", format!("Bearer {}", github.token()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(resp.headers().contains_key("X-RateLimit-Limit"), "{resp:?}");

    let slack = Slack::start_tls(&cert);
    for url in [slack.url(), slack.api_url(), slack.webhook_url()] {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }
    let (status, body) = post_json(&agent, &slack.webhook_url(), &[], &json!({"text": "hello"}));
    assert_eq!((status, body), (200, Value::String("ok".into())));
    let token = format!("Bearer {}", slack.bot_token());
    let (status, body) = post_json(
        &agent,
        &format!("{}/chat.postMessage", slack.api_url()),
        &[("Authorization", &token)],
        &json!({"channel": "C0DEPLOYS", "text": "over https"}),
    );
    assert_eq!(status, 200);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(slack.messages("C0DEPLOYS").len(), 2);

    let app = Target::start_tls(&cert);
    app.script("/health", vec![Answer::new(200, "ok v42")]);
    assert!(app.url("/health").starts_with("https://127.0.0.1:"));
    assert_eq!(
        get(&agent, &app.url("/health"), &[]).unwrap(),
        (200, "ok v42".into())
    );
    // The certificate names localhost too.
    let by_name = app.url("/health").replace("127.0.0.1", "localhost");
    assert_eq!(get(&agent, &by_name, &[]).unwrap().0, 200);
}

#[test]
fn heroku_over_https_hands_out_https_blob_and_stream_urls_that_work() {
    let ca = TestCa::new();
    let heroku = Heroku::start_tls(&ca.server_cert());
    heroku.create_app("shop");
    let agent = client(Some(&ca));
    let bearer = format!("Bearer {}", heroku.api_key());
    let auth = [("Accept", ACCEPT), ("Authorization", bearer.as_str())];

    let (status, source) = post_json(
        &agent,
        &format!("{}/sources", heroku.url()),
        &auth,
        &json!({}),
    );
    assert_eq!(status, 201, "{source}");
    let put_url = source["source_blob"]["put_url"].as_str().unwrap();
    let get_url = source["source_blob"]["get_url"].as_str().unwrap();
    assert!(put_url.starts_with("https://127.0.0.1:"), "{put_url}");
    assert!(get_url.starts_with("https://127.0.0.1:"), "{get_url}");

    let tgz = app_source();
    let resp = agent
        .put(put_url)
        .header("Content-Type", "")
        .send(&tgz[..])
        .expect("PUT the blob over https");
    assert_eq!(resp.status().as_u16(), 200);

    let (status, build) = post_json(
        &agent,
        &format!("{}/apps/shop/builds", heroku.url()),
        &auth,
        &json!({"source_blob": {"url": get_url, "version": COMMIT, "checksum": sha256_checksum(&tgz)}}),
    );
    assert_eq!(status, 201, "{build}");
    let stream = build["output_stream_url"].as_str().unwrap();
    assert!(stream.starts_with("https://127.0.0.1:"), "{stream}");
    let (status, output) = get(&agent, stream, &[]).unwrap();
    assert_eq!(status, 200);
    assert!(!output.is_empty());
}

/// The handshake error a client trusting `ca` gets from a target serving `cert`.
fn handshake_error(ca: &TestCa, cert: &ServerCert) -> String {
    let app = Target::start_tls(cert);
    app.script("/", vec![Answer::new(200, "should not be reached")]);
    let err = get(&client(Some(ca)), &app.url("/"), &[]).expect_err("the handshake must fail");
    assert!(app.requests().is_empty(), "a request got through: {err}");
    err
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_as_unknown_issuer() {
    let ca = TestCa::new();
    let err = handshake_error(&ca, &ServerCert::unknown_ca());
    assert!(err.contains("UnknownIssuer"), "{err}");
    let err = handshake_error(&ca, &ServerCert::self_signed());
    assert!(err.contains("UnknownIssuer"), "{err}");
    // Another test's CA is just as unknown.
    let err = handshake_error(&ca, &TestCa::new().server_cert());
    assert!(err.contains("UnknownIssuer"), "{err}");
    // And the good certificate, to a client that trusts only the web's roots.
    let app = Target::start_tls(&ca.server_cert());
    let err = get(&client(None), &app.url("/"), &[]).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn a_certificate_for_another_name_is_refused_for_its_name() {
    let ca = TestCa::new();
    let cert = ca.server_cert_for(&["other.example"]);
    assert_eq!(cert.names(), ["other.example"]);
    let err = handshake_error(&ca, &cert);
    assert!(err.contains("not valid for name"), "{err}");
    assert!(err.contains("other.example"), "{err}");
}

#[test]
fn an_expired_certificate_is_refused_as_expired() {
    let ca = TestCa::new();
    let err = handshake_error(&ca, &ca.expired_server_cert());
    assert!(err.to_lowercase().contains("expired"), "{err}");
}

#[test]
fn https_to_a_plain_http_port_fails_the_handshake() {
    let ca = TestCa::new();
    let app = Target::start();
    app.script("/", vec![Answer::new(200, "plain")]);
    let url = app.https_url_to_plain_port("/");
    assert!(url.starts_with("https://127.0.0.1:"));
    let err = get(&client(Some(&ca)), &url, &[]).unwrap_err();
    assert!(
        err.contains("InvalidContentType") || err.contains("corrupt"),
        "{err}"
    );
}

#[test]
fn the_ca_is_written_for_ssl_cert_file_and_ssl_cert_dir() {
    let ca = TestCa::new();
    let dir = std::env::temp_dir().join(format!("sandbox-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    ca.write_pem(&file).unwrap();
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // A client configured from the file alone trusts the fakes.
    let from_file = Certificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(from_file.der(), ca.cert_der().as_ref());

    let certs = dir.join("certs");
    let hashed = ca.write_cert_dir(&certs).unwrap();
    let name = hashed.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name, format!("{}.0", ca.subject_hash()));
    assert_eq!(name.len(), 10);
    assert_eq!(std::fs::read_to_string(&hashed).unwrap(), pem);
    let plain = certs.join(format!("{}.pem", ca.subject_hash()));
    assert_eq!(std::fs::read_to_string(plain).unwrap(), pem);
    // A second CA goes beside the first.
    let other = TestCa::new();
    let second = other.write_cert_dir(&certs).unwrap();
    assert_ne!(second, hashed);
    assert_eq!(std::fs::read_dir(&certs).unwrap().count(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `shipline-sandbox pipeline --tls`: every service and app URL is https, the CA is beside the
/// env file and named by SSL_CERT_FILE, and a client trusting that file alone reaches them.
#[test]
fn the_pipeline_binary_serves_https_with_tls_and_names_its_ca() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let bin = env!("CARGO_BIN_EXE_shipline-sandbox");
    let dir = std::env::temp_dir().join(format!("sandbox-pipeline-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join("sandbox.env");
    let mut child = Command::new(bin)
        .args([
            "pipeline",
            "--tls",
            "--circleci-builds",
            "7",
            "--github-runs",
            "3",
            "--env-file",
        ])
        .arg(&env_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (env, circleci, github) = (
        read("sandbox.env"),
        read("circleci-7.env"),
        read("github-3.env"),
    );
    let var = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_default()
            .to_string()
    };
    let pem = std::fs::read_to_string(var(&env, "SSL_CERT_FILE")).unwrap_or_default();
    let reach = |url: &str, headers: &[(&str, &str)]| -> Result<u16, String> {
        let ca = Certificate::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&[ca]))
                    .build(),
            )
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        get(&agent, url, headers).map(|(status, _)| status)
    };
    let key = var(&env, "HEROKU_API_KEY");
    let bearer = format!("Bearer {key}");
    let account = reach(
        &format!("{}/account", var(&env, "SHIPLINE_HEROKU_API_URL")),
        &[("Accept", ACCEPT), ("Authorization", &bearer)],
    );
    let app = reach(
        &format!("{}/health", var(&env, "SHIPLINE_SANDBOX_STAGING_URL")),
        &[],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let ca_path = dir.join("sandbox-ca.pem");
    assert_eq!(
        var(&env, "SSL_CERT_FILE"),
        ca_path.display().to_string(),
        "{env}"
    );
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        line.contains("HTTPS") && line.contains(&ca_path.display().to_string()),
        "{line}"
    );
    for (text, key) in [
        (&env, "SHIPLINE_HEROKU_API_URL"),
        (&env, "SLACK_WEBHOOK_URL"),
        (&env, "SHIPLINE_SLACK_API_URL"),
        (&env, "SHIPLINE_SANDBOX_STAGING_URL"),
        (&env, "SHIPLINE_SANDBOX_PRODUCTION_URL"),
        (&circleci, "SHIPLINE_CIRCLECI_API_URL"),
        (&github, "GITHUB_API_URL"),
    ] {
        assert!(
            var(text, key).starts_with("https://127.0.0.1:"),
            "{key} in:\n{text}"
        );
    }
    assert!(var(&env, "SHIPLINE_SANDBOX_CONTROL").starts_with("http://127.0.0.1:"));
    assert_eq!(account, Ok(200));
    assert!(matches!(app, Ok(200 | 503)), "{app:?}");
}
