//! The dyno list as a verify step sees it while a release rolls out: old dynos, new ones
//! starting, crashes, preboot overlap, one-off and release-phase dynos.

mod common;

use std::time::{Duration, Instant};

use common::{Api, COMMIT, LIVE_COMMIT};
use serde_json::{json, Value};
use shipline_sandbox::{DynoBoot, Heroku, Script};

const APP: &str = "shop-prod";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sandbox() -> (Heroku, Api) {
    let heroku = Heroku::start();
    heroku.create_app(APP);
    heroku.seed_release(APP, LIVE_COMMIT, None);
    let api = Api::new(&heroku);
    (heroku, api)
}

fn dynos(api: &Api) -> Vec<Value> {
    let resp = api.get(&format!("/apps/{APP}/dynos"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json().as_array().unwrap().clone()
}

/// `web.1@v2:up worker.1@v3:starting ...` in list order.
fn summary(dynos: &[Value]) -> String {
    dynos
        .iter()
        .map(|d| {
            format!(
                "{}@v{}:{}",
                d["name"].as_str().unwrap(),
                d["release"]["version"],
                d["state"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Polls the dyno list until `last` is seen, returning the distinct lists seen in order.
fn watch(api: &Api, last: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let now = summary(&dynos(api));
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == last {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {last:?}: {seen:#?}"
        );
        std::thread::sleep(ms(5));
    }
}

#[test]
fn a_fresh_app_has_no_dynos_until_it_has_code() {
    let heroku = Heroku::start();
    heroku.create_app(APP);
    let api = Api::new(&heroku);
    assert!(dynos(&api).is_empty());
    heroku.seed_release(APP, LIVE_COMMIT, None);
    assert_eq!(summary(&dynos(&api)), "web.1@v2:up");
}

#[test]
fn old_dynos_stay_listed_until_the_new_ones_appear_then_boot() {
    let (heroku, api) = sandbox();
    heroku.set_formation(APP, "web", 2);
    heroku.set_formation(APP, "worker", 1);
    heroku.set_dyno_boot(APP, DynoBoot::up_after(ms(200)).appear_after(ms(200)));
    heroku.seed_release(APP, COMMIT, None);
    assert_eq!(
        watch(&api, "web.1@v3:up web.2@v3:up worker.1@v3:up"),
        [
            "web.1@v2:up web.2@v2:up worker.1@v2:up",
            "web.1@v3:starting web.2@v3:starting worker.1@v3:starting",
            "web.1@v3:up web.2@v3:up worker.1@v3:up",
        ]
    );
}

#[test]
fn a_crash_on_boot_crashes_every_dyno_or_just_web_2() {
    let (heroku, api) = sandbox();
    heroku.set_formation(APP, "web", 3);
    heroku.set_dyno_boot(APP, DynoBoot::crash_one_after(ms(250)));
    heroku.seed_release(APP, COMMIT, None);
    assert_eq!(
        watch(&api, "web.1@v3:up web.2@v3:crashed web.3@v3:up"),
        [
            "web.1@v3:starting web.2@v3:starting web.3@v3:starting",
            "web.1@v3:up web.2@v3:crashed web.3@v3:up",
        ]
    );

    // With a single web dyno, that one crashes.
    heroku.set_formation(APP, "web", 1);
    assert_eq!(summary(&dynos(&api)), "web.1@v3:crashed");

    heroku.set_dyno_boot(APP, DynoBoot::crash_after(Duration::ZERO));
    heroku.set_formation(APP, "web", 2);
    assert_eq!(summary(&dynos(&api)), "web.1@v3:crashed web.2@v3:crashed");
}

#[test]
fn with_preboot_the_old_web_dynos_keep_serving_for_the_overlap() {
    let (heroku, api) = sandbox();
    heroku.set_formation(APP, "worker", 1);
    heroku.set_preboot(APP, true);
    heroku.set_preboot_overlap(APP, ms(300));
    heroku.set_dyno_boot(APP, DynoBoot::up_after(ms(200)));
    heroku.seed_release(APP, COMMIT, None);
    // Workers restart at once; the old web dyno stays until 300 ms after the new one is up.
    assert_eq!(
        watch(&api, "web.1@v3:up worker.1@v3:up"),
        [
            "web.1@v2:up web.1@v3:starting worker.1@v3:starting",
            "web.1@v2:up web.1@v3:up worker.1@v3:up",
            "web.1@v3:up worker.1@v3:up",
        ]
    );
    // Same names, distinct dynos.
    let ids: Vec<Value> = heroku.dynos(APP).iter().map(|d| d["id"].clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn without_preboot_the_old_dynos_go_when_the_new_ones_appear() {
    let (heroku, api) = sandbox();
    heroku.set_preboot_overlap(APP, ms(300));
    heroku.set_dyno_boot(APP, DynoBoot::up_after(ms(200)).appear_after(ms(200)));
    heroku.seed_release(APP, COMMIT, None);
    assert_eq!(
        watch(&api, "web.1@v3:up"),
        ["web.1@v2:up", "web.1@v3:starting", "web.1@v3:up"]
    );
}

#[test]
fn one_off_and_release_phase_dynos_are_listed_with_their_type() {
    let (heroku, api) = sandbox();
    let run = heroku.add_one_off_dyno(APP, "run");
    assert!(run.starts_with("run.") && run.len() == 8, "{run}");
    heroku.seed_release(APP, COMMIT, None);
    heroku.set_release_phase(
        APP,
        Some(Script::release_phase().delay(ms(80)).start_after(ms(250))),
    );
    let v2 = api.get(&format!("/apps/{APP}/releases/2")).json();
    let rollback = api.post(
        &format!("/apps/{APP}/releases"),
        &json!({"release": v2["id"]}),
    );
    assert_eq!(rollback.status, 201, "{}", rollback.text());
    assert_eq!(rollback.json()["status"], "pending");

    let list = dynos(&api);
    let release_dyno = list.iter().find(|d| d["type"] == "release").unwrap();
    let name = release_dyno["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("release.") && name.len() == 12, "{name}");
    let one_off = &list.iter().find(|d| d["type"] == "run").unwrap();
    assert_eq!(one_off["name"], run.as_str());
    assert_eq!(one_off["command"], "bash");
    assert_eq!(
        watch(&api, &format!("web.1@v4:up {run}@v2:up")),
        [
            format!("web.1@v3:up {run}@v2:up {name}@v4:starting"),
            format!("web.1@v3:up {run}@v2:up {name}@v4:up"),
            format!("web.1@v4:up {run}@v2:up"),
        ]
    );
}

#[test]
fn a_boot_scripted_for_the_next_release_only_leaves_later_ones_alone() {
    let (heroku, api) = sandbox();
    heroku.script_next_dyno_boot(APP, DynoBoot::crash_after(Duration::ZERO));
    heroku.seed_release(APP, COMMIT, None);
    assert_eq!(summary(&dynos(&api)), "web.1@v3:crashed");
    let v2 = api.get(&format!("/apps/{APP}/releases/2")).json();
    let rollback = api.post(
        &format!("/apps/{APP}/releases"),
        &json!({"release": v2["id"]}),
    );
    assert_eq!(rollback.status, 201);
    assert_eq!(summary(&dynos(&api)), "web.1@v4:up");
}

#[test]
fn a_crashed_release_keeps_its_crashed_dynos_until_replaced() {
    let (heroku, api) = sandbox();
    heroku.script_next_dyno_boot(APP, DynoBoot::crash_after(Duration::ZERO));
    heroku.seed_release(APP, COMMIT, None);
    heroku.set_dyno_boot(APP, DynoBoot::up_after(ms(200)).appear_after(ms(200)));
    let v2 = api.get(&format!("/apps/{APP}/releases/2")).json();
    api.post(
        &format!("/apps/{APP}/releases"),
        &json!({"release": v2["id"]}),
    );
    assert_eq!(
        watch(&api, "web.1@v4:up"),
        ["web.1@v3:crashed", "web.1@v4:starting", "web.1@v4:up"]
    );
}

#[test]
fn a_dyno_answers_by_name_or_id_in_the_api_shape() {
    let (heroku, api) = sandbox();
    let app = heroku.releases(APP)[0]["app"].clone();
    let list = dynos(&api);
    let web = &list[0];
    let keys: Vec<&String> = web.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "app",
            "attach_url",
            "command",
            "created_at",
            "id",
            "name",
            "release",
            "size",
            "state",
            "type",
            "updated_at"
        ]
    );
    assert_eq!(web["app"], app);
    assert_eq!(web["release"]["version"], 2);
    assert_eq!(web["type"], "web");
    assert_eq!(web["size"], "Basic");
    let by_name = api.get(&format!("/apps/{APP}/dynos/web.1")).json();
    assert_eq!(&by_name, web);
    let by_id = api.get(&format!(
        "/apps/{APP}/dynos/{}",
        web["id"].as_str().unwrap()
    ));
    assert_eq!(&by_id.json(), web);
    let missing = api.get(&format!("/apps/{APP}/dynos/web.9"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["id"], "not_found");
}
