//! The wrappers offer exactly the binary's flags: every flag of every command (the table in
//! `src/cli/flags.rs`) is an input of `action.yml` and a parameter of the orb's command of the
//! same name, with the binary's default and a description, passed to the binary through its
//! variable; and the wrappers have nothing else but the inputs listed below as wrapper-only.
//!
//! When this fails after a flag was added: add an input to `action.yml` (and its
//! `SHIPLINE_OPT_<FLAG>` line in the run step's `env:`) and a parameter to
//! `orb/src/commands/<command>.yml` (and its `SHIPLINE_PARAM_<FLAG>` line in `environment:`).

use std::collections::BTreeMap;
use std::path::Path;

use shipline::cli::{FlagDefault, Value, COMMANDS};

/// Inputs of the action that are no flag, and why.
const ACTION_ONLY: &[(&str, &str)] = &[
    (
        "command",
        "which command to run: the action's inputs are shared by all commands",
    ),
    ("version", "which shipline release to install"),
    ("heroku-api-key", "credential, exported as HEROKU_API_KEY"),
    (
        "slack-webhook-url",
        "credential, exported as SLACK_WEBHOOK_URL",
    ),
    ("slack-bot-token", "credential, exported as SLACK_BOT_TOKEN"),
    ("github-token", "credential, exported as GITHUB_TOKEN"),
];

/// Parameters of the orb's commands that are no flag, and why.
const ORB_ONLY: &[(&str, &str)] = &[
    ("version", "which shipline release to install"),
    (
        "halt_on_skip",
        "ends the CircleCI job when the step skips (circleci-agent step halt)",
    ),
    (
        "heroku_api_key",
        "credential: the name of the variable holding HEROKU_API_KEY",
    ),
    (
        "circle_token",
        "credential: the name of the variable holding CIRCLE_TOKEN",
    ),
    (
        "slack_webhook_url",
        "credential: the name of the variable holding SLACK_WEBHOOK_URL",
    ),
    (
        "slack_bot_token",
        "credential: the name of the variable holding SLACK_BOT_TOKEN",
    ),
];

/// Wrapper names that differ from the flag's: (command, flag, action input, orb parameter, the
/// variable suffix both pass it as: `SHIPLINE_OPT_<X>`, `SHIPLINE_PARAM_<X>`), and why. The
/// wrappers' scripts export `SHIPLINE_<X>`, except LOCK_MODE and LOCK_TIMEOUT, which they
/// export as SHIPLINE_MODE and SHIPLINE_TIMEOUT.
const RENAMED: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "lock",
        "--mode",
        "lock-mode",
        "lock_mode",
        "LOCK_MODE",
        "named for the lock among the action's shared inputs, the same in the orb",
    ),
    (
        "lock",
        "--timeout",
        "lock-timeout",
        "lock_timeout",
        "LOCK_TIMEOUT",
        "the lock's longest wait is not a step's bound: the jobs set both apart",
    ),
    (
        "notify",
        "--on",
        "on",
        "post_on",
        "ON",
        "an orb parameter `on` reads as a YAML 1.1 boolean",
    ),
    (
        "notify",
        "--environment",
        "environment",
        "environment_name",
        "ENVIRONMENT",
        "`environment` is a step key on CircleCI",
    ),
    (
        "verify",
        "--check",
        "check",
        "checks",
        "CHECK",
        "the orb's parameter holds all the endpoints at once (the jobs and examples use it)",
    ),
];

/// Flags a wrapper leaves out on purpose: (wrapper, command, flag, why).
const LEFT_OUT: &[(&str, &str, &str, &str)] = &[(
    "orb",
    "lock",
    "--provider",
    "the orb runs on CircleCI only; the binary detects it",
)];

/// Orb defaults that differ from the binary's on purpose: (command, parameter, default, why).
const ORB_DEFAULTS: &[(&str, &str, &str, &str)] = &[(
    "notes",
    "format",
    "markdown",
    "notes in CI end up in Markdown (summaries, Slack); the action's run-step.sh does the same",
)];

/// One input or parameter: its keys (`default`, `description`, `type`, ...) as plain text.
type Entry = BTreeMap<String, String>;

/// The entries of the top-level block `block:` of a YAML file of the simple shape both wrappers
/// have: names indented by two spaces, their keys by four; folded (`>-`) values are joined.
fn block(text: &str, block: &str) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut inside = false;
    let mut current: Option<(String, Entry)> = None;
    let mut folding: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == format!("{block}:");
            continue;
        }
        if !inside || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let (key, value) = match line.trim().split_once(':') {
            Some((k, v)) => (k.trim().trim_matches('"').to_string(), v.trim().to_string()),
            None => (String::new(), line.trim().to_string()),
        };
        if indent == 2 {
            if let Some((name, entry)) = current.take() {
                entries.insert(name, entry);
            }
            current = Some((key, Entry::new()));
            folding = None;
        } else if indent == 4 && !key.is_empty() {
            let entry = &mut current.as_mut().expect("a key under a name").1;
            let value = value.trim_matches('"').to_string();
            folding = matches!(value.as_str(), ">-" | ">" | "|" | "|-").then(|| key.clone());
            entry.insert(
                key,
                if folding.is_some() {
                    String::new()
                } else {
                    value
                },
            );
        } else if let Some(key) = &folding {
            let entry = &mut current.as_mut().expect("a key under a name").1;
            let text = entry.get_mut(key).expect("the folded key");
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.trim());
        }
    }
    if let Some((name, entry)) = current {
        entries.insert(name, entry);
    }
    entries
}

/// `VAR: ${{ inputs.NAME }}` / `VAR: << parameters.NAME >>` lines: NAME → VAR.
fn passed(text: &str, prefix: &str, open: &str, close: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (var, value) = line.trim().split_once(':')?;
            let name = value.trim().strip_prefix(open)?.strip_suffix(close)?;
            var.starts_with(prefix)
                .then(|| (name.trim().to_string(), var.trim().to_string()))
        })
        .collect()
}

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn upper(name: &str) -> String {
    name.trim_start_matches('-')
        .replace('-', "_")
        .to_uppercase()
}

/// The wrapper's name for a flag: (name, the variable's suffix it is passed as).
fn wrapper_name(command: &str, flag: &str, orb: bool) -> (String, String) {
    for (c, f, input, param, var, _) in RENAMED {
        if *c == command && *f == flag {
            let name = if orb { param } else { input };
            return (name.to_string(), var.to_string());
        }
    }
    let name = flag.trim_start_matches('-');
    let name = if orb {
        name.replace('-', "_")
    } else {
        name.to_string()
    };
    (name, upper(flag))
}

#[test]
fn the_action_has_an_input_for_every_flag_and_nothing_else() {
    let text = read("action.yml");
    let inputs = block(&text, "inputs");
    let env = passed(&text, "SHIPLINE_OPT_", "${{ inputs.", "}}");
    let mut problems = Vec::new();
    let mut flags_inputs = Vec::new();
    for spec in COMMANDS {
        for flag in spec.flags {
            let (name, var) = wrapper_name(spec.name, flag.name, false);
            flags_inputs.push(name.clone());
            let Some(input) = inputs.get(&name) else {
                problems.push(format!("{} {}: no input `{name}`", spec.name, flag.name));
                continue;
            };
            if input.get("default").map(String::as_str) != Some("") {
                problems.push(format!(
                    "input `{name}`: default must be \"\" (the binary's default)"
                ));
            }
            if input.get("description").is_none_or(|d| d.is_empty()) {
                problems.push(format!("input `{name}`: no description"));
            }
            if env.get(&name) != Some(&format!("SHIPLINE_OPT_{var}")) {
                problems.push(format!(
                    "input `{name}`: the run step's env lacks SHIPLINE_OPT_{var}: ${{{{ inputs.{name} }}}}"
                ));
            }
        }
    }
    for name in inputs.keys() {
        if !flags_inputs.contains(name) && !ACTION_ONLY.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "input `{name}` is no flag of any command, nor listed as wrapper-only"
            ));
        }
    }
    for (name, _) in ACTION_ONLY {
        if !inputs.contains_key(*name) {
            problems.push(format!(
                "wrapper-only input `{name}` is gone: drop it from the list"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "action.yml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn each_orb_command_has_a_parameter_for_every_flag_and_nothing_else() {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for spec in COMMANDS {
        let path = format!("orb/src/commands/{}.yml", spec.name);
        let text = read(&path);
        let params = block(&text, "parameters");
        let env = passed(&text, "SHIPLINE_PARAM_", "<< parameters.", ">>");
        let mut expected = Vec::new();
        for flag in spec.flags {
            if LEFT_OUT
                .iter()
                .any(|(w, c, f, _)| *w == "orb" && *c == spec.name && *f == flag.name)
            {
                continue;
            }
            let (name, var) = wrapper_name(spec.name, flag.name, true);
            expected.push(name.clone());
            let Some(param) = params.get(&name) else {
                problems.push(format!("{path}: {}: no parameter `{name}`", flag.name));
                continue;
            };
            let default = param.get("default").map(String::as_str).unwrap_or("");
            let binary = match (flag.value, flag.default) {
                (Value::Switch, _) => "false",
                (_, FlagDefault::Value(v)) => v,
                _ => "",
            };
            let allowed = ORB_DEFAULTS
                .iter()
                .find(|(c, p, _, _)| *c == spec.name && *p == name)
                .map(|(_, _, d, _)| *d);
            let matches = default == binary
                || (default.is_empty() && flag.value != Value::Switch)
                || allowed == Some(default);
            if !matches {
                problems.push(format!(
                    "{path}: `{name}` defaults to `{default}`, the binary to `{binary}`"
                ));
            }
            if param.get("description").is_none_or(|d| d.is_empty()) {
                problems.push(format!("{path}: `{name}`: no description"));
            }
            if env.get(&name) != Some(&format!("SHIPLINE_PARAM_{var}")) {
                problems.push(format!(
                    "{path}: `{name}` is not passed as SHIPLINE_PARAM_{var}: << parameters.{name} >>"
                ));
            }
        }
        seen.extend(params.keys().cloned());
        for name in params.keys() {
            if !expected.contains(name) && !ORB_ONLY.iter().any(|(n, _)| n == name) {
                problems.push(format!(
                    "{path}: parameter `{name}` is no flag of `shipline {}`, nor listed as wrapper-only",
                    spec.name
                ));
            }
        }
    }
    for (name, _) in ORB_ONLY {
        if !seen.iter().any(|s| s == name) {
            problems.push(format!(
                "wrapper-only parameter `{name}` is gone: drop it from the list"
            ));
        }
    }
    assert!(problems.is_empty(), "the orb:\n  {}", problems.join("\n  "));
}

/// Lock parameters the orb's jobs leave at the command's default: (parameter, why).
const JOBS_LEAVE_TO_LOCK: &[(&str, &str)] = &[(
    "state",
    "a job's steps share the default state file, so none of them names it",
)];

#[test]
fn each_orb_job_passes_every_lock_parameter() {
    let lock = block(&read("orb/src/commands/lock.yml"), "parameters");
    let mut problems = Vec::new();
    for job in ["deploy", "deploy_and_promote"] {
        let path = format!("orb/src/jobs/{job}.yml");
        let text = read(&path);
        let params = block(&text, "parameters");
        // The `- lock:` step's lines up to the next step: `name: << parameters.job_param >>`.
        let step: String = text
            .split("- lock:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{path}: no lock step"))
            .lines()
            .take_while(|line| !line.trim_start().starts_with('-'))
            .map(|line| format!("{line}\n"))
            .collect();
        let passed: BTreeMap<String, String> = step
            .lines()
            .filter_map(|line| {
                let (name, value) = line.trim().split_once(':')?;
                let from = value
                    .trim()
                    .strip_prefix("<< parameters.")?
                    .strip_suffix(">>")?;
                Some((name.to_string(), from.trim().to_string()))
            })
            .collect();
        for name in lock.keys() {
            if JOBS_LEAVE_TO_LOCK.iter().any(|(n, _)| n == name) {
                continue;
            }
            match passed.get(name) {
                None => problems.push(format!("{path}: the lock step does not pass `{name}`")),
                Some(from) if !params.contains_key(from) => problems.push(format!(
                    "{path}: the lock step passes `{name}` from `{from}`, which the job does not declare"
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the orb's jobs:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_reader_reads_what_the_wrappers_hold() {
    // A reader that finds nothing would make the tests above pass vacuously.
    let action = block(&read("action.yml"), "inputs");
    assert_eq!(action["app"]["default"], "");
    assert!(action["version"]["description"].contains("shipline version"));
    let lock = block(&read("orb/src/commands/lock.yml"), "parameters");
    assert_eq!(lock["lock_mode"]["default"], "queue");
    assert_eq!(lock["include_on_hold"]["type"], "boolean");
}
