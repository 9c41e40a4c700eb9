//! Free TCP ports on 127.0.0.1.

use anyhow::Result;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// Ports already handed out by this process, so two servers of one test
/// binary never get the same one.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port on 127.0.0.1 that was free a moment ago and that this process has
/// not handed out before.
///
/// Another process may still take it before the caller binds it; servers
/// started by this crate retry with a new port when that happens.
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("binding 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local address of a bound listener")
            .port();
        drop(listener);
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(port) {
            return port;
        }
    }
}

/// How many times a server is started on new ports in all, when a port
/// picked for it turned out taken.
const START_ATTEMPTS: usize = 5;

/// How one try at starting a server on ports from [`free_port`] ended.
pub(crate) enum Attempt<T> {
    /// The server answers.
    Ready(T),
    /// It did not start because a port was taken meanwhile; its log.
    PortTaken(String),
    /// It did not start for another reason; its log.
    Failed(String),
}

impl<T> Attempt<T> {
    /// A server that did not start, with its log; `port_taken` says whether
    /// the log shows that a port was taken.
    pub(crate) fn not_ready(log: String, port_taken: bool) -> Attempt<T> {
        if port_taken {
            Attempt::PortTaken(log)
        } else {
            Attempt::Failed(log)
        }
    }
}

/// Runs `attempt` until the server it starts is ready, again on new ports
/// while the port picked turned out taken, [`START_ATTEMPTS`] times at most;
/// else the error `failed` makes of the last log.
pub(crate) fn start_on_free_ports<T>(
    mut attempt: impl FnMut() -> Result<Attempt<T>>,
    failed: impl FnOnce(String) -> anyhow::Error,
) -> Result<T> {
    let mut last_log = String::new();
    for _ in 0..START_ATTEMPTS {
        match attempt()? {
            Attempt::Ready(server) => return Ok(server),
            Attempt::PortTaken(log) => last_log = log,
            Attempt::Failed(log) => return Err(failed(log)),
        }
    }
    Err(failed(last_log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let unique: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        for p in ports.iter().take(3) {
            TcpListener::bind(("127.0.0.1", *p)).expect("a free port can be bound");
        }
    }

    #[test]
    fn a_taken_port_is_retried_a_few_times_then_reported() {
        let mut tries = 0;
        let err = start_on_free_ports::<u16>(
            || {
                tries += 1;
                Ok(Attempt::not_ready(format!("try {tries}: in use"), true))
            },
            |log| anyhow::anyhow!("server did not start: {log}"),
        )
        .unwrap_err();
        assert_eq!(tries, START_ATTEMPTS);
        assert_eq!(err.to_string(), "server did not start: try 5: in use");
    }

    #[test]
    fn another_failure_stops_at_once_and_a_ready_server_is_returned() {
        let mut tries = 0;
        let err = start_on_free_ports::<u16>(
            || {
                tries += 1;
                Ok(Attempt::not_ready("bad config".into(), false))
            },
            |log| anyhow::anyhow!("{log}"),
        )
        .unwrap_err();
        assert_eq!((tries, err.to_string()), (1, "bad config".to_string()));

        let mut tries = 0;
        let port = start_on_free_ports(
            || {
                tries += 1;
                Ok(if tries < 3 {
                    Attempt::PortTaken(String::new())
                } else {
                    Attempt::Ready(8080)
                })
            },
            |log| anyhow::anyhow!("{log}"),
        )
        .unwrap();
        assert_eq!((tries, port), (3, 8080));
    }

    #[test]
    fn an_error_of_the_attempt_itself_is_returned_as_it_is() {
        let err = start_on_free_ports::<u16>(
            || Err(anyhow::anyhow!("nginx is not installed")),
            |log| anyhow::anyhow!("{log}"),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "nginx is not installed");
    }
}
