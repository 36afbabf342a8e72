//! A connection's two waits for a request (docs/DECISIONS.md,
//! "Connections"): once a client has started a request's head it has
//! `--header-read-timeout` to finish it (slow clients), and a keep-alive
//! connection with no request under way is closed after `--idle-timeout`.
//!
//! hyper has one timer for both, its header-read timeout, which (in 1.12)
//! also runs while a kept-alive connection waits for its next request. At
//! 10 s that closed pooled connections under every client and load
//! balancer that keeps them longer (60 s for an AWS load balancer or
//! nginx): their next request on it met a closed socket, which a load
//! balancer answers 502. So hyper's timer is off and [`Timed`], around the
//! socket, keeps both. It learns where a request stands from [`Requests`],
//! which the connection's service counts.
//!
//! A fresh connection gets `--header-read-timeout` for its first byte, not
//! the idle wait: a connection that has never sent anything is no pooled
//! connection worth keeping. And when every connection slot is taken, the
//! server asks the idle ones to close ([`Shedding`]), so that sockets held
//! open without a request (4,096 of them from one source used to block
//! `/healthz` for the whole idle timeout) cannot keep a new client out.
//!
//! The timer is moved only to an earlier deadline, and a later one is
//! taken up when it fires: a request answered and the next one started
//! cost two reads of the clock and no timer, where hyper set one up for
//! every request's head.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio::time::{Instant, Sleep};

/// How long a connection may wait, in each of its two states.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// From a request head's first byte to its last.
    pub header_read: Duration,
    /// With no request under way and none started.
    pub idle: Duration,
}

/// The server's call to its idle connections, made when every connection
/// slot is taken: each one that is neither in a request nor part-way
/// through a head closes, and its slot goes to a waiting client.
#[derive(Debug, Default)]
pub struct Shedding(Arc<Notify>);

impl Shedding {
    /// Closes every connection idle at this moment.
    pub fn shed_idle(&self) {
        self.0.notify_waiters();
    }

    fn call(&self) -> Pin<Box<OwnedNotified>> {
        Box::pin(self.0.clone().notified_owned())
    }
}

/// The requests of one connection that its service has started and
/// finished (a request is under way while the two differ), and when the
/// last one finished.
#[derive(Debug)]
pub struct Requests {
    started: AtomicU32,
    finished: AtomicU32,
    opened: Instant,
    /// Nanoseconds from `opened` to the last request's end.
    finished_at: AtomicU64,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            started: AtomicU32::new(0),
            finished: AtomicU32::new(0),
            opened: Instant::now(),
            finished_at: AtomicU64::new(0),
        }
    }
}

impl Requests {
    /// Counts a request whose head has been read as started; it is
    /// finished when the returned guard is dropped (answered, failed or
    /// cancelled alike).
    pub fn begin(self: &Arc<Self>) -> Underway {
        self.started.fetch_add(1, Ordering::Release);
        Underway(self.clone())
    }

    /// When the connection last had nothing to do: its last request's end,
    /// or its opening.
    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_nanos(self.finished_at.load(Ordering::Acquire))
    }
}

/// A request under way on its connection; see [`Requests::begin`].
#[derive(Debug)]
pub struct Underway(Arc<Requests>);

impl Drop for Underway {
    fn drop(&mut self) {
        let requests = &self.0;
        let at = u64::try_from(requests.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        requests.finished_at.store(at, Ordering::Release);
        requests.finished.fetch_add(1, Ordering::Release);
    }
}

/// A connection's socket that ends reads with `TimedOut` when a wait runs
/// out, which makes hyper close the connection.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    requests: Arc<Requests>,
    /// `requests.started` when this last looked.
    seen: u32,
    /// When the first bytes of a request head not yet complete came.
    head_since: Option<Instant>,
    waits: Waits,
    timer: Pin<Box<Sleep>>,
    /// The timer's deadline.
    armed: Instant,
    shedding: Arc<Shedding>,
    /// The next call of `shedding`.
    called: Pin<Box<OwnedNotified>>,
}

impl<S> Timed<S> {
    /// Must be called within the tokio runtime (it makes a timer).
    pub fn new(inner: S, requests: Arc<Requests>, waits: Waits, shedding: Arc<Shedding>) -> Self {
        let armed = requests.opened + waits.header_read;
        Timed {
            inner,
            requests,
            seen: 0,
            head_since: None,
            waits,
            timer: Box::pin(tokio::time::sleep_until(armed)),
            armed,
            called: shedding.call(),
            shedding,
        }
    }

    /// Whether a request is under way, having noted one that started since
    /// the last look (its head was complete).
    fn underway(&mut self) -> bool {
        let started = self.requests.started.load(Ordering::Acquire);
        if started != self.seen {
            self.seen = started;
            self.head_since = None;
        }
        started != self.requests.finished.load(Ordering::Acquire)
    }

    /// When the current wait runs out: none while a request is under way
    /// (its own timeout governs, and the body's reads are its).
    fn deadline(&self, underway: bool) -> Option<Instant> {
        match (underway, self.head_since) {
            (true, _) => None,
            (false, Some(since)) => Some(since + self.waits.header_read),
            // Not a byte yet: no pooled connection, a client still to speak.
            (false, None) if self.seen == 0 => Some(self.requests.opened + self.waits.header_read),
            (false, None) => Some(self.requests.idle_since() + self.waits.idle),
        }
    }

    /// Whether the server has asked idle connections to close since the
    /// last look; a busy connection takes up the next call instead.
    fn shed(&mut self, idle: bool, cx: &mut Context<'_>) -> bool {
        while self.called.as_mut().poll(cx).is_ready() {
            self.called = self.shedding.call();
            if idle {
                return true;
            }
        }
        false
    }

    /// Pending until `deadline`, then `TimedOut`. The timer stays armed
    /// while a request is under way too, so that a read hyper left pending
    /// then is looked at again once the connection is idle: hyper need not
    /// read again after answering.
    fn until(&mut self, deadline: Option<Instant>, underway: bool, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shed(!underway && self.head_since.is_none(), cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "idle connection closed: every connection slot is taken",
            )));
        }
        loop {
            if let Some(deadline) = deadline
                && self.armed > deadline
            {
                self.timer.as_mut().reset(deadline);
                self.armed = deadline;
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    let now = Instant::now();
                    if let Some(deadline) = deadline
                        && now >= deadline
                    {
                        return Poll::Ready(Err(self.timed_out()));
                    }
                    // An earlier wait's deadline, since moved on.
                    let next = deadline.unwrap_or(now + self.waits.idle);
                    self.timer.as_mut().reset(next);
                    self.armed = next;
                }
            }
        }
    }

    fn timed_out(&self) -> io::Error {
        let what = match self.head_since {
            Some(_) => "request head not received in time",
            None if self.seen == 0 => "no request sent in time",
            None => "idle keep-alive connection closed",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let underway = this.underway();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before && !underway => match this.head_since {
                None => {
                    this.head_since = Some(Instant::now());
                    Poll::Ready(Ok(()))
                }
                Some(since) if since.elapsed() >= this.waits.header_read => Poll::Ready(Err(this.timed_out())),
                Some(_) => Poll::Ready(Ok(())),
            },
            Poll::Pending => {
                let deadline = this.deadline(underway);
                this.until(deadline, underway, cx)
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn waits() -> Waits {
        Waits {
            header_read: Duration::from_millis(100),
            idle: Duration::from_millis(300),
        }
    }

    /// hyper may leave a read pending while a handler works and not read
    /// again after answering: that read must still end when the connection
    /// has then been idle too long, or it would stay open for ever.
    #[tokio::test]
    async fn a_read_left_pending_during_a_request_ends_once_idle_too_long() {
        let (_client, socket) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        let mut timed = Timed::new(socket, requests.clone(), waits(), Arc::default());
        let underway = requests.begin();
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            timed.read(&mut buf).await.map_err(|error| error.kind())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(underway);
        let ended = tokio::time::timeout(Duration::from_secs(5), read).await;
        assert_eq!(
            ended.expect("woken by the idle deadline").unwrap(),
            Err(io::ErrorKind::TimedOut)
        );
    }

    /// A connection that has sent nothing yet gets the header-read wait,
    /// not the idle one: holding sockets open costs a client that much.
    #[tokio::test]
    async fn a_connection_that_sends_nothing_gets_the_header_read_wait() {
        let (_client, socket) = tokio::io::duplex(64);
        let waits = Waits {
            header_read: Duration::from_millis(50),
            idle: Duration::from_secs(600),
        };
        let mut timed = Timed::new(socket, Arc::new(Requests::default()), waits, Arc::default());
        let mut buf = [0u8; 16];
        let ended = tokio::time::timeout(Duration::from_secs(60), timed.read(&mut buf)).await;
        let error = ended.expect("ended by the header-read wait").unwrap_err();
        assert_eq!(
            (error.kind(), error.to_string()),
            (io::ErrorKind::TimedOut, "no request sent in time".into())
        );
    }

    /// When the server sheds, an idle connection closes; one part-way
    /// through a head, or in a request, stays.
    #[tokio::test]
    async fn shedding_closes_idle_connections_only() {
        let shedding = Arc::new(Shedding::default());
        let waits = Waits {
            header_read: Duration::from_secs(600),
            idle: Duration::from_secs(600),
        };
        let (_idle_client, idle_socket) = tokio::io::duplex(64);
        let mut idle = Timed::new(idle_socket, Arc::new(Requests::default()), waits, shedding.clone());
        let (mut talking_client, talking_socket) = tokio::io::duplex(64);
        let mut talking = Timed::new(talking_socket, Arc::new(Requests::default()), waits, shedding.clone());
        tokio::io::AsyncWriteExt::write_all(&mut talking_client, b"GET /")
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(talking.read(&mut buf).await.unwrap(), 5);
        let busy_requests = Arc::new(Requests::default());
        let (_busy_client, busy_socket) = tokio::io::duplex(64);
        let mut busy = Timed::new(busy_socket, busy_requests.clone(), waits, shedding.clone());
        let _underway = busy_requests.begin();

        let idle = tokio::spawn(async move { idle.read(&mut [0u8; 16]).await.map_err(|e| e.to_string()) });
        let talking = tokio::spawn(async move { talking.read(&mut [0u8; 16]).await.map_err(|e| e.to_string()) });
        let busy = tokio::spawn(async move { busy.read(&mut [0u8; 16]).await.map_err(|e| e.to_string()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        shedding.shed_idle();
        let ended = tokio::time::timeout(Duration::from_secs(60), idle).await;
        assert_eq!(
            ended.expect("the idle one closes").unwrap(),
            Err("idle connection closed: every connection slot is taken".to_owned())
        );
        tokio::io::AsyncWriteExt::write_all(&mut talking_client, b" HTTP/1.1")
            .await
            .unwrap();
        assert_eq!(talking.await.unwrap(), Ok(9), "the head goes on");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!busy.is_finished(), "a request under way is never cut short");
        busy.abort();
    }

    /// A body read while its request is under way is not the next head,
    /// and a read waiting while one is under way does not time out: only
    /// the request's own timeout bounds it.
    #[tokio::test]
    async fn reads_during_a_request_wait_as_long_as_it_takes() {
        let (mut client, socket) = tokio::io::duplex(64);
        let requests = Arc::new(Requests::default());
        let mut timed = Timed::new(socket, requests.clone(), waits(), Arc::default());
        let underway = requests.begin();
        tokio::io::AsyncWriteExt::write_all(&mut client, b"body").await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(timed.read(&mut buf).await.unwrap(), 4);
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            timed.read(&mut buf).await.map_err(|error| error.kind())
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"more").await.unwrap();
        assert_eq!(read.await.unwrap(), Ok(4), "past both waits, yet under way");
        drop(underway);
    }
}
