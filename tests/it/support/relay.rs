//! A TCP relay in front of a real server (the demo provider, an upstream) that a test switches
//! while traffic flows: passing bytes through, refusing connections (its port closed), hanging
//! (accepting and never answering) or resetting an answer after its first bytes. A dependency
//! that goes down and comes back on the same address, without restarting it or the gateway.
//!
//! Every switch closes the connections already relayed, so pooled connections see the new mode
//! too. Stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the relay does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Relays both ways.
    Pass,
    /// The port is closed: connecting fails with "connection refused".
    Refuse,
    /// Accepts and reads, but never sends a byte back.
    Hang,
    /// Relays the request, then the first `n` bytes of the answer, then resets the connection.
    ResetAfter(usize),
}

pub struct Relay {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    target: Mutex<Option<SocketAddr>>,
    mode: Mutex<Mode>,
    /// Bumped on every switch; relayed connections end when it changes.
    generation: watch::Sender<u64>,
}

impl Relay {
    /// Binds 127.0.0.1:0, passing to `target` (none yet: connections are closed at once).
    pub async fn bind(target: Option<SocketAddr>) -> Self {
        let listener = listen("127.0.0.1:0".parse().expect("address")).await;
        let addr = listener.local_addr().expect("relay address");
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            mode: Mutex::new(Mode::Pass),
            generation: watch::channel(0).0,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Self {
            addr,
            shared,
            accept: Mutex::new(Some(accept)),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_target(&self, target: SocketAddr) {
        *lock(&self.shared.target) = Some(target);
    }

    /// Switches the mode; connections relayed so far are closed.
    pub async fn set_mode(&self, mode: Mode) {
        let before = std::mem::replace(&mut *lock(&self.shared.mode), mode);
        self.shared.generation.send_modify(|g| *g += 1);
        match (before == Mode::Refuse, mode == Mode::Refuse) {
            (false, true) => {
                let accept = lock(&self.accept).take();
                if let Some(task) = accept {
                    task.abort();
                    // Aborting drops the listener at the task's next poll: wait for it.
                    let _ = task.await;
                }
            }
            (true, false) => {
                let listener = listen(self.addr).await;
                *lock(&self.accept) =
                    Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
            }
            _ => {}
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.accept).take() {
            task.abort();
        }
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A listener on `addr` that can be bound again right after it was closed.
async fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(addr)
        .unwrap_or_else(|e| panic!("bind the relay on {addr}: {e}"));
    socket.listen(128).expect("listen")
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let mode = *lock(&shared.mode);
        let target = *lock(&shared.target);
        let mut ended = shared.generation.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = ended.changed() => {}
                _ = serve(client, mode, target) => {}
            }
        });
    }
}

async fn serve(mut client: TcpStream, mode: Mode, target: Option<SocketAddr>) {
    let _ = client.set_nodelay(true);
    match mode {
        Mode::Refuse => {}
        Mode::Hang => {
            let mut sink = [0u8; 4096];
            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
            // The peer closed its side; keep ours open and silent until the switch.
            std::future::pending::<()>().await;
        }
        Mode::Pass => {
            let Some(mut server) = connect(target).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Mode::ResetAfter(limit) => {
            let Some(mut server) = connect(target).await else {
                return;
            };
            let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
            let mut sent = 0;
            while sent < limit {
                let want = down.len().min(limit - sent);
                let step = tokio::select! {
                    read = client.read(&mut up) => Step::Up(read),
                    read = server.read(&mut down[..want]) => Step::Down(read),
                };
                let relayed = match step {
                    Step::Up(Ok(n)) if n > 0 => server.write_all(&up[..n]).await.is_ok(),
                    Step::Down(Ok(n)) if n > 0 => {
                        sent += n;
                        client.write_all(&down[..n]).await.is_ok()
                    }
                    _ => false,
                };
                if !relayed {
                    break;
                }
            }
            // SO_LINGER 0: closing sends RST instead of FIN, a connection reset mid-answer.
            let _ = client.set_zero_linger();
        }
    }
}

enum Step {
    Up(std::io::Result<usize>),
    Down(std::io::Result<usize>),
}

async fn connect(target: Option<SocketAddr>) -> Option<TcpStream> {
    let stream = TcpStream::connect(target?).await.ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}
