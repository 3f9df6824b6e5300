//! Behaviour of the fake Heroku as a Platform API client sees it over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{app_source, sha256_checksum, Api, Raw, ACCEPT, COMMIT, LIVE_COMMIT};
use serde_json::{json, Value};
use shipline_sandbox::{DynoBoot, Failure, Heroku, Script};

fn sandbox() -> (Heroku, Api) {
    let heroku = Heroku::start();
    heroku.create_app("shop-prod");
    heroku.seed_release("shop-prod", LIVE_COMMIT, None);
    let api = Api::new(&heroku);
    (heroku, api)
}

fn start_build(api: &Api, source: &[u8]) -> Value {
    let url = api.upload(source);
    let resp = api.post(
        "/apps/shop-prod/builds",
        &json!({"source_blob": {
            "url": url,
            "version": COMMIT,
            "checksum": sha256_checksum(source),
            "version_description": "Add checkout page",
        }}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.json()
}

#[test]
fn rejects_requests_without_the_v3_accept_header() {
    let (heroku, _) = sandbox();
    let url = format!("{}/account", heroku.url());
    let resp = Raw::new("GET", &url)
        .header("Authorization", format!("Bearer {}", heroku.api_key()))
        .send();
    assert_eq!(resp.status, 406);
    assert_eq!(resp.json()["id"], "not_acceptable");
    assert!(resp.json()["message"]
        .as_str()
        .unwrap()
        .contains("version=3"));

    let resp = Raw::new("GET", &url)
        .header("Authorization", format!("Bearer {}", heroku.api_key()))
        .header("Accept", "application/json")
        .send();
    assert_eq!(resp.status, 406);
}

#[test]
fn rejects_missing_or_wrong_credentials() {
    let (heroku, api) = sandbox();
    let url = format!("{}/account", heroku.url());
    for auth in [
        None,
        Some("Bearer not-the-key".to_string()),
        Some(heroku.api_key().to_string()),
    ] {
        let mut raw = Raw::new("GET", &url).header("Accept", ACCEPT);
        if let Some(auth) = auth {
            raw = raw.header("Authorization", auth);
        }
        let resp = raw.send();
        assert_eq!(resp.status, 401);
        assert_eq!(
            resp.json(),
            json!({"id": "unauthorized", "message": "Invalid credentials provided."})
        );
    }
    let resp = api.get("/account");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["email"], heroku.email());
}

#[test]
fn accepts_the_historical_basic_auth_form() {
    let (heroku, _) = sandbox();
    let url = format!("{}/account", heroku.url());
    let basic = base64(format!(":{}", heroku.api_key()).as_bytes());
    let resp = Raw::new("GET", &url)
        .header("Accept", ACCEPT)
        .header("Authorization", format!("Basic {basic}"))
        .send();
    assert_eq!(resp.status, 200, "{}", resp.text());
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn answers_with_heroku_headers() {
    let (_heroku, api) = sandbox();
    let resp = api.get("/apps/shop-prod");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(resp.header("RateLimit-Remaining"), Some("4499"));
    let request_id = resp.header("Request-Id").unwrap();
    assert_eq!(request_id.len(), 36, "{request_id}");
    let etag = resp.header("ETag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let url = format!("{}/apps/shop-prod", api.base);
    let again = api.raw("GET", &url).header("If-None-Match", etag).send();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let echoed = api
        .raw("GET", &url)
        .header("Request-Id", "0b7b7b9e-0000-4000-8000-000000000001")
        .send();
    assert_eq!(
        echoed.header("Request-Id"),
        Some("0b7b7b9e-0000-4000-8000-000000000001")
    );
}

#[test]
fn describes_the_app_its_formation_and_preboot() {
    let (heroku, api) = sandbox();
    let app = api.get("/apps/shop-prod").json();
    assert_eq!(app["name"], "shop-prod");
    assert_eq!(app["generation"]["name"], "cedar");
    assert_eq!(app["build_stack"]["name"], "heroku-24");
    assert_eq!(app["maintenance"], false);
    assert!(app["web_url"]
        .as_str()
        .unwrap()
        .ends_with(".herokuapp.com/"));
    assert!(app["released_at"].is_string());
    let by_id = api.get(&format!("/apps/{}", app["id"].as_str().unwrap()));
    assert_eq!(by_id.json()["name"], "shop-prod");

    let formation = api.get("/apps/shop-prod/formation").json();
    let types: Vec<_> = formation
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["type"].as_str().unwrap(), f["quantity"].as_u64().unwrap()))
        .collect();
    assert_eq!(types, [("web", 1)]);

    heroku.set_release_phase("shop-prod", Some(Script::release_phase()));
    let formation = api.get("/apps/shop-prod/formation").json();
    assert!(formation
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["type"] == "release"));

    let preboot = api.get("/apps/shop-prod/features/preboot").json();
    assert_eq!(preboot["name"], "preboot");
    assert_eq!(preboot["enabled"], false);
    heroku.set_preboot("shop-prod", true);
    assert_eq!(
        api.get("/apps/shop-prod/features/preboot").json()["enabled"],
        true
    );
}

#[test]
fn unknown_apps_and_routes_are_not_found() {
    let (_heroku, api) = sandbox();
    let resp = api.get("/apps/no-such-app");
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json(),
        json!({"id": "not_found", "message": "Couldn't find that app."})
    );
    let resp = api.get("/apps/shop-prod/releases/99");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["message"], "Couldn't find that release.");
    let resp = api.get("/definitely/not/an/endpoint");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["id"], "not_found");
}

#[test]
fn new_apps_start_with_an_initial_release_without_slug() {
    let heroku = Heroku::start();
    heroku.create_app("fresh-app");
    let api = Api::new(&heroku);
    let releases = api.get("/apps/fresh-app/releases").json();
    assert_eq!(releases.as_array().unwrap().len(), 1);
    let v1 = &releases[0];
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["description"], "Initial release");
    assert_eq!(v1["slug"], Value::Null);
    assert_eq!(v1["current"], true);
    assert_eq!(v1["eligible_for_rollback"], false);
}

#[test]
fn pages_releases_with_206_and_next_range() {
    let (heroku, api) = sandbox();
    for i in 0..4 {
        heroku.seed_release("shop-prod", &format!("{i:040}"), None);
    }
    // v1 initial, v2 live, v3..v6 seeded.
    let first = api.get_range("/apps/shop-prod/releases", "version ..; max=2, order=desc");
    assert_eq!(first.status, 206);
    assert_eq!(first.header("Accept-Ranges"), Some("id, version"));
    let versions = |r: &common::Resp| -> Vec<u64> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(versions(&first), [6, 5]);
    assert_eq!(first.json()[0]["current"], true);
    let next = first.header("Next-Range").unwrap().to_string();
    assert_eq!(next, "version ]5..; max=2, order=desc");

    let second = api.get_range("/apps/shop-prod/releases", &next);
    assert_eq!(second.status, 206);
    assert_eq!(versions(&second), [4, 3]);
    let third = api.get_range(
        "/apps/shop-prod/releases",
        second.header("Next-Range").unwrap(),
    );
    assert_eq!(third.status, 200);
    assert_eq!(versions(&third), [2, 1]);
    assert_eq!(third.header("Next-Range"), None);

    let all = api.get("/apps/shop-prod/releases");
    assert_eq!(all.status, 200);
    assert_eq!(versions(&all), [1, 2, 3, 4, 5, 6]);

    // heroku-go's spacing, and an inclusive start.
    let compact = api.get_range("/apps/shop-prod/releases", "version 3..; max=2,order=asc");
    assert_eq!(versions(&compact), [3, 4]);
    assert_eq!(compact.status, 206);

    let bad = api.get_range("/apps/shop-prod/releases", "colour ..; max=2");
    assert_eq!(bad.status, 416);
    assert_eq!(bad.json()["id"], "requested_range_not_satisfiable");
}

#[test]
fn answers_429_once_the_rate_limit_bucket_is_empty() {
    let (heroku, api) = sandbox();
    heroku.set_rate_limit_remaining(2);
    let a = api.get("/account");
    assert_eq!(a.header("RateLimit-Remaining"), Some("1"));
    let b = api.get("/apps/shop-prod");
    assert_eq!(b.status, 200);
    assert_eq!(b.header("RateLimit-Remaining"), Some("0"));
    let c = api.get("/account");
    assert_eq!(c.status, 429);
    assert_eq!(c.header("RateLimit-Remaining"), Some("0"));
    assert_eq!(
        c.json(),
        json!({
            "id": "rate_limit",
            "message": "Your account reached the API rate limit\nPlease wait a few minutes before making new requests"
        })
    );
    // The rate-limit endpoint is free.
    let free = api.get("/account/rate-limits");
    assert_eq!(free.status, 200);
    assert_eq!(free.json(), json!({"remaining": 0}));
}

#[test]
fn injected_failures_fail_only_the_matching_requests() {
    let (heroku, api) = sandbox();
    heroku.fail_next("GET", "/apps/shop-prod", 503, 2);
    heroku.fail_next("GET", "/apps/shop-prod/releases*", 429, 1);
    heroku.inject(
        Failure::new("POST", "/apps/shop-prod/builds", 403, 1)
            .body("two_factor", "Two-factor code is required."),
    );

    assert_eq!(api.get("/account").status, 200);
    for _ in 0..2 {
        let resp = api.get("/apps/shop-prod");
        assert_eq!(resp.status, 503);
        assert_eq!(resp.json()["id"], "service_unavailable");
        assert!(resp.header("Request-Id").is_some());
    }
    assert_eq!(api.get("/apps/shop-prod").status, 200);

    let limited = api.get("/apps/shop-prod/releases/2");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("Retry-After"), Some("1"));
    assert_eq!(limited.json()["id"], "rate_limit");
    assert_eq!(api.get("/apps/shop-prod/releases/2").status, 200);

    let two_factor = api.post("/apps/shop-prod/builds", &json!({}));
    assert_eq!(two_factor.status, 403);
    assert_eq!(two_factor.json()["id"], "two_factor");
}

#[test]
fn sources_and_the_s3_upload_rules() {
    let (heroku, api) = sandbox();
    let source = api.post("/sources", &json!({}));
    assert_eq!(source.status, 201);
    let source = source.json();
    let put_url = source["source_blob"]["put_url"].as_str().unwrap();
    let get_url = source["source_blob"]["get_url"].as_str().unwrap();
    assert_ne!(put_url, get_url);
    for url in [put_url, get_url] {
        assert!(
            url.starts_with(&format!("{}/blobs/", heroku.url())),
            "{url}"
        );
        assert!(url.contains("?X-Amz-Algorithm=") && url.contains("X-Amz-Signature="));
    }
    // POST /sources also takes an empty body.
    let empty = api.raw("POST", &format!("{}/sources", api.base)).send();
    assert_eq!(empty.status, 201);

    let body = b"tarball bytes";
    let chunked = Raw {
        chunked: true,
        ..Raw::new("PUT", put_url).body(body)
    }
    .send();
    assert_eq!(chunked.status, 501);
    assert!(chunked.text().contains("<Code>NotImplemented</Code>"));

    let no_length = Raw {
        no_length: true,
        ..Raw::new("PUT", put_url).body(body)
    }
    .send();
    assert_eq!(no_length.status, 411);
    assert!(no_length
        .text()
        .contains("<Code>MissingContentLength</Code>"));

    let typed = Raw::new("PUT", put_url)
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send();
    assert_eq!(typed.status, 403);
    assert!(typed.text().contains("<Code>SignatureDoesNotMatch</Code>"));
    assert_eq!(typed.header("Content-Type"), Some("application/xml"));

    let authed = Raw::new("PUT", put_url)
        .header("Authorization", format!("Bearer {}", heroku.api_key()))
        .body(body)
        .send();
    assert_eq!(authed.status, 400);
    assert!(authed.text().contains("<Code>InvalidArgument</Code>"));

    assert!(
        heroku.blobs().is_empty(),
        "rejected uploads must not be stored"
    );

    let wrong_signature = Raw::new("PUT", get_url).body(body).send();
    assert_eq!(wrong_signature.status, 403);

    let ok = Raw::new("PUT", put_url)
        .header("Content-Type", "")
        .body(body)
        .send();
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(heroku.blobs(), vec![body.to_vec()]);

    let fetched = Raw::new("GET", get_url).send();
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, body);
}

#[test]
fn a_build_goes_from_pending_to_succeeded_streaming_its_output() {
    let (heroku, api) = sandbox();
    let lines = [
        "-----> Building on the Heroku-24 stack",
        "-----> Installing dependencies",
        "-----> Launching...",
        "       Released v{version}",
    ];
    heroku.script_next_build(
        "shop-prod",
        Script::succeed(lines).delay(Duration::from_millis(60)),
    );
    let source = app_source();
    let build = start_build(&api, &source);
    assert_eq!(build["status"], "pending");
    assert_eq!(build["release"], Value::Null);
    assert_eq!(build["slug"], Value::Null);
    assert_eq!(build["source_blob"]["version"], COMMIT);
    let build_id = build["id"].as_str().unwrap().to_string();
    let path = format!("/apps/shop-prod/builds/{build_id}");
    assert_eq!(api.get(&path).json()["status"], "pending");

    let stream_url = build["output_stream_url"].as_str().unwrap();
    let started = Instant::now();
    let streamed = Raw::new("GET", stream_url).stream();
    assert_eq!(streamed.status, 200);
    assert!(streamed
        .headers
        .iter()
        .any(|(n, v)| n == "Content-Type" && v.starts_with("text/plain")));
    let text = streamed.text();
    let chunks = &streamed.chunks;
    assert_eq!(
        text,
        "-----> Building on the Heroku-24 stack\n-----> Installing dependencies\n-----> Launching...\n       Released v3\n"
    );
    // Streamed as produced, not all at once at the end.
    assert!(chunks.len() >= 4);
    let spread = chunks.last().unwrap().0 - chunks.first().unwrap().0;
    assert!(spread >= Duration::from_millis(120), "{spread:?}");
    assert!(started.elapsed() >= Duration::from_millis(240));

    let done = api.get(&path).json();
    assert_eq!(done["status"], "succeeded");
    let release_id = done["release"]["id"].as_str().unwrap();
    let slug_id = done["slug"]["id"].as_str().unwrap();

    let release = api
        .get(&format!("/apps/shop-prod/releases/{release_id}"))
        .json();
    assert_eq!(release["version"], 3);
    assert_eq!(release["description"], "Deploy 4f4f592c");
    assert_eq!(release["status"], "succeeded");
    assert_eq!(release["current"], true);
    assert_eq!(release["slug"]["id"], slug_id);
    assert_eq!(release["output_stream_url"], Value::Null);
    assert_eq!(
        api.get("/apps/shop-prod/releases/2").json()["current"],
        false
    );

    let slug = api.get(&format!("/apps/shop-prod/slugs/{slug_id}")).json();
    assert_eq!(slug["commit"], COMMIT);
    assert_eq!(slug["commit_description"], "Add checkout page");
    assert_eq!(slug["process_types"], json!({"web": "node server.js"}));

    let dynos = api.get("/apps/shop-prod/dynos").json();
    assert_eq!(dynos.as_array().unwrap().len(), 1);
    assert_eq!(dynos[0]["type"], "web");
    assert_eq!(dynos[0]["state"], "up");
    assert_eq!(dynos[0]["release"]["version"], 3);

    // A late reader gets the whole log at once, and can resume with a byte range.
    let replay = Raw::new("GET", stream_url).send();
    assert_eq!(replay.text(), text);
    let resumed = Raw::new("GET", stream_url)
        .header("Range", "bytes=39-")
        .send();
    assert_eq!(resumed.status, 206);
    assert_eq!(resumed.text(), &text[39..]);
}

#[test]
fn a_failed_release_phase_keeps_the_previous_release_current() {
    let (heroku, api) = sandbox();
    heroku.set_release_phase(
        "shop-prod",
        Some(
            Script::failing_release_phase()
                .delay(Duration::from_millis(30))
                .start_after(Duration::from_millis(150)),
        ),
    );
    let source = app_source();
    let build = start_build(&api, &source);
    let path = format!("/apps/shop-prod/builds/{}", build["id"].as_str().unwrap());
    let done = api.poll(&path, |b| b["status"] != "pending");
    assert_eq!(done["status"], "succeeded");
    let release_path = format!(
        "/apps/shop-prod/releases/{}",
        done["release"]["id"].as_str().unwrap()
    );
    let release = api.get(&release_path).json();
    assert_eq!(release["status"], "pending");
    assert_eq!(release["current"], false);
    assert_eq!(release["version"], 3);
    let stream_url = release["output_stream_url"].as_str().unwrap().to_string();
    assert!(stream_url.contains("/streams/releases/"));

    // Not started yet: 404, like Heroku's release stream.
    assert_eq!(Raw::new("GET", &stream_url).send().status, 404);
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let resp = Raw::new("GET", &stream_url).send();
        if resp.status == 200 {
            break resp.text();
        }
        assert!(Instant::now() < deadline, "release stream never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(log.starts_with("Running release command...\n"), "{log}");
    assert!(log.contains("does not exist"), "{log}");

    let failed = api.poll(&release_path, |r| r["status"] != "pending");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["current"], false);
    assert_eq!(failed["eligible_for_rollback"], false);
    let live = api.get("/apps/shop-prod/releases/2").json();
    assert_eq!(live["current"], true);
    let latest = api.get_range("/apps/shop-prod/releases", "version ..; max=1, order=desc");
    assert_eq!(latest.json()[0]["version"], 3);
    assert_eq!(latest.json()[0]["status"], "failed");
    let dynos = api.get("/apps/shop-prod/dynos").json();
    assert_eq!(dynos[0]["release"]["version"], 2);
}

#[test]
fn a_succeeding_release_phase_makes_the_release_current_when_done() {
    let (heroku, api) = sandbox();
    heroku.set_release_phase(
        "shop-prod",
        Some(Script::release_phase().delay(Duration::from_millis(30))),
    );
    let source = app_source();
    let build = start_build(&api, &source);
    let path = format!("/apps/shop-prod/builds/{}", build["id"].as_str().unwrap());
    let done = api.poll(&path, |b| b["status"] != "pending");
    let release_path = format!(
        "/apps/shop-prod/releases/{}",
        done["release"]["id"].as_str().unwrap()
    );
    let release = api.poll(&release_path, |r| r["status"] != "pending");
    assert_eq!(release["status"], "succeeded");
    assert_eq!(release["current"], true);
    assert_eq!(
        api.get("/apps/shop-prod/releases/2").json()["current"],
        false
    );
}

#[test]
fn builds_fail_on_a_bad_source() {
    let (heroku, api) = sandbox();
    let source = app_source();
    let url = api.upload(&source);

    let mismatch = api
        .post(
            "/apps/shop-prod/builds",
            &json!({"source_blob": {"url": url, "version": COMMIT, "checksum": format!("SHA256:{}", "0".repeat(64))}}),
        )
        .json();
    let id = mismatch["id"].as_str().unwrap().to_string();
    let failed = api.poll(&format!("/apps/shop-prod/builds/{id}"), |b| {
        b["status"] != "pending"
    });
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["release"], Value::Null);
    let output = heroku.build_output("shop-prod", &id).join("\n");
    assert!(output.contains("Checksum mismatch"), "{output}");

    let foreign = api
        .post(
            "/apps/shop-prod/builds",
            &json!({"source_blob": {"url": "https://example.com/source.tgz", "version": COMMIT}}),
        )
        .json();
    let id = foreign["id"].as_str().unwrap().to_string();
    let failed = api.poll(&format!("/apps/shop-prod/builds/{id}"), |b| {
        b["status"] != "pending"
    });
    assert_eq!(failed["status"], "failed");
    let stream = Raw::new("GET", failed["output_stream_url"].as_str().unwrap()).send();
    assert!(
        stream.text().contains("Unable to fetch source"),
        "{}",
        stream.text()
    );
    assert!(!stream.text().contains("X-Amz-Signature"));

    // A blob URL whose signature is not the download one cannot be fetched.
    let badly_signed = url.replace(
        url.split("X-Amz-Signature=").nth(1).unwrap(),
        &"f".repeat(64),
    );
    let wrong = api
        .post(
            "/apps/shop-prod/builds",
            &json!({"source_blob": {"url": badly_signed}}),
        )
        .json();
    let failed = api.poll(
        &format!("/apps/shop-prod/builds/{}", wrong["id"].as_str().unwrap()),
        |b| b["status"] != "pending",
    );
    assert_eq!(failed["status"], "failed");

    // Only successful builds release.
    assert_eq!(heroku.releases("shop-prod").len(), 2);
    assert_eq!(heroku.builds("shop-prod").len(), 3);
}

#[test]
fn invalid_build_bodies_are_rejected() {
    let (_heroku, api) = sandbox();
    let cases = [
        json!({}),
        json!({"source_blob": {}}),
        json!({"source_blob": {"url": "ftp://example.com/x.tgz"}}),
        json!({"source_blob": {"url": "http://127.0.0.1/x", "checksum": "md5:abc"}}),
        json!({"source_blob": {"url": "http://127.0.0.1/x", "checksum": format!("SHA256:{}", "a".repeat(63))}}),
        json!({"source_blob": {"url": "http://127.0.0.1/x", "version": 42}}),
    ];
    for body in cases {
        let resp = api.post("/apps/shop-prod/builds", &body);
        assert_eq!(resp.status, 422, "{body}: {}", resp.text());
        assert_eq!(resp.json()["id"], "invalid_params");
    }
    let url = format!("{}/apps/shop-prod/builds", api.base);
    let garbage = api.raw("POST", &url).body(b"{not json").send();
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()["id"], "bad_request");
}

#[test]
fn a_failing_build_script_fails_the_build() {
    let (heroku, api) = sandbox();
    heroku.script_next_build("shop-prod", Script::failing_build());
    let source = app_source();
    let build = start_build(&api, &source);
    let text = Raw::new("GET", build["output_stream_url"].as_str().unwrap())
        .stream()
        .text();
    assert!(text.contains("Build failed"), "{text}");
    let done = api
        .get(&format!(
            "/apps/shop-prod/builds/{}",
            build["id"].as_str().unwrap()
        ))
        .json();
    assert_eq!(done["status"], "failed");
    assert_eq!(done["release"], Value::Null);
    // The next build is back to the default script.
    let next = start_build(&api, &source);
    let done = api.poll(
        &format!("/apps/shop-prod/builds/{}", next["id"].as_str().unwrap()),
        |b| b["status"] != "pending",
    );
    assert_eq!(done["status"], "succeeded");
}

#[test]
fn cancelling_a_build_fails_it() {
    let (heroku, api) = sandbox();
    heroku.script_next_build(
        "shop-prod",
        Script::default_build().delay(Duration::from_secs(5)),
    );
    let source = app_source();
    let build = start_build(&api, &source);
    let path = format!("/apps/shop-prod/builds/{}", build["id"].as_str().unwrap());
    let url = format!("{}{path}", api.base);
    let cancelled = api.raw("DELETE", &url).send();
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.json()["status"], "failed");
    let text = Raw::new("GET", build["output_stream_url"].as_str().unwrap())
        .send()
        .text();
    assert!(text.ends_with("Build canceled\n"), "{text}");
}

#[test]
fn rollback_and_release_from_slug() {
    let (heroku, api) = sandbox();
    heroku.seed_release("shop-prod", COMMIT, None);
    let v2 = api.get("/apps/shop-prod/releases/2").json();
    let rollback = api.post("/apps/shop-prod/releases", &json!({"release": v2["id"]}));
    assert_eq!(rollback.status, 201, "{}", rollback.text());
    let rollback = rollback.json();
    assert_eq!(rollback["version"], 4);
    assert_eq!(rollback["description"], "Rollback to v2");
    assert_eq!(rollback["slug"], v2["slug"]);
    assert_eq!(rollback["current"], true);
    assert_eq!(
        api.get("/apps/shop-prod/releases/3").json()["current"],
        false
    );

    let v3 = api.get("/apps/shop-prod/releases/3").json();
    let created = api.post(
        "/apps/shop-prod/releases",
        &json!({"slug": v3["slug"]["id"]}),
    );
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["version"], 5);
    assert_eq!(created.json()["description"], "Deploy 4f4f592c");

    let by_version = api.post("/apps/shop-prod/releases", &json!({"release": 2}));
    assert_eq!(by_version.status, 422);
    let v1 = api.get("/apps/shop-prod/releases/1").json();
    let no_slug = api.post("/apps/shop-prod/releases", &json!({"release": v1["id"]}));
    assert_eq!(no_slug.status, 422);
    let missing = api.post(
        "/apps/shop-prod/releases",
        &json!({"release": "01234567-89ab-cdef-0123-456789abcdef"}),
    );
    assert_eq!(missing.status, 404);
}

#[test]
fn seeded_descriptions_are_kept() {
    let (heroku, api) = sandbox();
    let v = heroku.seed_release("shop-prod", COMMIT, Some("Rollback to v2"));
    assert_eq!(v, 3);
    let release = api.get("/apps/shop-prod/releases/3").json();
    assert_eq!(release["description"], "Rollback to v2");
    let slug = api
        .get(&format!(
            "/apps/shop-prod/slugs/{}",
            release["slug"]["id"].as_str().unwrap()
        ))
        .json();
    assert_eq!(slug["commit"], COMMIT);
}

#[test]
fn dynos_follow_formation_and_boot_script() {
    let (heroku, api) = sandbox();
    heroku.set_formation("shop-prod", "web", 2);
    heroku.set_formation("shop-prod", "worker", 1);
    heroku.set_dyno_boot(
        "shop-prod",
        DynoBoot::crash_after(Duration::from_millis(100)),
    );
    heroku.seed_release("shop-prod", COMMIT, None);
    let dynos = api.get("/apps/shop-prod/dynos").json();
    let names: Vec<_> = dynos
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("web.1", "starting"),
            ("web.2", "starting"),
            ("worker.1", "starting")
        ]
    );
    std::thread::sleep(Duration::from_millis(120));
    let dynos = api.get("/apps/shop-prod/dynos").json();
    assert!(dynos
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["state"] == "crashed"));
    assert_eq!(dynos[0]["release"]["version"], 3);
}

#[test]
fn records_every_request() {
    let (heroku, api) = sandbox();
    let source = app_source();
    start_build(&api, &source);
    let requests = heroku.requests();
    let summary: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(summary[0], "POST /sources");
    assert!(summary[1].starts_with("PUT /blobs/"));
    assert_eq!(summary[2], "POST /apps/shop-prod/builds");
    let put = &requests[1];
    assert!(put.query.as_deref().unwrap().contains("X-Amz-Signature="));
    assert_eq!(put.header("Authorization"), None);
    assert_eq!(put.body, source);
    let build = &requests[2];
    assert_eq!(build.header("accept"), Some(ACCEPT));
    let body: Value = serde_json::from_slice(&build.body).unwrap();
    assert_eq!(body["source_blob"]["version"], COMMIT);
    heroku.clear_requests();
    assert!(heroku.requests().is_empty());
}

#[test]
fn dropping_the_sandbox_stops_the_server() {
    let heroku = Heroku::start();
    let addr = heroku.url().trim_start_matches("http://").to_string();
    drop(heroku);
    std::thread::sleep(Duration::from_millis(20));
    assert!(std::net::TcpStream::connect(addr).is_err());
}
