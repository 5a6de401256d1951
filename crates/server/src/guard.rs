//! Per-connection timeouts that hyper does not provide, enforced where the waiting
//! happens:
//!
//! - [`GuardedIo`] wraps the socket. Between requests (no request of the connection is
//!   being served) a connection must deliver the next request's headers within
//!   `header_timeout` of its first byte (of the accept, for the first request) and may
//!   sit idle for at most `idle_timeout` after a response; a write the client does not
//!   read for `body_timeout` fails (slow readers); an HTTP/2 connection (whose frames
//!   flow between requests) gets only the idle timeout after its first request. It
//!   never times out a connection while
//!   a handler works: hyper polls the socket then too (to see hang-ups), and that wait
//!   is the server's, not the client's.
//! - [`GuardedBody`] wraps a request body and fails it when the client lets the
//!   handler wait `body_timeout` for the next bytes, or, once it has been waited on for
//!   `body_timeout` in total, when it averages under `body_min_rate` bytes per second
//!   of waiting (a trickle). Only time spent waiting for the client counts.
//! - [`BodyEnd`] tells whether a request body was read to its end when the response
//!   is ready: if not, the connection must close (hyper cannot reuse it without the
//!   rest), and the response says so, so no client pools a connection the server is
//!   about to drop.
//! - [`ActiveGuard`] marks a request in progress from dispatch until its response body
//!   is finished or dropped, and holds the request's in-flight permit as long.

use bytes::Bytes;
use coffer_core::metrics::GaugeGuard;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use parking_lot::Mutex;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The timeouts of one connection, and its head-size limit.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    pub body: Duration,
    pub body_min_rate: u64,
    /// Largest HTTP/1 request head (request line and header fields).
    pub max_head: usize,
    /// The complete response sent to a head over `max_head` before closing.
    pub head_too_large: &'static [u8],
}

/// What the socket wrapper and the request wrapper of one connection share.
#[derive(Debug)]
pub struct ConnState {
    phase: Mutex<Phase>,
}

#[derive(Debug)]
struct Phase {
    /// Requests dispatched whose responses are not finished.
    active: usize,
    /// When the last response finished (or the connection was accepted).
    idle_since: Instant,
    /// When the first byte of the next request head arrived (set at accept: a new
    /// connection owes its first request's headers within `header_timeout`).
    head_started: Option<Instant>,
    /// Bytes of the HTTP/1 head being read, up to its blank line.
    head_bytes: usize,
    head_scan: HeadScan,
    /// The connection speaks HTTP/2: its frames (window updates, pings) arrive between
    /// requests, so bytes there do not start a head; only the idle timeout applies.
    h2: bool,
}

/// Where the reader is in an HTTP/1 head: looking for the empty line that ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadScan {
    InLine,
    LineStart,
    LineStartCr,
    /// The head ended (or the connection speaks HTTP/2): nothing more is counted
    /// until the next request is dispatched.
    Done,
}

impl Phase {
    /// Counts the head bytes in `data`; true when the head exceeds `max`.
    fn scan(&mut self, data: &[u8], max: usize) -> bool {
        if self.head_scan == HeadScan::Done {
            return false;
        }
        if self.head_bytes == 0 && data.starts_with(b"PRI ") {
            // The HTTP/2 preface: frames are binary and hyper's h2 limits apply.
            self.head_scan = HeadScan::Done;
            self.h2 = true;
            return false;
        }
        for &b in data {
            self.head_bytes += 1;
            self.head_scan = match (self.head_scan, b) {
                (HeadScan::LineStart | HeadScan::LineStartCr, b'\n') => {
                    self.head_scan = HeadScan::Done;
                    return false;
                }
                (HeadScan::LineStart, b'\r') => HeadScan::LineStartCr,
                (_, b'\n') => HeadScan::LineStart,
                _ => HeadScan::InLine,
            };
            if self.head_bytes > max {
                return true;
            }
        }
        false
    }
}

impl ConnState {
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(ConnState {
            phase: Mutex::new(Phase {
                active: 0,
                idle_since: now,
                head_started: Some(now),
                head_bytes: 0,
                head_scan: HeadScan::InLine,
                h2: false,
            }),
        })
    }

    /// Notes bytes read from the client; true when they overflow the head limit.
    fn on_bytes_read(&self, data: &[u8], max_head: usize) -> bool {
        let mut p = self.phase.lock();
        if p.active > 0 {
            return false;
        }
        if p.h2 {
            return false;
        }
        if p.head_started.is_none() {
            p.head_started = Some(Instant::now());
        }
        let over = p.scan(data, max_head);
        if p.h2 {
            // The preface itself: the first request is owed from the accept as before.
            return false;
        }
        over
    }

    /// When the connection must have made progress by, if the client owes it some.
    fn read_deadline(&self, t: &Timeouts) -> Option<Instant> {
        let p = self.phase.lock();
        if p.active > 0 {
            return None;
        }
        Some(match p.head_started {
            Some(h) => h + t.header,
            None => p.idle_since + t.idle,
        })
    }

    /// Marks a request dispatched; the guard ends it.
    pub fn begin(self: &Arc<Self>) -> ActiveGuard {
        let mut p = self.phase.lock();
        p.active += 1;
        p.head_started = None;
        p.head_bytes = 0;
        p.head_scan = if p.h2 {
            HeadScan::Done
        } else {
            HeadScan::InLine
        };
        ActiveGuard {
            conn: self.clone(),
            permit: None,
        }
    }
}

/// A request in progress (see the module docs).
#[derive(Debug)]
pub struct ActiveGuard {
    conn: Arc<ConnState>,
    /// The in-flight permit and the in-flight gauge's unit, given back together.
    permit: Option<(OwnedSemaphorePermit, GaugeGuard)>,
}

impl ActiveGuard {
    /// Keeps the request's in-flight permit (and its count in the in-flight gauge)
    /// until the request ends.
    pub fn hold(&mut self, permit: OwnedSemaphorePermit, counted: GaugeGuard) {
        self.permit = Some((permit, counted));
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut p = self.conn.phase.lock();
        p.active -= 1;
        if p.active == 0 {
            p.idle_since = Instant::now();
            p.head_started = None;
            p.head_bytes = 0;
            p.head_scan = if p.h2 {
                HeadScan::Done
            } else {
                HeadScan::InLine
            };
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

/// Polls `timer` armed for `deadline`; true once the deadline has passed.
fn expired(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if Instant::now() >= deadline {
        return true;
    }
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

/// The socket wrapper (see the module docs). A request head over the limit is answered
/// here (hyper's own head limit is its whole buffer, which bodies need larger): the
/// bytes are withheld from hyper, the canned answer written, and the read fails, so
/// hyper closes the connection.
pub struct GuardedIo<T> {
    inner: T,
    state: Arc<ConnState>,
    timeouts: Timeouts,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_blocked_since: Option<Instant>,
    /// Bytes of `head_too_large` written, once the head overflowed.
    rejecting: Option<usize>,
}

impl<T> GuardedIo<T> {
    pub fn new(inner: T, state: Arc<ConnState>, timeouts: Timeouts) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        GuardedIo {
            inner,
            state,
            timeouts,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            write_timer: Box::pin(tokio::time::sleep_until(far)),
            write_blocked_since: None,
            rejecting: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> GuardedIo<T> {
    /// Writes the head-too-large answer; ready with the error that ends the connection.
    fn poll_reject(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let answer = self.timeouts.head_too_large;
        let mut written = self.rejecting.unwrap_or(0);
        while written < answer.len() {
            let r = Pin::new(&mut self.inner).poll_write(cx, &answer[written..]);
            match ready!(self.on_write(r, cx)) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
            self.rejecting = Some(written);
        }
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too large",
        )))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rejecting.is_some() {
            return this.poll_reject(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let max = this.timeouts.max_head;
                if this.state.on_bytes_read(&buf.filled()[before..], max) {
                    buf.set_filled(before);
                    this.rejecting = Some(0);
                    return this.poll_reject(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(deadline) = this.state.read_deadline(&this.timeouts)
                    && expired(&mut this.read_timer, deadline, cx)
                {
                    return Poll::Ready(Err(timed_out(
                        "the client sent no complete request in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> GuardedIo<T> {
    fn on_write<R>(&mut self, r: Poll<io::Result<R>>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match r {
            Poll::Pending => {
                let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
                if expired(&mut self.write_timer, since + self.timeouts.body, cx) {
                    return Poll::Ready(Err(timed_out("the client stopped reading")));
                }
                Poll::Pending
            }
            ready => {
                self.write_blocked_since = None;
                ready
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.on_write(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.on_write(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.on_write(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.on_write(r, cx)
    }
}

/// A request body with the stall and minimum-rate checks (see the module docs).
pub struct GuardedBody {
    inner: Incoming,
    timeouts: Timeouts,
    timer: Option<Pin<Box<Sleep>>>,
    waiting_since: Option<Instant>,
    waited: Duration,
    failed: bool,
    ended: BodyEnd,
    /// Bytes received so far: the minimum-rate check's count, shared with the choke
    /// points (metrics, access log).
    read: coffer_core::conn::BodyRead,
}

/// Whether a [`GuardedBody`] has been read to its end (shared with the dispatcher).
#[derive(Clone, Debug)]
pub struct BodyEnd(Arc<std::sync::atomic::AtomicBool>);

impl BodyEnd {
    /// True while the body still has bytes (or its end) the handler did not read.
    pub fn unread(&self) -> bool {
        !self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Why a request body was cut off.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BodyTimeout(&'static str);

impl GuardedBody {
    pub fn new(inner: Incoming, timeouts: Timeouts) -> Self {
        let ended = BodyEnd(Arc::new(inner.is_end_stream().into()));
        GuardedBody {
            inner,
            ended,
            timeouts,
            timer: None,
            waiting_since: None,
            waited: Duration::ZERO,
            failed: false,
            read: coffer_core::conn::BodyRead::default(),
        }
    }

    /// The count of bytes read, for the request's extensions.
    pub fn read(&self) -> coffer_core::conn::BodyRead {
        self.read.clone()
    }

    /// The handle that tells the dispatcher whether this body was read to its end.
    pub fn end(&self) -> BodyEnd {
        self.ended.clone()
    }

    /// When waiting that began at `since` turns into a violation.
    fn deadline(&self, since: Instant) -> Instant {
        let stall = since + self.timeouts.body;
        if self.timeouts.body_min_rate == 0 {
            return stall;
        }
        // Violation once total waiting w > max(grace, received / rate).
        let need =
            Duration::from_secs_f64(self.read.get() as f64 / self.timeouts.body_min_rate as f64)
                .max(self.timeouts.body);
        let rate = since + need.saturating_sub(self.waited);
        stall.min(rate)
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(Ok(f)) = &r
                    && let Some(d) = f.data_ref()
                {
                    this.read.add(d.len() as u64);
                }
                if r.is_none() || this.inner.is_end_stream() {
                    this.ended.set();
                }
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let since = *this.waiting_since.get_or_insert_with(Instant::now);
                let deadline = this.deadline(since);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if expired(timer, deadline, cx) {
                    this.failed = true;
                    let stalled = since + this.timeouts.body <= Instant::now();
                    let why = if stalled {
                        "the request body stalled"
                    } else {
                        "the request body arrived below the minimum data rate"
                    };
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout(why)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its request's [`ActiveGuard`] when finished or dropped.
pub struct TrackedBody<B> {
    inner: Pin<Box<B>>,
    guard: Option<ActiveGuard>,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, guard: ActiveGuard) -> Self {
        TrackedBody {
            inner: Box::pin(inner),
            guard: Some(guard),
        }
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let r = ready!(this.inner.as_mut().poll_frame(cx));
        if r.is_none() {
            this.guard = None;
        }
        Poll::Ready(r)
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

    fn phase() -> Phase {
        Phase {
            active: 0,
            idle_since: Instant::now(),
            head_started: None,
            head_bytes: 0,
            head_scan: HeadScan::InLine,
            h2: false,
        }
    }

    #[test]
    fn head_scan_counts_up_to_the_blank_line() {
        let mut p = phase();
        assert!(!p.scan(b"GET / HTTP/1.1\r\nHost: a\r\n", 64));
        assert!(!p.scan(b"\r\n", 64));
        assert_eq!(p.head_scan, HeadScan::Done);
        assert!(!p.scan(&[b'x'; 1000], 64), "body bytes are not head bytes");
        let mut p = phase();
        assert!(!p.scan(b"GET / HTTP/1.1\nA: b\n\n", 64), "bare LF ends too");
        assert_eq!(p.head_scan, HeadScan::Done);
        let mut p = phase();
        assert!(!p.scan(b"GET / HTTP/1.1\r\n", 40));
        assert!(p.scan(b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 40));
        let mut p = phase();
        assert!(!p.scan(b"PRI * HTTP/2.0\r\n", 4));
        assert!(!p.scan(&[0u8; 100], 4), "HTTP/2 frames are left to hyper");
        assert!(p.h2);
    }
}
