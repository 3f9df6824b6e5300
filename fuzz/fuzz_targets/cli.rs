//! The command line and the SHIPLINE_* variables: any arguments (split on NUL) and any value
//! of the variables parse to a command or a usage error, never a panic, and every duration is
//! bounded.
#![no_main]

use std::ffi::OsString;

use libfuzzer_sys::fuzz_target;
use shipline::cli::{self, Command};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let env_value = parts.next().unwrap_or_default().to_string();
    let args: Vec<OsString> = parts.map(OsString::from).collect();
    let env = move |name: &str| name.starts_with("SHIPLINE_").then(|| env_value.clone());
    match cli::parse_with_env(args.clone(), &env) {
        Ok(Command::Verify(v)) => assert!(v.timeout <= cli::MAX_DURATION),
        Ok(Command::Deploy(d)) => assert!(d.timeout <= cli::MAX_DURATION),
        Ok(_) => {}
        Err(e) => assert!(!e.0.is_empty()),
    }
    let _ = cli::parse_with_env(args, &|_| None);
    let _ = cli::parse_duration(&text);
});
