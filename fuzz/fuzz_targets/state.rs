//! The state file: any bytes are read into the typed state or refused with an error naming the
//! file, which is then left as it was; what shipline writes it reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipline::state::State;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("shipline-fuzz-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    std::fs::write(&path, data).unwrap();
    let run = if data.first().is_some_and(|b| b % 2 == 0) {
        Some("run-1")
    } else {
        None
    };
    match State::load(&path, run) {
        Ok(state) => {
            state.save().unwrap();
            State::load(&path, run).expect("what shipline wrote, it reads back");
        }
        Err(error) => {
            assert!(format!("{error:#}").contains("state.json"));
            assert_eq!(std::fs::read(&path).unwrap(), data, "left as it was");
        }
    }
});
