//! The scriptable HTTP target that endpoint checks probe.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Raw;
use shipline_sandbox::{Answer, Target};

#[test]
fn plays_scripted_answers_in_order_then_repeats_the_last() {
    let app = Target::start();
    app.script(
        "/health",
        vec![
            Answer::new(503, "Application error"),
            Answer::new(200, "ok v42"),
        ],
    );
    let url = app.url("/health");
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/health"));
    let seen: Vec<(u16, String)> = (0..4)
        .map(|_| {
            let resp = Raw::new("GET", &url).send();
            (resp.status, resp.text())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (503, "Application error".to_string()),
            (200, "ok v42".to_string()),
            (200, "ok v42".to_string()),
            (200, "ok v42".to_string()),
        ]
    );
    assert_eq!(app.hits("/health"), 4);
    assert_eq!(app.hits("/other"), 0);

    // Re-scripting starts over; a query string does not change the path.
    app.script(
        "/health",
        vec![Answer::new(500, "boom"), Answer::new(204, "")],
    );
    let with_query = app.url("/health?probe=1");
    assert_eq!(Raw::new("GET", &with_query).send().status, 500);
    assert_eq!(Raw::new("GET", &url).send().status, 204);
    assert_eq!(app.hits("/health"), 6);
}

#[test]
fn unscripted_paths_answer_404() {
    let app = Target::start();
    let resp = Raw::new("GET", &app.url("/nothing")).send();
    assert_eq!(resp.status, 404);
    assert_eq!(app.hits("/nothing"), 1);
}

#[test]
fn bodies_have_a_content_length_and_headers_are_sent() {
    let app = Target::start();
    app.script(
        "/version",
        vec![Answer::new(200, "{\"commit\":\"4f4f592c\"}")
            .header("Content-Type", "application/json")
            .header("X-Release", "v42")],
    );
    let resp = Raw::new("GET", &app.url("/version")).send();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Length"), Some("21"));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.header("X-Release"), Some("v42"));
    assert_eq!(resp.header("Transfer-Encoding"), None);
    assert_eq!(resp.text(), "{\"commit\":\"4f4f592c\"}");
}

#[test]
fn a_slow_answer_sends_nothing_before_its_delay() {
    let app = Target::start();
    app.script(
        "/slow",
        vec![Answer::new(200, "late").after(Duration::from_millis(300))],
    );
    let addr = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    write!(stream, "GET /slow HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    // A client with a short read timeout sees nothing at all.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    assert!(reader.read_line(&mut line).is_err(), "got {line:?} early");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 200 OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn redirects_carry_a_location() {
    let app = Target::start();
    let target = app.url("/health");
    app.redirect("/", 302, &target);
    app.redirect("/old", 301, "/health");
    let resp = Raw::new("GET", &app.url("/")).send();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("Location"), Some(target.as_str()));
    let resp = Raw::new("GET", &app.url("/old")).send();
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("Location"), Some("/health"));
}

#[test]
fn records_requests_with_their_headers() {
    let app = Target::start();
    app.script("/health", vec![Answer::new(200, "ok")]);
    let url = app.url("/health");
    Raw::new("GET", &url)
        .header("X-Check", "shipline")
        .header("User-Agent", "shipline/0.1.0")
        .send();
    Raw::new("HEAD", &app.url("/missing")).send();
    let requests = app.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/health");
    assert_eq!(requests[0].header("x-check"), Some("shipline"));
    assert_eq!(requests[0].header("User-Agent"), Some("shipline/0.1.0"));
    assert_eq!(requests[1].method, "HEAD");
    assert_eq!(requests[1].path, "/missing");
}

#[test]
fn the_refused_url_refuses_connections() {
    let url = Target::refused_url("/health");
    assert!(url.ends_with("/health"), "{url}");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/health");
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn dropping_the_target_stops_it() {
    let app = Target::start();
    let addr = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(TcpStream::connect(&addr).is_ok());
    drop(app);
    std::thread::sleep(Duration::from_millis(20));
    assert!(TcpStream::connect(addr).is_err());
}
