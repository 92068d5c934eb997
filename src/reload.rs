//! Live configuration reload for the binary: on SIGHUP, and when the config file changes.
//!
//! Kubernetes updates a mounted ConfigMap by swapping a symlink, so the file is polled (its
//! identity, size and modification time, following symlinks) rather than watched with inotify,
//! which would keep watching the old target. A reload re-reads everything the file names,
//! including `*_file` secrets and session keys, so SIGHUP after updating a Secret rotates keys
//! without logging anyone out (put the new key first, keep the old one after it).

use bff_gateway::Running;
use bff_gateway::config;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How often the config file is checked for a change.
const POLL: Duration = Duration::from_secs(2);

/// What identifies one version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

/// Reloads on SIGHUP or a file change, forever (the caller selects it against shutdown).
pub async fn watch(running: &Running, path: &Path) {
    let mut hangup = hangup_signal();
    let mut seen = fingerprint(path);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cause = tokio::select! {
            _ = tick.tick() => {
                let now = fingerprint(path);
                // A missing file (mid-swap) is not a change; wait for the new one.
                if now.is_none() || now == seen {
                    continue;
                }
                seen = now;
                "file changed"
            }
            () = next_hangup(&mut hangup) => {
                seen = fingerprint(path);
                "SIGHUP"
            }
        };
        reload(running, path, cause).await;
    }
}

async fn reload(running: &Running, path: &Path, cause: &'static str) {
    let env = |name: &str| std::env::var(name).ok();
    match config::load(path, &env) {
        Err(error) => {
            running.reload_refused();
            tracing::error!(cause, error = %error, "the new configuration is invalid; keeping the current one");
        }
        Ok(config) => {
            if let Err(error) = running.reload(config).await {
                tracing::error!(cause, error = %error, "the new configuration cannot be applied; keeping the current one");
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

async fn next_hangup(hangup: &mut Hangup) {
    #[cfg(unix)]
    {
        match hangup {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let () = hangup;
        std::future::pending().await
    }
}
