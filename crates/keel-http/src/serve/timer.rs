//! The header-read timer: hyper's `Timer` for `header_read_timeout`, at one Tokio timer
//! per connection instead of one per request.
//!
//! hyper's HTTP/1 server starts the header-read timeout at every request head: it reads
//! the clock, asks the timer for a boxed sleep until `now + timeout`, polls it while the
//! head is incomplete (which registers it in Tokio's timer wheel, under the wheel's lock)
//! and drops it once the head is parsed (removing it, under the lock again). On a
//! kept-alive connection that is an allocation and two lock round trips per request, for
//! a timer that almost never fires.
//!
//! [`HeaderTimer`] keeps the protection with less work per request: the connection's
//! task carries a [`ConnClock`] (a Tokio task-local, set by [`HeaderTimer::scope`]) that
//! holds the current deadline and **one** Tokio sleep for the whole connection. The
//! sleep hyper gets is zero-sized (boxing it allocates nothing); starting a head only
//! stores the new deadline; polling it polls the connection's sleep, which stays armed at
//! an earlier deadline as long as it has not fired. When it fires before the current
//! deadline (the connection went on serving requests), it is re-armed at that deadline:
//! at most once per timeout period per connection. When it fires at or after the
//! deadline, the head timed out and hyper closes the connection, as with `TokioTimer`.
//!
//! The connection's sleep may fire while no head is being read: that wakes the
//! connection's task once for nothing (hyper polls and finds no work), at most once per
//! timeout period.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

tokio::task_local! {
    /// The header-read state of the connection whose task is running.
    static CLOCK: ConnClock;
}

/// hyper's timer for [`serve`](super::serve): see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeaderTimer;

impl HeaderTimer {
    /// Runs `conn` (one connection's future) with its own [`ConnClock`]: the sleeps
    /// this timer hands out while `conn` is polled belong to that connection.
    pub(crate) fn scope<F: Future>(conn: F) -> impl Future<Output = F::Output> {
        CLOCK.scope(ConnClock::default(), conn)
    }
}

impl Timer for HeaderTimer {
    /// An independent Tokio sleep (hyper's HTTP/1 server does not call this).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(TokioSleep {
            inner: tokio::time::sleep(duration),
        })
    }

    /// Inside a connection's [`scope`](HeaderTimer::scope) with no other deadline
    /// pending: the connection's zero-sized [`HeadSleep`]. Otherwise (outside a
    /// connection, or a second sleep at once, which hyper's HTTP/1 server never asks
    /// for) an independent Tokio sleep, so each sleep keeps its own deadline.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let claimed = CLOCK.try_with(|c| c.claim(deadline)).unwrap_or(false);
        if claimed {
            Box::pin(HeadSleep)
        } else {
            Box::pin(TokioSleep {
                inner: tokio::time::sleep_until(deadline),
            })
        }
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        let deadline = tokio::time::Instant::from_std(new_deadline);
        if sleep.is::<HeadSleep>() {
            // Its connection's state is only reachable from the connection's task; a
            // `HeadSleep` is only created and used there (hyper resets it in place).
            if CLOCK.try_with(|c| c.deadline.set(deadline)).is_err() {
                *sleep = self.sleep_until(new_deadline);
            }
        } else if let Some(s) = sleep.as_mut().downcast_mut_pin::<TokioSleep>() {
            s.project().inner.reset(deadline);
        } else {
            *sleep = self.sleep_until(new_deadline);
        }
    }

    /// Tokio's clock (paused in tests, like `TokioTimer`'s).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// One connection's header-read state: the deadline of the head being read, and the
/// connection's one Tokio sleep.
#[derive(Debug)]
struct ConnClock {
    /// Whether a [`HeadSleep`] of this connection is alive (it owns `deadline`).
    claimed: Cell<bool>,
    /// When the head being read times out.
    deadline: Cell<tokio::time::Instant>,
    /// Created on the first wait; armed at or before `deadline` while not fired.
    timer: RefCell<Option<Pin<Box<tokio::time::Sleep>>>>,
}

impl Default for ConnClock {
    fn default() -> Self {
        Self {
            claimed: Cell::new(false),
            deadline: Cell::new(tokio::time::Instant::now()),
            timer: RefCell::new(None),
        }
    }
}

impl ConnClock {
    /// Takes the connection's deadline for a new head (false if a sleep holds it).
    fn claim(&self, deadline: tokio::time::Instant) -> bool {
        if self.claimed.replace(true) {
            return false;
        }
        self.deadline.set(deadline);
        true
    }

    /// Ready once the current deadline has passed.
    fn poll_deadline(&self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline.get();
        let Ok(mut slot) = self.timer.try_borrow_mut() else {
            // Only reachable through re-entrance, which hyper does not do: time out
            // rather than leave a head unbounded.
            return Poll::Ready(());
        };
        let timer = slot.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            // A shorter deadline than the one armed (not hyper's pattern: its deadlines
            // only grow): arm it, so the head never waits past its deadline.
            timer.as_mut().reset(deadline);
        }
        loop {
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    if timer.deadline() >= deadline || tokio::time::Instant::now() >= deadline {
                        return Poll::Ready(());
                    }
                    // Fired at an earlier head's deadline: re-arm at this one's.
                    timer.as_mut().reset(deadline);
                }
            }
        }
    }
}

/// The sleep hyper gets for a head: zero-sized (boxing it allocates nothing), it waits
/// on its connection's [`ConnClock`].
#[derive(Debug)]
struct HeadSleep;

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Outside its connection's task (never, see `reset`): time out rather than let
        // a head wait forever.
        CLOCK
            .try_with(|c| c.poll_deadline(cx))
            .unwrap_or(Poll::Ready(()))
    }
}

impl Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        let _ = CLOCK.try_with(|c| c.claimed.set(false));
    }
}

pin_project_lite::pin_project! {
    /// An independent Tokio sleep (hyper-util's `TokioSleep`).
    #[derive(Debug)]
    struct TokioSleep {
        #[pin]
        inner: tokio::time::Sleep,
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl Sleep for TokioSleep {}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    const T: Duration = Duration::from_secs(10);

    /// Polls `sleep` once (inside the current connection's scope).
    async fn poll_once(sleep: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await
    }

    /// A head's sleep as hyper makes it: `now + T`.
    fn head() -> Pin<Box<dyn Sleep>> {
        HeaderTimer.sleep_until(HeaderTimer.now() + T)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_head_times_out_at_its_deadline() {
        HeaderTimer::scope(async {
            let mut s = head();
            assert!(s.is::<HeadSleep>());
            assert!(poll_once(&mut s).await.is_pending());
            tokio::time::advance(T - Duration::from_millis(1)).await;
            assert!(poll_once(&mut s).await.is_pending());
            tokio::time::advance(Duration::from_millis(1)).await;
            assert!(poll_once(&mut s).await.is_ready());
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_is_timed_from_its_own_start() {
        let start = tokio::time::Instant::now();
        HeaderTimer::scope(async {
            // First head: arms the connection's timer at T, then completes at 4 s.
            let mut first = head();
            assert!(poll_once(&mut first).await.is_pending());
            tokio::time::advance(Duration::from_secs(4)).await;
            drop(first);
            // Second head starts at 4 s (deadline 14 s) and stalls.
            let mut second = head();
            assert!(second.is::<HeadSleep>(), "the deadline was released");
            assert!(poll_once(&mut second).await.is_pending());
            // The timer fires at the first deadline (10 s): early, so re-armed.
            tokio::time::advance(Duration::from_secs(6)).await;
            assert!(poll_once(&mut second).await.is_pending());
            tokio::time::advance(Duration::from_secs(3)).await;
            assert!(poll_once(&mut second).await.is_pending());
            // Ready at 14 s, and woken by the re-armed timer (not only when polled).
            let woken = tokio::time::timeout(Duration::from_secs(2), second).await;
            assert!(woken.is_ok());
            assert_eq!(start.elapsed(), Duration::from_secs(14));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_deadline_is_armed() {
        HeaderTimer::scope(async {
            let mut s = head();
            assert!(poll_once(&mut s).await.is_pending());
            HeaderTimer.reset(&mut s, HeaderTimer.now() + Duration::from_secs(1));
            assert!(s.is::<HeadSleep>());
            let done = tokio::time::timeout(Duration::from_secs(2), s).await;
            assert!(done.is_ok(), "woken at the shorter deadline");
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_sleep_at_once_or_outside_a_connection_is_independent() {
        HeaderTimer::scope(async {
            let mut a = head();
            let mut b = HeaderTimer.sleep_until(HeaderTimer.now() + Duration::from_secs(1));
            assert!(a.is::<HeadSleep>());
            assert!(b.is::<TokioSleep>());
            assert!(poll_once(&mut a).await.is_pending());
            tokio::time::advance(Duration::from_secs(1)).await;
            assert!(poll_once(&mut b).await.is_ready());
            assert!(
                poll_once(&mut a).await.is_pending(),
                "its own deadline kept"
            );
        })
        .await;
        let mut outside = HeaderTimer.sleep_until(HeaderTimer.now() + Duration::from_secs(1));
        assert!(outside.is::<TokioSleep>());
        assert!(poll_once(&mut outside).await.is_pending());
    }

    #[tokio::test(start_paused = true)]
    async fn connections_have_their_own_deadlines() {
        let slow = tokio::spawn(HeaderTimer::scope(async {
            let s = HeaderTimer.sleep_until(HeaderTimer.now() + Duration::from_secs(5));
            s.await;
            tokio::time::Instant::now()
        }));
        let fast = tokio::spawn(HeaderTimer::scope(async {
            let s = HeaderTimer.sleep_until(HeaderTimer.now() + Duration::from_secs(1));
            s.await;
            tokio::time::Instant::now()
        }));
        let start = tokio::time::Instant::now();
        assert_eq!(fast.await.unwrap() - start, Duration::from_secs(1));
        assert_eq!(slow.await.unwrap() - start, Duration::from_secs(5));
    }
}
