//! Running commands with a visible header and a clear failure message, and building the
//! binaries the end-to-end steps run.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the workspace, as
/// cargo reads it from there), else `target/` in the workspace.
pub(crate) fn target_dir() -> PathBuf {
    let root = workspace_root();
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d))
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// Runs `cmd`, echoing it first; an error names the step that failed.
pub(crate) fn run_step(step: &str, cmd: &mut Command) -> Result<(), String> {
    println!("\n==> {step}\n    $ {}", render(cmd));
    let status =
        crate::services::status_of(cmd).map_err(|e| format!("{step}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// The command line, for the log.
pub(crate) fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether `program --version` (or `args`) runs successfully.
pub(crate) fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cargo selection every debug build of xtask uses: the one `cargo nextest run
/// --workspace --all-features` builds with. `--examples` selects no target (the workspace
/// has none) but makes cargo resolve features with dev-dependencies, exactly as a test
/// build does; so after the test build, building a binary with this selection compiles
/// only that binary instead of its whole dependency tree again under a second feature set.
const TEST_BUILD_SELECTION: [&str; 3] = ["--workspace", "--all-features", "--examples"];

/// How [`build_bins`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// Debug, with the test build's feature resolution (shared with `cargo xtask test`).
    Debug,
    /// `--release`, with only the packages that own the binaries selected.
    Release,
}

impl Profile {
    /// `debug` or `release`, for messages.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }
}

/// Builds the binaries `bins` (owned by `packages`) and returns each one's path, as cargo
/// reports it (so `CARGO_TARGET_DIR` and `--target-dir` are honoured).
pub(crate) fn build_bins(
    profile: Profile,
    packages: &[&str],
    bins: &[&str],
) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut c = cargo();
    c.arg("build");
    match profile {
        Profile::Debug => {
            c.args(TEST_BUILD_SELECTION);
        }
        Profile::Release => {
            c.arg("--release");
            for p in packages {
                c.args(["-p", p]);
            }
        }
    }
    for b in bins {
        c.args(["--bin", b]);
    }
    // Diagnostics still reach the terminal (stderr); stdout carries the artifacts.
    c.arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    let step = format!("build {} ({})", bins.join(", "), profile.name());
    println!("\n==> {step}\n    $ {}", render(&c));
    let mut child = c
        .spawn()
        .map_err(|e| format!("{step}: could not start: {e}"))?;
    let fg = crate::services::Foreground::new(&child);
    let mut found = BTreeMap::new();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("{step}: reading cargo's output: {e}"))?;
            if let Some((name, path)) = executable(&line) {
                found.insert(name, path);
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{step}: {e}"))?;
    drop(fg);
    if !status.success() {
        return Err(format!("{step} failed ({status})"));
    }
    for b in bins {
        if !found.contains_key(*b) {
            return Err(format!("{step}: cargo reported no executable `{b}`"));
        }
    }
    Ok(found)
}

/// The binary name and path of a `compiler-artifact` message that produced an executable.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    #[derive(serde::Deserialize)]
    struct Target {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Artifact {
        reason: String,
        target: Option<Target>,
        executable: Option<PathBuf>,
    }
    let a: Artifact = serde_json::from_str(line).ok()?;
    if a.reason != "compiler-artifact" {
        return None;
    }
    Some((a.target?.name, a.executable?))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::executable;

    #[test]
    fn executables_come_from_compiler_artifact_messages() {
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/benches#keel-benches@0.1.0","manifest_path":"/w/benches/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"bare-axum","src_path":"/w/benches/src/bin/bare_axum.rs","edition":"2024","doc":true,"doctest":false,"test":false},"profile":{"opt_level":"0","debuginfo":1,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/bare-axum"],"executable":"/t/debug/bare-axum","fresh":true}"#;
        assert_eq!(
            executable(bin),
            Some(("bare-axum".to_owned(), PathBuf::from("/t/debug/bare-axum")))
        );
        // A library has no executable; other messages and noise are skipped.
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"keel_errors"},"executable":null,"fresh":true}"#;
        assert_eq!(executable(lib), None);
        assert_eq!(
            executable(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(executable("not json"), None);
    }
}
