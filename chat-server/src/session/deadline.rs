//! [`FrameDeadline`]: the byte stream under a session's WebSocket, timing
//! each frame from its first byte to its last and counting it against its
//! address's share of half-finished frames. The WebSocket library buffers
//! partial frames out of sight; only the stream beneath it sees that bytes
//! of a frame have come in and the rest has not.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::address_limits::{AddressTicket, Pool, ShareSlot};

/// Why the stream refused to read on; it reaches the session inside an
/// `io::Error` from the WebSocket library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadRefused {
    #[error("a frame took longer than --frame-timeout")]
    TimedOut,
    #[error("this address has its share of half-finished frames")]
    OverShare,
}

impl ReadRefused {
    /// The refusal carried by a read error, if it is one.
    pub fn of(error: &io::Error) -> Option<Self> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Self>())
            .copied()
    }
}

/// A stream that times the frame being received.
pub struct FrameDeadline<S> {
    inner: S,
    timeout: Duration,
    ticket: AddressTicket,
    /// From a frame's first byte until [`FrameDeadline::frame_done`]: when
    /// it began (or the clock was restarted), and its place in the
    /// address's share.
    partial: Option<(Instant, ShareSlot)>,
    /// Fires at or before the frame's deadline. It is moved only when it
    /// fires early, not for every frame, so a busy connection costs no
    /// timer update per frame.
    expiry: Pin<Box<Sleep>>,
}

impl<S> FrameDeadline<S> {
    pub fn new(inner: S, timeout: Duration, ticket: AddressTicket) -> Self {
        Self {
            inner,
            timeout,
            ticket,
            partial: None,
            expiry: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    pub fn ticket(&self) -> &AddressTicket {
        &self.ticket
    }

    /// A whole message came out: the next byte starts the next frame.
    pub fn frame_done(&mut self) {
        self.partial = None;
    }

    /// The session read nothing for a while by its own choice (slowing the
    /// client down): the frame under way gets its full time again.
    pub fn restart_clock(&mut self) {
        if let Some((began, _)) = &mut self.partial {
            *began = Instant::now();
        }
    }

    fn start_frame(&mut self) -> io::Result<()> {
        let slot = self
            .ticket
            .try_take(Pool::PartialFrames)
            .ok_or_else(|| io::Error::other(ReadRefused::OverShare))?;
        self.partial = Some((Instant::now(), slot));
        Ok(())
    }

    /// Whether the frame under way is past its deadline; otherwise the
    /// timer is left to wake this task by then.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((began, _)) = &self.partial else {
            return false;
        };
        let due = *began + self.timeout;
        while self.expiry.as_mut().poll(cx).is_ready() {
            if Instant::now() >= due {
                return true;
            }
            self.expiry.as_mut().reset(due);
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.partial.is_none() {
                    this.start_frame()?;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.poll_expired(cx) => {
                Poll::Ready(Err(io::Error::other(ReadRefused::TimedOut)))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::address_limits::{AddressLimits, Shares};

    fn ticket(limits: &std::sync::Arc<AddressLimits>) -> AddressTicket {
        limits.ticket("10.0.0.1".parse().unwrap())
    }

    #[tokio::test]
    async fn a_frame_that_stalls_past_its_deadline_fails_the_read() {
        let limits = AddressLimits::new(None);
        let (mut client, server) = tokio::io::duplex(64);
        let timeout = Duration::from_millis(200);
        let mut stream = FrameDeadline::new(server, timeout, ticket(&limits));
        let started = Instant::now();
        let mut buf = [0u8; 8];
        client.write_all(b"ab").await.unwrap();
        assert_eq!(stream.read(&mut buf).await.unwrap(), 2);
        // Nothing more comes: the read fails once the frame's time is up.
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(ReadRefused::of(&error), Some(ReadRefused::TimedOut));
        assert!(started.elapsed() >= timeout);
        // A finished frame stops the clock: an idle client is not timed.
        stream.frame_done();
        let idle = tokio::time::timeout(timeout * 3, stream.read(&mut buf)).await;
        assert!(idle.is_err(), "an idle stream must just wait");
    }

    #[tokio::test]
    async fn an_address_over_its_share_of_partial_frames_is_refused() {
        let limits = AddressLimits::new(Some(Shares {
            handshakes: 1,
            connections: 1,
            partial_frames: 1,
        }));
        let (mut first_client, first) = tokio::io::duplex(64);
        let (mut second_client, second) = tokio::io::duplex(64);
        let timeout = Duration::from_secs(60);
        let mut first = FrameDeadline::new(first, timeout, ticket(&limits));
        let mut second = FrameDeadline::new(second, timeout, ticket(&limits));
        let mut buf = [0u8; 8];
        first_client.write_all(b"a").await.unwrap();
        second_client.write_all(b"b").await.unwrap();
        assert_eq!(first.read(&mut buf).await.unwrap(), 1);
        let error = second.read(&mut buf).await.unwrap_err();
        assert_eq!(ReadRefused::of(&error), Some(ReadRefused::OverShare));
        first.frame_done();
        second_client.write_all(b"c").await.unwrap();
        assert!(second.read(&mut buf).await.is_ok(), "the share came back");
    }
}
