//! The binary's start: flags, usage errors, folder checks, `--version`, and its log lines.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::unwrap_used
)] // test IO edge

mod cli_support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use cli_support::{BIN, DIR, Demo};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(DIR)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_into_a_closed_pipe_exits_quietly() {
    let mut child = Command::new(BIN)
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1` that has already exited: the pipe is closed before the help is written.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}, stderr {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("microweb {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_usage_error_is_one_line_and_a_pointer_to_help() {
    for args in [
        &["--preset", "huge"][..],
        &["--nope"],
        &["--bind", "not an address"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("microweb: "), "{stderr}");
        assert_eq!(lines[1], "see microweb --help");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_missing_root_fails_at_start_naming_the_path() {
    let out = run(&["--bind", "127.0.0.1:0", "--root", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--root does/not/exist: does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("relative paths are from the current directory"),
        "{stderr}"
    );
    assert!(stderr.contains(DIR), "{stderr}");
    assert!(out.stdout.is_empty(), "it must not start listening");
}

#[test]
fn a_root_that_is_a_file_fails_at_start() {
    let file = format!("{DIR}/Cargo.toml");
    let out = run(&["--bind", "127.0.0.1:0", "--root", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!("microweb: --root {file}: is not a folder")
    );
}

#[test]
fn a_missing_templates_folder_given_on_the_command_line_fails_at_start() {
    let out = run(&["--bind", "127.0.0.1:0", "--templates", "/does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "microweb: --templates /does/not/exist: does not exist"
    );
}

#[test]
fn bind_accepts_a_host_name() {
    let mut demo = Command::new(BIN)
        .current_dir(DIR)
        .args(["--bind", "localhost:0", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let _ = demo.kill();
    let _ = demo.wait();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
}

#[test]
fn https_start_logs_each_line_once_with_a_timestamp() {
    let certs = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["cert", "--out"])
        .arg(certs.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let demo = Demo::start(&[
        "--https-bind",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let listening = demo.listening(2);
    assert_eq!(listening[0].0, "http");
    assert_eq!(listening[1].0, "https");
    // One request, so there is something logged after the start too.
    let _ = std::net::TcpStream::connect(listening[0].1).unwrap();
    let stderr = demo.stderr_lines(Duration::from_millis(700));
    let compiled = stderr.iter().filter(|l| l.contains("compiled")).count();
    assert_eq!(compiled, 1, "{stderr:#?}");
    assert!(
        !stderr.iter().any(|l| l.contains("listening on")),
        "stdout has the listening lines: {stderr:#?}"
    );
    for line in &stderr {
        let stamp = line.split(' ').next().unwrap();
        assert!(
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "no RFC 3339 timestamp: {line}"
        );
        assert!(stamp.ends_with('Z'), "not UTC: {line}");
    }
    assert!(!stderr.is_empty());
}
