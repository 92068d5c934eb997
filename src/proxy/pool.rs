//! One worker's idle upstream connections, one slot per distinct upstream (`scheme://authority`).
//!
//! The router numbers the upstreams once per configuration, so a request finds its slot by index:
//! no key is built or hashed per request. A slot holds HTTP/1.1 connections that wait for their
//! next request (most recently used last, so the ones that have idled longest are the first to
//! expire) and at most one shared HTTP/2 connection.
//!
//! An HTTP/1.1 connection goes back to its slot when its response body has been read to the end
//! ([`PooledBody`]); a response dropped before its end takes the connection with it (hyper closes
//! it). A slot keeps at most `max_idle` connections; a sweeper task on the worker closes the ones
//! idle for longer than `idle_timeout`, and ends once every slot is empty.
//!
//! Each pool belongs to one worker thread, so its locks are never contended; they exist because
//! the configuration generation that owns the pools is shared between workers.

use crate::body::LimitedBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Instant;

pub type Http1Sender = http1::SendRequest<LimitedBody>;
pub type Http2Sender = http2::SendRequest<LimitedBody>;

/// A connection taken from the pool (or just made), ready for one request.
pub enum Pooled {
    Http1(Http1Sender),
    Http2(Http2Sender),
}

pub struct Pool {
    slots: Box<[Mutex<Slot>]>,
    idle_timeout: Duration,
    max_idle: usize,
    /// Whether a sweeper task is running for this pool.
    sweeping: AtomicBool,
}

#[derive(Default)]
struct Slot {
    http1: VecDeque<Idle>,
    http2: Option<Shared>,
}

struct Idle {
    sender: Http1Sender,
    since: Instant,
}

struct Shared {
    sender: Http2Sender,
    last_used: Instant,
}

impl Pool {
    /// A pool with `slots` upstreams; `max_idle == 0` or a zero `idle_timeout` keeps nothing.
    pub fn new(slots: usize, idle_timeout: Duration, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: (0..slots).map(|_| Mutex::new(Slot::default())).collect(),
            idle_timeout,
            max_idle,
            sweeping: AtomicBool::new(false),
        })
    }

    fn enabled(&self) -> bool {
        self.max_idle > 0 && !self.idle_timeout.is_zero()
    }

    fn slot(&self, slot: usize) -> Option<MutexGuard<'_, Slot>> {
        // A poisoned slot only ever holds connections; they are still fine to use.
        let slot = self.slots.get(slot)?;
        Some(slot.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A live connection for `slot`: the shared HTTP/2 one, else the most recently used HTTP/1.1
    /// one that is ready for a request. Closed and expired connections met on the way are dropped.
    pub fn take(&self, slot: usize) -> Option<Pooled> {
        let mut slot = self.slot(slot)?;
        let now = Instant::now();
        if let Some(shared) = slot.http2.as_mut() {
            if !shared.sender.is_closed() && now - shared.last_used < self.idle_timeout {
                shared.last_used = now;
                return Some(Pooled::Http2(shared.sender.clone()));
            }
            slot.http2 = None;
        }
        while let Some(idle) = slot.http1.pop_back() {
            if now - idle.since >= self.idle_timeout {
                // The most recent one is too old: so are all the others.
                slot.http1.clear();
                return None;
            }
            if idle.sender.is_ready() {
                return Some(Pooled::Http1(idle.sender));
            }
        }
        None
    }

    /// Shares a new HTTP/2 connection with the requests that come after this one, unless another
    /// request's new connection is shared already (then this one ends with its request).
    pub fn share(self: &Arc<Self>, slot: usize, sender: &Http2Sender) {
        if !self.enabled() {
            return;
        }
        if let Some(mut guard) = self.slot(slot) {
            if guard
                .http2
                .as_ref()
                .is_some_and(|shared| !shared.sender.is_closed())
            {
                return;
            }
            guard.http2 = Some(Shared {
                sender: sender.clone(),
                last_used: Instant::now(),
            });
            drop(guard);
            self.sweep_later();
        }
    }

    /// Keeps an HTTP/1.1 connection whose exchange is complete for the next request, once it is
    /// ready for one (hyper may still be finishing the previous exchange in the connection's task).
    fn give_back(self: &Arc<Self>, slot: usize, sender: Http1Sender) {
        if !self.enabled() || sender.is_closed() {
            return;
        }
        if sender.is_ready() {
            self.keep(slot, sender);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut sender = sender;
            if sender.ready().await.is_ok()
                && let Some(pool) = pool.upgrade()
            {
                pool.keep(slot, sender);
            }
        });
    }

    fn keep(self: &Arc<Self>, slot: usize, sender: Http1Sender) {
        let Some(mut guard) = self.slot(slot) else {
            return;
        };
        if guard.http1.len() >= self.max_idle {
            // Full: the new one stays (it is the warmest); the one idle longest goes.
            guard.http1.pop_front();
        }
        guard.http1.push_back(Idle {
            sender,
            since: Instant::now(),
        });
        drop(guard);
        self.sweep_later();
    }

    /// Starts the sweeper unless it is running (or there is no runtime to run it on).
    fn sweep_later(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(sweep(Arc::downgrade(self)));
            }
            Err(_) => self.sweeping.store(false, Ordering::Release),
        }
    }

    /// Drops what has idled too long; returns whether anything is left.
    fn expire(&self, now: Instant) -> bool {
        let mut left = false;
        for slot in self.slots.iter() {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            while slot.http1.front().is_some_and(|idle| {
                now - idle.since >= self.idle_timeout || idle.sender.is_closed()
            }) {
                slot.http1.pop_front();
            }
            if slot.http2.as_ref().is_some_and(|shared| {
                now - shared.last_used >= self.idle_timeout || shared.sender.is_closed()
            }) {
                slot.http2 = None;
            }
            left |= !slot.http1.is_empty() || slot.http2.is_some();
        }
        left
    }

    #[cfg(test)]
    fn idle(&self, slot: usize) -> usize {
        self.slot(slot).map_or(0, |s| s.http1.len())
    }
}

/// Runs while the pool has idle connections, closing those idle for longer than the timeout.
async fn sweep(pool: Weak<Pool>) {
    /// A sweeper dropped unfinished (its runtime shut down) lets the next one start.
    struct Unfinished<'a>(&'a Weak<Pool>, bool);
    impl Drop for Unfinished<'_> {
        fn drop(&mut self) {
            if self.1
                && let Some(pool) = self.0.upgrade()
            {
                pool.sweeping.store(false, Ordering::Release);
            }
        }
    }
    let mut guard = Unfinished(&pool, true);
    sweep_until_empty(&pool).await;
    guard.1 = false;
}

async fn sweep_until_empty(pool: &Weak<Pool>) {
    loop {
        let Some(every) = pool
            .upgrade()
            .map(|p| p.idle_timeout.max(Duration::from_millis(100)))
        else {
            return;
        };
        tokio::time::sleep(every / 2).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        if pool.expire(Instant::now()) {
            continue;
        }
        pool.sweeping.store(false, Ordering::Release);
        // A connection kept between the check and the store found the flag still set and left the
        // sweeping to this task: look once more.
        if !pool.expire(Instant::now()) || pool.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

/// The ticket that brings an HTTP/1.1 connection back to its slot.
struct Ticket {
    pool: Arc<Pool>,
    slot: usize,
    sender: Http1Sender,
}

impl Ticket {
    fn give_back(self) {
        self.pool.give_back(self.slot, self.sender);
    }
}

/// An upstream response body; when it was read to its end on an HTTP/1.1 connection, the
/// connection goes back to the pool.
pub struct PooledBody {
    inner: Incoming,
    ticket: Option<Ticket>,
}

impl PooledBody {
    /// A body whose connection is not pooled (HTTP/2, or upgraded).
    pub fn unpooled(inner: Incoming) -> Self {
        Self {
            inner,
            ticket: None,
        }
    }

    /// A body on an HTTP/1.1 connection of `slot`; a body that is already complete (`HEAD`,
    /// `204`, `Content-Length: 0`) gives the connection back at once.
    pub fn pooled(inner: Incoming, pool: &Arc<Pool>, slot: usize, sender: Http1Sender) -> Self {
        if inner.is_end_stream() {
            pool.give_back(slot, sender);
            return Self::unpooled(inner);
        }
        Self {
            inner,
            ticket: Some(Ticket {
                pool: Arc::clone(pool),
                slot,
                sender,
            }),
        }
    }
}

impl Drop for PooledBody {
    /// A body dropped before its end (the client went away, or the P7 retry dropped a `401`):
    /// hyper finishes reading the rest when it is already buffered, and the connection is kept
    /// once ready; otherwise hyper closes it and it is not.
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.give_back();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let complete = match &frame {
            None => true,
            // Trailers come last; hyper's server stops polling after them.
            Some(Ok(frame)) => frame.is_trailers() || this.inner.is_end_stream(),
            Some(Err(_)) => {
                // A broken exchange: the connection is not reused (hyper closes it).
                drop(this.ticket.take());
                false
            }
        };
        if complete && let Some(ticket) = this.ticket.take() {
            ticket.give_back();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// An upstream that answers every request on a connection with `body`, keep-alive.
    async fn upstream(body: &'static str) -> std::net::SocketAddr {
        upstream_with(body, body.len()).await
    }

    /// An upstream that announces `length` bytes and sends `body`: with a shorter body, the rest
    /// never comes (the connection stays open).
    async fn upstream_with(body: &'static str, length: usize) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        for _ in text.matches("\r\n\r\n") {
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n{body}"
                            );
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    async fn connect(addr: std::net::SocketAddr) -> Http1Sender {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        sender
    }

    async fn exchange(pool: &Arc<Pool>, mut sender: Http1Sender) -> PooledBody {
        let request = Request::get("/")
            .header("host", "upstream")
            .body(LimitedBody::empty())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        PooledBody::pooled(response.into_body(), pool, 0, sender)
    }

    #[tokio::test]
    async fn a_connection_comes_back_when_its_body_was_read_to_the_end() {
        let addr = upstream("hello").await;
        let pool = Pool::new(1, Duration::from_secs(30), 8);
        let body = exchange(&pool, connect(addr).await).await;
        assert_eq!(pool.idle(0), 0, "not before the body is read");
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello");
        // hyper may still be finishing the exchange in the connection's task.
        for _ in 0..100 {
            if pool.idle(0) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.idle(0), 1);
        let Some(Pooled::Http1(sender)) = pool.take(0) else {
            panic!("the kept connection is handed out again");
        };
        let body = exchange(&pool, sender).await;
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }

    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_takes_the_connection_with_it() {
        // 100,000 bytes announced, 7 sent: hyper cannot finish the body and closes.
        let addr = upstream_with("partial", 100_000).await;
        let pool = Pool::new(1, Duration::from_secs(30), 8);
        drop(exchange(&pool, connect(addr).await).await);
        settle().await;
        assert_eq!(pool.idle(0), 0);
        assert!(pool.take(0).is_none());
    }

    #[tokio::test]
    async fn a_body_dropped_unread_but_already_received_keeps_the_connection() {
        // The whole body arrived with the head: hyper finishes it, the connection is kept.
        let addr = upstream("hello").await;
        let pool = Pool::new(1, Duration::from_secs(30), 8);
        let body = exchange(&pool, connect(addr).await).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(body);
        settle().await;
        assert_eq!(pool.idle(0), 1);
    }

    #[tokio::test]
    async fn the_pool_keeps_at_most_max_idle_and_drops_the_oldest() {
        let addr = upstream("").await;
        let pool = Pool::new(1, Duration::from_secs(30), 2);
        for _ in 0..3 {
            // An empty body is complete at once: the connection comes straight back.
            drop(exchange(&pool, connect(addr).await).await);
        }
        settle().await;
        assert_eq!(pool.idle(0), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_expire_and_the_sweeper_stops() {
        let addr = upstream("").await;
        let pool = Pool::new(1, Duration::from_secs(2), 8);
        drop(exchange(&pool, connect(addr).await).await);
        settle().await;
        assert_eq!(pool.idle(0), 1);
        assert!(pool.sweeping.load(Ordering::Acquire));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(pool.idle(0), 0, "swept after the idle timeout");
        assert!(!pool.sweeping.load(Ordering::Acquire), "the sweeper ended");
        assert!(pool.take(0).is_none());
    }

    #[tokio::test]
    async fn a_disabled_pool_keeps_nothing_and_an_unknown_slot_is_empty() {
        let addr = upstream("").await;
        let pool = Pool::new(1, Duration::from_secs(30), 0);
        drop(exchange(&pool, connect(addr).await).await);
        // Long enough for a connection parked until ready to have come back, were it kept.
        settle().await;
        assert_eq!(pool.idle(0), 0);
        assert!(pool.take(7).is_none());
    }
}
