//! What a user sees of the configuration: every refused value exits 64 with
//! one line on stderr (nothing on stdout), a subcommand reads only its own
//! variables, a flag wins over its variable and a variable over the
//! `--config` file.

use std::process::{Command, Output};

fn engram(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn refused(args: &[&str], env: &[(&str, &str)], names: &str) {
    let out = engram(args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{args:?} {env:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    assert!(
        stderr.contains(names),
        "{args:?}: {stderr:?} should name {names:?}"
    );
    // clap's own refusals add a hint line; ours are one line.
    let lines: Vec<_> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines.len() == 1 || lines[1].starts_with("For more information"),
        "{stderr}"
    );
}

#[test]
fn every_bad_value_exits_64_with_one_line() {
    refused(&["--anonymization", "hash"], &[], "--anonymization-key");
    refused(&["--postgres-url", "notaurl"], &[], "--postgres-url");
    refused(
        &["--redis-url", "http://localhost:6379"],
        &[],
        "--redis-url",
    );
    refused(&["--qdrant-url", "notaurl"], &[], "--qdrant-url");
    refused(&["--embedder-url", "localhost:8080"], &[], "--embedder-url");
    refused(
        &["--shutdown-grace-secs", "-1"],
        &[],
        "--shutdown-grace-secs",
    );
    refused(&["--listen", "0.0.0.0:0"], &[], "plaintext");
    refused(&["serve", "--recent-window", "0"], &[], "--recent-window");
    refused(
        &[],
        &[("ENGRAM_REDIS_URL", "redis://h:notaport")],
        "--redis-url",
    );
    refused(&["health", "--addr", "a b"], &[], "--addr");
}

#[test]
fn a_subcommand_reads_only_its_own_variables() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_engram"))
        .arg("hash-token")
        .env("ENGRAM_RECENT_WINDOW", "0")
        .env("ENGRAM_LISTEN", "nonsense")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64);

    let out = engram(
        &["new-encryption-key"],
        &[("ENGRAM_POSTGRES_URL", "notaurl")],
    );
    assert!(out.status.success(), "{out:?}");
}

/// Starts `engram` with `args`, and reads the address it listens on from
/// its first log lines; then stops it.
fn listens(args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .env_clear()
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut found = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.contains("\"listening\"") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            found = v["addr"].as_str().map(str::to_owned);
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    found.ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_flag_wins_over_its_variable_and_a_variable_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("engram.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlog-format = \"json\"\n").unwrap();
    let file = file.to_str().unwrap();

    // A flag over a bad variable.
    let addr = listens(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("ENGRAM_LISTEN", "nonsense")],
    );
    assert!(addr.is_ok_and(|a| a.starts_with("127.0.0.1:")));
    // The file alone.
    let addr = listens(&["--config", file], &[]);
    assert!(addr.is_ok_and(|a| a.starts_with("127.0.0.1:")));
    // A variable over the file: the variable is the one refused.
    let out = engram(&["--config", file], &[("ENGRAM_LISTEN", "nonsense")]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
    // The file through its variable.
    let addr = listens(&[], &[("ENGRAM_CONFIG", file)]);
    assert!(addr.is_ok_and(|a| a.starts_with("127.0.0.1:")));
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("engram.toml");
    std::fs::write(&file, "recent_window = 20\n").unwrap();
    refused(
        &["--config", file.to_str().unwrap()],
        &[],
        "unknown key \"recent_window\"",
    );
    refused(
        &["--config", "/nonexistent/engram.toml"],
        &[],
        "engram.toml",
    );
}
