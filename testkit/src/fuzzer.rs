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

impl FuzzOutcome {
    /// The failures and errors Schemathesis reported, one short line each (the operation, then
    /// its failed checks, received statuses and error messages), at most [`DIGEST_LINES`]
    /// lines: what a test prints last, so that the tail of a long CI log still says what failed
    /// when the full report above it is cut.
    pub fn digest(&self) -> String {
        digest(&self.output)
    }
}

/// Lines kept by [`FuzzOutcome::digest`].
pub const DIGEST_LINES: usize = 24;

/// See [`FuzzOutcome::digest`].
fn digest(output: &str) -> String {
    let mut kept = Vec::new();
    let mut in_report = false;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("====") {
            in_report = trimmed.contains("FAILURES") || trimmed.contains("ERRORS");
            continue;
        }
        if !in_report || trimmed.is_empty() || line.starts_with("    ") {
            continue;
        }
        if trimmed.starts_with('_') {
            kept.push(trimmed.trim_matches('_').trim().to_owned());
        } else if !trimmed.starts_with("Reproduce with")
            && !trimmed.contains("Test Case ID")
            && !trimmed.starts_with("Tip:")
        {
            // A failed check (`- Server error`), a received status (`[500] …`) or an error's
            // message.
            kept.push(format!("    {trimmed}"));
        }
    }
    let more = kept.len().saturating_sub(DIGEST_LINES);
    kept.truncate(DIGEST_LINES);
    if more > 0 {
        kept.push(format!(
            "… and {more} more lines (the full report is above)"
        ));
    }
    if kept.is_empty() {
        // Not a report Schemathesis printed (it did not start, or crashed): its last lines.
        let lines: Vec<&str> = output.lines().collect();
        let from = lines.len().saturating_sub(DIGEST_LINES);
        return lines[from..].join("\n");
    }
    kept.join("\n")
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
         import inspect\n\
         import threading\n\
         import schemathesis\n\
         from hypothesis.internal import lambda_sources\n\n\
         # CPython 3.11's ast.parse keeps its recursion depth in interpreter-wide state, so two\n\
         # threads building syntax trees at once (--workers 2) fail with 'AST constructor\n\
         # recursion depth mismatch' (CPython gh-106905, fixed in 3.12): a tool error, not a\n\
         # finding, that made the examples of one operation fail once and then pass. Hypothesis\n\
         # parsed source files mostly to describe lambdas in the reprs of strategies; those\n\
         # descriptions are now the lambda's signature alone, without parsing. Every parse left\n\
         # runs one at a time, and a parse the bug spoiled (the tree is built, then the check\n\
         # fails) is parsed again.\n\
         _PARSING = threading.RLock()\n\
         _parse = ast.parse\n\n\
         def _describe_briefly(f, *args, **kwargs):\n\
         \x20   try:\n\
         \x20       return 'lambda ' + str(inspect.signature(f))[1:-1] + ': ...'\n\
         \x20   except (TypeError, ValueError):\n\
         \x20       return 'lambda: ...'\n\n\
         def _parse_alone(*args, **kwargs):\n\
         \x20   with _PARSING:\n\
         \x20       for attempt in range(3):\n\
         \x20           try:\n\
         \x20               return _parse(*args, **kwargs)\n\
         \x20           except SystemError as error:\n\
         \x20               if 'recursion depth mismatch' not in str(error) or attempt == 2:\n\
         \x20                   raise\n\n\
         lambda_sources.lambda_description = _describe_briefly\n\
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

    #[test]
    fn the_digest_names_each_failure_in_a_line() {
        let output = "Schemathesis v4.32.5\n\
             ===== FAILURES =====\n\
             ______ POST /api/v1/locations ______\n\
             1. Test Case ID: abc123\n\
             \n\
             - Server error\n\
             \n\
             - Undocumented HTTP status code\n\
             \n\
             \x20   Received: 500\n\
             \n\
             [500] Internal Server Error:\n\
             \n\
             \x20   `{\"error\":{}}`\n\
             \n\
             Reproduce with:\n\
             \n\
             \x20   curl -X POST http://127.0.0.1/api/v1/locations\n\
             ===== ERRORS =====\n\
             ______ GET /api/v1/orders ______\n\
             Read timed out after 30.00 seconds\n\
             ===== SUMMARY =====\n\
             Failures:\n\
             \x20 Server error: 1\n";
        let outcome = FuzzOutcome {
            passed: false,
            output: output.into(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(
            outcome.digest(),
            "POST /api/v1/locations\n    - Server error\n    - Undocumented HTTP status code\n    \
             [500] Internal Server Error:\nGET /api/v1/orders\n    Read timed out after 30.00 seconds"
        );
    }

    #[test]
    fn without_a_report_the_digest_is_the_last_lines() {
        let output: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let outcome = FuzzOutcome {
            passed: false,
            output,
            elapsed: Duration::ZERO,
        };
        let digest = outcome.digest();
        assert!(digest.starts_with("line 7\n"), "{digest}");
        assert!(digest.ends_with("line 30"), "{digest}");
    }

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
        // Loaded as Schemathesis loads it (where Schemathesis is installed, as under CI): lambdas
        // are described without parsing; every ast.parse goes through the one lock and parses
        // the same from several threads at once; a parse the CPython bug spoiled is parsed
        // again, and any other error is raised.
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
                     from hypothesis.internal import reflection\n\
                     assert ast.parse.__name__ == '_parse_alone', ast.parse\n\
                     described = reflection.get_pretty_function_description(lambda x, y=1: x)\n\
                     assert described == 'lambda x, y=1: ...', described\n\
                     src = 'f = lambda x: [x + i for i in range(3)]\\n' * 200\n\
                     want = ast.dump(ast.parse(src))\n\
                     def parse():\n\
                     \x20   for _ in range(20):\n\
                     \x20       assert ast.dump(ast.parse(src)) == want\n\
                     ts = [threading.Thread(target=parse) for _ in range(4)]\n\
                     [t.start() for t in ts]\n\
                     [t.join() for t in ts]\n\
                     real = ast.parse.__globals__['_parse']\n\
                     spoiled = []\n\
                     def once(*args, **kwargs):\n\
                     \x20   if not spoiled:\n\
                     \x20       spoiled.append(1)\n\
                     \x20       raise SystemError('AST constructor recursion depth mismatch')\n\
                     \x20   return real(*args, **kwargs)\n\
                     ast.parse.__globals__['_parse'] = once\n\
                     assert ast.dump(ast.parse('x = 1')) == ast.dump(real('x = 1'))\n\
                     try:\n\
                     \x20   ast.parse('x = (')\n\
                     \x20   raise AssertionError('a syntax error is raised')\n\
                     except SyntaxError:\n\
                     \x20   pass\n\
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
