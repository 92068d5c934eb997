//! The real `bff-gateway` binary as a child process; killed by PID when dropped.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bff-gateway");

/// A `.yaml` config file holding `text`, deleted when dropped (keep it while the gateway runs).
pub fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub lines: mpsc::Receiver<String>,
    /// Everything the binary wrote to stderr, when started with
    /// [`start_capturing_stderr`](Self::start_capturing_stderr) (else stderr is inherited).
    stderr: Option<Arc<Mutex<Vec<u8>>>>,
}

impl GatewayProcess {
    /// Runs `bff-gateway run --config <file>` with JSON logs and waits for the ready line.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(&run_args(config), env)
    }

    /// [`start`](Self::start) with no extra environment, from an async test: the wait for the
    /// ready line runs on a blocking thread, so the test's runtime keeps serving its upstreams.
    pub async fn start_async(config: &Path) -> Self {
        let path = config.to_owned();
        tokio::task::spawn_blocking(move || Self::start(&path, &[]))
            .await
            .unwrap()
    }

    /// [`start_async`](Self::start_async), with the binary's stderr (where a panic's message
    /// goes) collected into a buffer that [`stderr_text`](Self::stderr_text) reads.
    pub async fn start_capturing_stderr(config: &Path) -> Self {
        let args = run_args(config);
        tokio::task::spawn_blocking(move || Self::spawn_with(&args, &[], true))
            .await
            .unwrap()
    }

    /// Runs the binary with exactly `args` (logs as JSON or text) and waits for the ready line.
    pub fn spawn(args: &[OsString], env: &[(&str, &str)]) -> Self {
        Self::spawn_with(args, env, false)
    }

    fn spawn_with(args: &[OsString], env: &[(&str, &str)], capture_stderr: bool) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start the gateway binary");
        let stderr = child.stderr.take().map(|mut pipe| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = buffer.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match std::io::Read::read(&mut pipe, &mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                    }
                }
            });
            buffer
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(remaining) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the gateway did not log its ready line");
                }
            };
            if !line.contains("bff-gateway ready") {
                continue;
            }
            let (addr, admin) = match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(event) => (
                    event["listen"].as_str().and_then(|s| s.parse().ok()),
                    event["admin"].as_str().and_then(|s| s.parse().ok()),
                ),
                Err(_) => (text_field(&line, "listen"), text_field(&line, "admin")),
            };
            return Self {
                child,
                addr: addr.expect("listen address in the ready line"),
                admin,
                lines,
                stderr,
            };
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// What the binary wrote to stderr so far; panics when stderr is not being captured.
    pub fn stderr_text(&self) -> String {
        let buffer = self
            .stderr
            .as_ref()
            .expect("started with start_capturing_stderr");
        String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
    }

    /// Every log line printed so far.
    pub fn drain_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary to completion with arguments; returns (status, stdout, stderr).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run the gateway binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `key=value` from a text-format log line (without colour codes).
fn text_field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    let plain = strip_ansi(line);
    let prefix = format!("{key}=");
    plain
        .split_whitespace()
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim_matches('"').parse().ok())
}

/// Removes ANSI colour sequences (`ESC [ ... m`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The peak resident set size (`VmHWM`) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// `--log-format json run --config <config>`.
fn run_args(config: &Path) -> Vec<OsString> {
    vec![
        OsString::from("--log-format"),
        "json".into(),
        "run".into(),
        "--config".into(),
        config.into(),
    ]
}
