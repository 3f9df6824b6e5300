//! API answers of each service: any body is typed or refused, never a panic; any `Link` header
//! yields a next page or none.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Vec<shipline::heroku::Release>>(data);
    let _ = serde_json::from_slice::<shipline::heroku::Build>(data);
    let _ = serde_json::from_slice::<Vec<shipline::heroku::Dyno>>(data);
    let _ = serde_json::from_slice::<Vec<shipline::heroku::PromotionTarget>>(data);
    let _ = serde_json::from_slice::<shipline::github::Comparison>(data);
    let _ = serde_json::from_slice::<shipline::notes::Recorded>(data);
    let text = String::from_utf8_lossy(data);
    if let Some(next) = shipline::github::next_link(&text) {
        assert!(!next.is_empty());
    }
});
