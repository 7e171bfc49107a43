//! The bodies the proxy streams: the client's request body on its way upstream and
//! the upstream's response body on its way back, both passed frame by frame
//! (never buffered whole) and both cut when a `hold` aborts their exchange.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::table::{InFlight, RedirectTable};

/// The error type of the proxied bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The exchange was aborted because a `hold` stopped waiting for it.
#[derive(Debug, thiserror::Error)]
#[error("aborted: the account was held and this request outlasted the hold's bound")]
pub(crate) struct AbortedByHold;

/// Resolves once the exchange's abort token is cancelled.
struct AbortSignal(Pin<Box<WaitForCancellationFutureOwned>>);

impl AbortSignal {
    fn new(abort: CancellationToken) -> Self {
        AbortSignal(Box::pin(abort.cancelled_owned()))
    }

    fn fired(&mut self, cx: &mut Context<'_>) -> bool {
        self.0.as_mut().poll(cx).is_ready()
    }
}

/// The client's request body, sent upstream as it arrives.
pub(crate) struct RequestBody {
    inner: Incoming,
    abort: AbortSignal,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, abort: CancellationToken) -> Self {
        RequestBody {
            inner,
            abort: AbortSignal::new(abort),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // An error here makes the upstream client drop the connection rather
        // than finish the request on it.
        if self.abort.fired(cx) {
            return Poll::Ready(Some(Err(AbortedByHold.into())));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the proxy answers with: the upstream's response body, or a short text of
/// its own (421, 502, 503...).
pub(crate) enum ProxyBody {
    Upstream(Box<UpstreamBody>),
    Text(Full<Bytes>),
}

impl ProxyBody {
    pub(crate) fn text(text: &'static str) -> Self {
        ProxyBody::Text(Full::new(Bytes::from_static(text.as_bytes())))
    }
}

/// The upstream's response body; while it streams, its request still counts as in
/// flight for its account (the upstream has not finished answering).
pub(crate) struct UpstreamBody {
    inner: Incoming,
    abort: AbortSignal,
    /// Dropped as soon as the upstream's body ends or fails, so a `hold` does not
    /// wait for a slow client to read the last bytes.
    in_flight: Option<InFlight>,
    table: RedirectTable,
}

impl UpstreamBody {
    pub(crate) fn new(
        inner: Incoming,
        abort: CancellationToken,
        in_flight: InFlight,
        table: RedirectTable,
    ) -> Self {
        let in_flight = (!inner.is_end_stream()).then_some(in_flight);
        UpstreamBody {
            inner,
            abort: AbortSignal::new(abort),
            in_flight,
            table,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.in_flight.is_some() && this.abort.fired(cx) {
            this.in_flight = None;
            return Poll::Ready(Some(Err(AbortedByHold.into())));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => this.in_flight = None,
            Some(Err(_)) => {
                this.in_flight = None;
                this.table.count_failed_upstream();
            }
            Some(Ok(_)) if this.inner.is_end_stream() => this.in_flight = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Upstream(body) => Pin::new(body.as_mut()).poll_frame(cx),
            ProxyBody::Text(text) => Pin::new(text)
                .poll_frame(cx)
                .map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(body) => body.is_end_stream(),
            ProxyBody::Text(text) => text.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(body) => body.size_hint(),
            ProxyBody::Text(text) => text.size_hint(),
        }
    }
}
