//! The loopback proxy: tunnels (`CONNECT`) and forwards (absolute-form), records what went
//! through it, and refuses when told to.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use shipline_sandbox::proxy::{ProxyAuth, ProxyRequest};
use shipline_sandbox::{Answer, Proxy, Target, TestCa};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// A ureq client going through `proxy` (a proxy URL), trusting `ca` when given.
fn client(proxy: &str, ca: Option<&TestCa>) -> ureq::Agent {
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
        .proxy(Some(ureq::Proxy::new(proxy).unwrap()))
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, String), String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// Sends `request` raw to `addr` and reads until the other side closes.
fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn authority(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest.split('/').next().unwrap().to_string()
}

#[test]
fn https_goes_through_a_connect_tunnel_end_to_end() {
    let ca = TestCa::new();
    let app = Target::start_tls(&ca.server_cert());
    app.script("/health", vec![Answer::new(200, "ok over the tunnel")]);
    let proxy = Proxy::start();
    let agent = client(&proxy.url(), Some(&ca));
    assert_eq!(
        get(&agent, &app.url("/health")).unwrap(),
        (200, "ok over the tunnel".into())
    );
    assert_eq!(
        proxy.requests(),
        [ProxyRequest {
            method: "CONNECT".into(),
            target: authority(&app.url("/")),
            path: None,
            auth: ProxyAuth::Missing,
            status: 200,
        }]
    );
    // The tunnel carries TLS: the target saw the request, the proxy only bytes.
    assert_eq!(app.hits("/health"), 1);
}

#[test]
fn a_tunnel_still_checks_the_targets_certificate() {
    let ca = TestCa::new();
    let app = Target::start_tls(&ca.expired_server_cert());
    let proxy = Proxy::start();
    let err = get(&client(&proxy.url(), Some(&ca)), &app.url("/")).unwrap_err();
    assert!(err.to_lowercase().contains("expired"), "{err}");
    assert_eq!(proxy.targets(), [authority(&app.url("/"))]);
}

#[test]
fn plain_http_is_forwarded_in_absolute_form_without_the_proxy_headers() {
    let app = Target::start();
    app.script("/health", vec![Answer::new(200, "forwarded")]);
    let proxy = Proxy::start();
    let host = authority(&app.url("/"));
    let answer = raw(
        proxy.addr(),
        &format!(
            "GET http://{host}/health?verbose=1 HTTP/1.1\r\nHost: {host}\r\n\
             Proxy-Authorization: Basic dXNlcjpwYXNz\r\nProxy-Connection: keep-alive\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("forwarded"), "{answer}");
    let seen = app.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/health");
    assert_eq!(seen[0].query.as_deref(), Some("verbose=1"));
    assert_eq!(seen[0].header("Host"), Some(host.as_str()));
    assert_eq!(seen[0].header("Proxy-Authorization"), None);
    assert_eq!(seen[0].header("Proxy-Connection"), None);
    assert_eq!(seen[0].header("Connection"), Some("close"));
    assert_eq!(
        proxy.requests(),
        [ProxyRequest {
            method: "GET".into(),
            target: host,
            path: Some("/health?verbose=1".into()),
            auth: ProxyAuth::Unchecked,
            status: 200,
        }]
    );
}

#[test]
fn plain_http_through_ureq_is_proxied_too() {
    let app = Target::start();
    app.script("/", vec![Answer::new(200, "via proxy")]);
    let proxy = Proxy::start();
    let agent = client(&proxy.url(), None);
    assert_eq!(
        get(&agent, &app.url("/")).unwrap(),
        (200, "via proxy".into())
    );
    assert_eq!(proxy.targets(), [authority(&app.url("/"))]);
}

#[test]
fn credentials_are_demanded_checked_and_never_kept() {
    let ca = TestCa::new();
    let app = Target::start_tls(&ca.server_cert());
    app.script("/", vec![Answer::new(200, "in")]);
    let proxy = Proxy::start_with_auth("deployer", "s3cret-proxy-pass");
    let port = proxy.addr().port();

    let none = get(&client(&proxy.url(), Some(&ca)), &app.url("/")).unwrap_err();
    let wrong = get(
        &client(&format!("http://deployer:nope@127.0.0.1:{port}"), Some(&ca)),
        &app.url("/"),
    )
    .unwrap_err();
    let good = get(
        &client(
            &format!("http://deployer:s3cret-proxy-pass@127.0.0.1:{port}"),
            Some(&ca),
        ),
        &app.url("/"),
    )
    .unwrap();
    assert_eq!(good, (200, "in".into()));
    assert!(!none.is_empty() && !wrong.is_empty(), "{none} / {wrong}");

    let seen = proxy.requests();
    let verdicts: Vec<(ProxyAuth, u16)> = seen.iter().map(|r| (r.auth, r.status)).collect();
    assert_eq!(
        verdicts,
        [
            (ProxyAuth::Missing, 407),
            (ProxyAuth::Invalid, 407),
            (ProxyAuth::Valid, 200)
        ]
    );
    let printed = format!("{seen:?}");
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(
        !printed.contains(&shipline_sandbox::proxy::base64(
            b"deployer:s3cret-proxy-pass"
        )),
        "{printed}"
    );

    // The 407 as a client reads it.
    let host = authority(&app.url("/"));
    let answer = raw(
        proxy.addr(),
        &format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    );
    assert!(
        answer.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("Proxy-Authenticate: Basic realm=\"shipline-sandbox\"\r\n"),
        "{answer}"
    );
}

#[test]
fn a_proxy_can_refuse_or_not_be_there() {
    let app = Target::start();
    app.script("/", vec![Answer::new(200, "ok")]);
    let proxy = Proxy::start();
    proxy.refuse(Some(403));
    let err = get(&client(&proxy.url(), None), &app.url("/")).unwrap_err();
    assert!(!err.is_empty());
    assert_eq!(proxy.requests()[0].status, 403);
    proxy.refuse(None);
    assert!(get(&client(&proxy.url(), None), &app.url("/")).is_ok());
    assert_eq!(app.hits("/"), 1);

    let err = get(&client(&Proxy::refused_url(), None), &app.url("/")).unwrap_err();
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[test]
fn only_loopback_targets_are_reached_and_a_dead_one_is_a_bad_gateway() {
    let proxy = Proxy::start();
    let answer = raw(
        proxy.addr(),
        "CONNECT api.heroku.com:443 HTTP/1.1\r\nHost: api.heroku.com:443\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    let dead = authority(&Target::refused_url("/"));
    let answer = raw(
        proxy.addr(),
        &format!("CONNECT {dead} HTTP/1.1\r\nHost: {dead}\r\n\r\n"),
    );
    assert!(
        answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{answer}"
    );
    let answer = raw(
        proxy.addr(),
        "GET /not-absolute HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let statuses: Vec<(String, u16)> = proxy
        .requests()
        .into_iter()
        .map(|r| (r.target, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("api.heroku.com:443".to_string(), 403),
            (dead, 502),
            ("/not-absolute".to_string(), 400)
        ]
    );
}

#[test]
fn dropping_the_proxy_closes_its_port_and_cuts_open_tunnels() {
    let app = Target::start();
    let proxy = Proxy::start();
    let addr = proxy.addr();
    let host = authority(&app.url("/"));
    let mut tunnel = TcpStream::connect(addr).unwrap();
    tunnel
        .write_all(format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = [0u8; 128];
    let n = tunnel.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    drop(proxy);
    tunnel
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    let n = tunnel.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the tunnel is closed");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err(), "the port still listens");
}
