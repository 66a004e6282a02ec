//! The OpenAPI fuzzer: [Schemathesis](https://schemathesis.readthedocs.io) (PyPI, pinned to
//! [`VERSION`]; `.ci/run` installs it when missing) run as a child process against a live
//! server's `/api/v1/openapi.json`, with a staff and a device credential, bounded in examples
//! and time, with a fixed seed so a failure is reproduced by running the test again.
//!
//! [`Schemathesis::find_or_skip`] finds the `st` program (or `$SCHEMATHESIS`): a missing one
//! skips the test loudly, except under `CI=true`, where it fails it. [`Schemathesis::run`]
//! writes the run's `schemathesis.toml` (the credentials per security scheme of the document)
//! in a temporary folder and returns the exit status with everything Schemathesis printed, so
//! the failing test shows each failure with its `curl` reproduction.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The Schemathesis release the tests are written for (`pip install schemathesis==VERSION`;
/// `.ci/run` installs the same one).
pub const VERSION: &str = "4.32.5";

/// The checks every run applies: no 5xx, every status and every body as documented.
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance";

/// A Schemathesis installation.
#[derive(Clone, Debug)]
pub struct Schemathesis {
    program: PathBuf,
    /// What `st --version` printed.
    pub version: String,
}

/// The credentials a run uses, named after the document's security schemes.
#[derive(Clone, Debug)]
pub enum StaffLogin {
    /// A fixed bearer token for the `staff` scheme.
    Token(String),
    /// A user name and password: Schemathesis logs in through `POST /api/v1/auth/login` and
    /// logs in again when an answer is 401 (so a fuzzed `POST /auth/logout` does not end the
    /// run's session for the operations after it).
    Login {
        /// The staff user name.
        username: String,
        /// Its password.
        password: String,
    },
}

/// One fuzzing run.
#[derive(Clone, Debug)]
pub struct FuzzRun {
    /// The document, e.g. `http://127.0.0.1:41234/api/v1/openapi.json`.
    pub schema_url: String,
    /// The `staff` scheme's credential.
    pub staff: StaffLogin,
    /// The `device` scheme's credential (`dv_…`).
    pub device_token: String,
    /// Test cases per operation and phase (`--max-examples`).
    pub max_examples: u32,
    /// The random seed (`--seed`): the same seed on the same document runs the same cases.
    pub seed: u64,
    /// The phases (`examples`, `coverage`, `fuzzing`, `stateful`).
    pub phases: Vec<&'static str>,
    /// Concurrent workers (`--workers`).
    pub workers: u32,
    /// Named lists of real values (store codes, SKU ids, …) the generator mixes into the
    /// parameters bound to them, so requests reach real records, not only unknown ones.
    pub dictionaries: Vec<(String, Vec<String>)>,
    /// Which parameter takes values from which dictionary, how often: (`path.id`,
    /// `query.location_id`, `body.lines[*].sku_id`, …; the dictionary's name; a probability).
    pub bindings: Vec<(String, String, f64)>,
    /// Values some operations must never act on: the run's own device and accounts, which
    /// revoking, disabling or a password reset would end (a `before_call` hook swaps such a
    /// value for an unknown id just before the request is sent, whichever phase generated it).
    pub protected: Vec<Protected>,
    /// Arguments added at the end (e.g. `--include-path-regex`).
    pub extra_args: Vec<String>,
}

/// An operation's path parameter that must never take some values (see [`FuzzRun::protected`]).
#[derive(Clone, Debug)]
pub struct Protected {
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The path as the document names it, e.g. `/api/v1/devices/{id}/revoke`.
    pub path: String,
    /// The path parameter, e.g. `id`.
    pub parameter: String,
    /// The values it must not take.
    pub values: Vec<String>,
    /// What it takes instead (e.g. an id nothing has).
    pub instead: String,
}

/// What a run found.
#[derive(Debug)]
pub struct FuzzOutcome {
    /// True when Schemathesis exited 0: no check failed and no error happened.
    pub passed: bool,
    /// Everything it printed (stdout, then stderr).
    pub output: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Schemathesis {
    /// The installed Schemathesis (`$SCHEMATHESIS`, else `st` on the `PATH`); `None` after a
    /// loud notice when it is missing, outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when it is missing.
    pub async fn find_or_skip() -> Option<Schemathesis> {
        let program = std::env::var_os("SCHEMATHESIS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("st"));
        let version = tokio::process::Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await;
        match version {
            Ok(out) if out.status.success() => {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if !version.contains(VERSION) {
                    eprintln!(
                        "note: {} is {version}; the tests are written for schemathesis {VERSION} \
                         (pip install schemathesis=={VERSION})",
                        program.display()
                    );
                }
                Some(Schemathesis { program, version })
            }
            _ => {
                crate::skip_unless_ci(&format!(
                    "the OpenAPI fuzzer needs Schemathesis ({} not found; \
                     pip install schemathesis=={VERSION}, or set SCHEMATHESIS to its `st`)",
                    program.display()
                ));
                None
            }
        }
    }

    /// Runs Schemathesis once and waits for it.
    ///
    /// # Errors
    /// When the configuration cannot be written or the program cannot be started.
    pub async fn run(&self, run: &FuzzRun) -> anyhow::Result<FuzzOutcome> {
        let dir = tempfile::tempdir().context("a temporary folder")?;
        let config = dir.path().join("schemathesis.toml");
        let hooks = dir.path().join("fuzz_hooks.py");
        std::fs::write(&hooks, hooks_py(run)).context("writing the hooks")?;
        std::fs::write(&config, config_toml(run, &hooks)).context("writing schemathesis.toml")?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--config-file")
            .arg(&config)
            .arg("--no-color")
            .arg("run")
            .arg(&run.schema_url)
            .args(["--checks", CHECKS])
            .args(["--phases", &run.phases.join(",")])
            .args(["--max-examples", &run.max_examples.to_string()])
            .args(["--seed", &run.seed.to_string()])
            .args(["--workers", &run.workers.to_string()])
            .args(["--request-timeout", "30"])
            .args(["--generation-database", "none"])
            .args(["--warnings", "off"])
            .args(&run.extra_args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "160")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = command
            .output()
            .await
            .with_context(|| format!("starting {}", self.program.display()))?;
        Ok(FuzzOutcome {
            passed: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            elapsed: started.elapsed(),
        })
    }
}

/// The run's `schemathesis.toml`: the hooks, one credential per security scheme of the
/// document, the dictionaries and their bindings.
fn config_toml(run: &FuzzRun, hooks: &std::path::Path) -> String {
    let staff = match &run.staff {
        StaffLogin::Token(token) => {
            format!("[auth.openapi.staff]\nbearer = {}\n", toml_string(token))
        }
        StaffLogin::Login { username, password } => format!(
            "[auth.dynamic.openapi.staff]\npath = \"/api/v1/auth/login\"\nmethod = \"post\"\n\
             payload = {{ username = {}, password = {} }}\nextract_selector = \"/token\"\n\
             retry_on = [401]\n",
            toml_string(username),
            toml_string(password)
        ),
    };
    let mut toml = format!(
        "hooks = {}\n\n[auth]\nauto-signup = false\n\n{staff}\n[auth.openapi.device]\nbearer = {}\n",
        toml_string(&hooks.display().to_string()),
        toml_string(&run.device_token)
    );
    let dictionaries: Vec<&(String, Vec<String>)> = run
        .dictionaries
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .collect();
    for (name, values) in &dictionaries {
        let values: Vec<String> = values.iter().map(|v| toml_string(v)).collect();
        toml.push_str(&format!(
            "\n[dictionaries.{}]\nvalues = [{}]\n",
            toml_string(name),
            values.join(", ")
        ));
    }
    let bindings: Vec<&(String, String, f64)> = run
        .bindings
        .iter()
        .filter(|(_, dictionary, _)| dictionaries.iter().any(|(name, _)| name == dictionary))
        .collect();
    if !bindings.is_empty() {
        toml.push_str("\n[parameters]\n");
        for (key, dictionary, probability) in bindings {
            toml.push_str(&format!(
                "{} = {{ dictionary = {}, probability = {probability} }}\n",
                toml_string(key),
                toml_string(dictionary)
            ));
        }
    }
    toml
}

/// The `before_call` hook that keeps [`FuzzRun::protected`] values out of their operations
/// (Python; the JSON literals below are valid Python literals).
fn hooks_py(run: &FuzzRun) -> String {
    let guards: Vec<serde_json::Value> = run
        .protected
        .iter()
        .map(|p| {
            serde_json::json!([
                p.method.to_uppercase(),
                p.path,
                p.parameter,
                p.values,
                p.instead
            ])
        })
        .collect();
    format!(
        "import ast\n\
         import threading\n\
         import schemathesis\n\
         from hypothesis.internal import lambda_sources\n\n\
         # Hypothesis describes a filter's lambda by reading and parsing its source file\n\
         # (inspect, linecache, an LRU cache, ast.parse), which is not safe from two threads at\n\
         # once: with --workers 2 a race made the examples of one operation fail once and then\n\
         # pass (FlakyFailure, a tool error rather than a finding). CPython 3.11's ast.parse keeps\n\
         # its recursion depth in interpreter-wide state, so two threads parsing at once fail with\n\
         # 'AST constructor recursion depth mismatch' (CPython gh-106905). One description and one\n\
         # parse at a time.\n\
         _DESCRIBING = threading.RLock()\n\
         _describe = lambda_sources._lambda_description\n\
         _parse = ast.parse\n\n\
         def _describe_alone(*args, **kwargs):\n\
         \x20   with _DESCRIBING:\n\
         \x20       return _describe(*args, **kwargs)\n\n\
         def _parse_alone(*args, **kwargs):\n\
         \x20   with _DESCRIBING:\n\
         \x20       return _parse(*args, **kwargs)\n\n\
         lambda_sources._lambda_description = _describe_alone\n\
         ast.parse = _parse_alone\n\n\
         GUARDS = {}\n\n\
         @schemathesis.hook\n\
         def before_call(context, case, kwargs):\n\
         \x20   for method, path, parameter, values, instead in GUARDS:\n\
         \x20       if case.method.upper() == method and case.path == path and case.path_parameters:\n\
         \x20           if str(case.path_parameters.get(parameter)) in values:\n\
         \x20               case.path_parameters[parameter] = instead\n",
        serde_json::Value::Array(guards)
    )
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hooks file is Python that compiles (checked with the interpreter Schemathesis runs
    /// on, when there is one; under `CI=true` there must be).
    #[test]
    fn the_hooks_are_python() {
        let run = FuzzRun {
            schema_url: "http://127.0.0.1:1/api/v1/openapi.json".into(),
            staff: StaffLogin::Token("t".into()),
            device_token: "d".into(),
            max_examples: 1,
            seed: 1,
            phases: vec!["examples"],
            workers: 2,
            dictionaries: vec![],
            bindings: vec![],
            protected: vec![Protected {
                method: "post".into(),
                path: "/api/v1/staff/{id}".into(),
                parameter: "id".into(),
                values: vec!["admin".into(), "it's \"quoted\"".into()],
                instead: "nobody".into(),
            }],
            extra_args: vec![],
        };
        let dir = tempfile::tempdir().expect("a folder");
        let hooks = dir.path().join("fuzz_hooks.py");
        std::fs::write(&hooks, hooks_py(&run)).expect("written");
        let compiled = std::process::Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(&hooks)
            .output();
        match compiled {
            Ok(out) => assert!(
                out.status.success(),
                "{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                hooks_py(&run)
            ),
            Err(_) => crate::skip_unless_ci("python3 is not installed"),
        }
        // Loaded as Schemathesis loads it (where Schemathesis is installed, as under CI): the
        // lambda descriptions and every ast.parse go through the one lock, and parse the same,
        // from several threads at once.
        let has_schemathesis = std::process::Command::new("python3")
            .args(["-c", "import schemathesis"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_schemathesis {
            crate::skip_unless_ci("Schemathesis is not installed (.ci/run installs it)");
            return;
        }
        let check = "import ast, runpy, sys, threading\n\
                     runpy.run_path(sys.argv[1])\n\
                     from hypothesis.internal import lambda_sources\n\
                     assert ast.parse.__name__ == '_parse_alone', ast.parse\n\
                     assert lambda_sources._lambda_description.__name__ == '_describe_alone'\n\
                     src = 'f = lambda x: [x + i for i in range(3)]\\n' * 200\n\
                     def parse():\n\
                     \x20   for _ in range(20):\n\
                     \x20       ast.parse(src)\n\
                     ts = [threading.Thread(target=parse) for _ in range(4)]\n\
                     [t.start() for t in ts]\n\
                     [t.join() for t in ts]\n\
                     print('ok')\n";
        let out = std::process::Command::new("python3")
            .args(["-c", check])
            .arg(&hooks)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
