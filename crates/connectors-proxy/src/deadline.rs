//! A deadline that moves often and rarely fires: a connection's request-head
//! and idle deadlines move at every request, the tool's answer deadline at
//! every exchange. Moving a tokio timer takes it out of the timer wheel and
//! puts it back; here the timer is only moved when the deadline comes
//! earlier than the armed instant. When the timer fires before the current
//! deadline (which moved later meanwhile), it is armed again for it.

use crate::clock;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    due: Instant,
}

impl Deadline {
    /// A deadline `after` from now.
    pub(crate) fn after(after: Duration) -> Deadline {
        let due = clock::coarse_tokio() + after;
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(due)),
            due,
        }
    }

    /// Moves the deadline to `after` from now.
    pub(crate) fn restart(&mut self, after: Duration) {
        self.due = clock::coarse_tokio() + after;
        if self.due < self.sleep.deadline() {
            self.sleep.as_mut().reset(self.due);
        }
    }

    /// Ready once the deadline has passed; registers the task otherwise.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            if self.sleep.deadline() >= self.due {
                return Poll::Ready(());
            }
            let due = self.due;
            self.sleep.as_mut().reset(due);
        }
    }

    /// Runs `fut` until it finishes (`Some`) or the deadline passes (`None`).
    pub(crate) async fn run<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            self.poll_passed(cx).map(|()| None)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_at_the_last_deadline_set() {
        let start = Instant::now();
        let mut d = Deadline::after(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(6)).await;
        // Later: the armed timer stays, and firing at 10 s re-arms it.
        d.restart(Duration::from_secs(10));
        std::future::poll_fn(|cx| d.poll_passed(cx)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(16));
        // Earlier than the armed instant: the timer moves.
        let mut d = Deadline::after(Duration::from_secs(60));
        d.restart(Duration::from_secs(2));
        std::future::poll_fn(|cx| d.poll_passed(cx)).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(18));
    }

    #[tokio::test(start_paused = true)]
    async fn run_gives_the_output_or_none_after_the_deadline() {
        let mut d = Deadline::after(Duration::from_secs(5));
        assert_eq!(d.run(async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(6));
        assert_eq!(d.run(slow).await, None);
        d.restart(Duration::from_secs(5));
        let quick = tokio::time::sleep(Duration::from_secs(4));
        assert_eq!(d.run(quick).await, Some(()));
    }
}
