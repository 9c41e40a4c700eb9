//! Listening sockets this program makes for nginx and haproxy, so that
//! every process that sends a body across loopback in a run does it with
//! the same TCP congestion control as the proxy under test.
//!
//! Neither nginx nor haproxy can choose a congestion control per socket,
//! but both take listening sockets from their parent (nginx through its
//! `NGINX` environment variable, haproxy through `fd@N` addresses), and
//! Linux gives an accepted connection the algorithm its listening socket
//! was given with `TCP_CONGESTION`. With a host default such as BBR, which
//! paces every burst with a timer on loopback, the peers would otherwise
//! spend CPU time the proxy then lacks on a small machine.

use anyhow::{Context, Result};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A listening socket on 127.0.0.1, made to be handed to a child process.
/// It is non-blocking, as nginx and haproxy expect of inherited sockets
/// (they do not set it themselves): with a blocking one, an nginx worker
/// that loses the race for a new connection stays stuck in accept(2),
/// and the connections it already accepted wait with it.
pub struct Listener {
    socket: TcpListener,
    /// The port it listens on.
    pub port: u16,
}

impl Listener {
    /// Binds 127.0.0.1 on a free port and listens. `congestion` is the
    /// algorithm its connections get (`None`: the host's default).
    pub fn bind(congestion: Option<&str>) -> Result<Listener> {
        let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1")?;
        if let Some(name) = congestion {
            set_congestion(socket.as_raw_fd(), name)
                .with_context(|| format!("TCP congestion control {name:?} on a listening socket (see /proc/sys/net/ipv4/tcp_allowed_congestion_control)"))?;
        }
        socket
            .set_nonblocking(true)
            .context("making a listening socket non-blocking")?;
        let port = socket.local_addr()?.port();
        Ok(Listener { socket, port })
    }

    /// The descriptor number the child process finds it under.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// `None` for `host` (keep the host's default), else the name.
pub fn algorithm(flag: &str) -> Option<&str> {
    (flag != "host").then_some(flag)
}

/// Makes `listeners` survive `cmd`'s exec under their own numbers. They
/// stay close-on-exec in this process, so no other child gets them; the
/// caller drops its copies once the child runs.
pub fn pass(cmd: &mut Command, listeners: &[&Listener]) {
    let fds: Vec<RawFd> = listeners.iter().map(|l| l.fd()).collect();
    // SAFETY: the closure runs between fork and exec and calls only
    // fcntl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// nginx's `NGINX` variable for inherited listening sockets: `3;4;`.
pub fn nginx_env(listeners: &[&Listener]) -> String {
    listeners.iter().map(|l| format!("{};", l.fd())).collect()
}

fn set_congestion(fd: RawFd, name: &str) -> std::io::Result<()> {
    // SAFETY: fd is an open socket; the pointer and length describe `name`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
fn congestion_of(fd: RawFd) -> std::io::Result<String> {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len describe a writable buffer of len bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let name = &buf[..len as usize];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accepted_connections_get_the_listeners_algorithm() {
        let l = Listener::bind(Some("reno")).unwrap();
        let _client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, l.port)).unwrap();
        l.socket.set_nonblocking(false).unwrap();
        let (accepted, _) = l.socket.accept().unwrap();
        assert_eq!(congestion_of(accepted.as_raw_fd()).unwrap(), "reno");
    }

    #[test]
    fn an_unknown_algorithm_is_refused_with_the_flag_hint() {
        let e = Listener::bind(Some("no-such-algorithm")).err().unwrap();
        let text = format!("{e:#}");
        assert!(text.contains("no-such-algorithm"), "{text}");
        assert!(text.contains("tcp_allowed_congestion_control"), "{text}");
    }

    #[test]
    fn host_keeps_the_default() {
        assert_eq!(algorithm("host"), None);
        assert_eq!(algorithm("reno"), Some("reno"));
    }

    #[test]
    fn a_child_serves_on_the_passed_socket() {
        let l = Listener::bind(None).unwrap();
        let other = Listener::bind(None).unwrap();
        // The child checks that the other one was not passed and that the
        // passed one is non-blocking, then answers one connection on it.
        let script = format!(
            "if [ -e /proc/self/fd/{other} ]; then exit 3; fi; \
             python3 -c 'import os, socket; assert not os.get_blocking({fd}); s = socket.socket(fileno={fd}); s.setblocking(True); c, _ = s.accept(); c.sendall(b\"hi\")'",
            fd = l.fd(),
            other = other.fd(),
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]);
        pass(&mut cmd, &[&l]);
        let mut child = cmd.spawn().unwrap();
        let (port, env) = (l.port, nginx_env(&[&l, &other]));
        assert_eq!(env, format!("{};{};", l.fd(), other.fd()));
        // Only the child holds the socket now: a child that cannot use it
        // makes the connection fail instead of waiting forever.
        drop(l);
        let mut c = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hi");
        assert!(child.wait().unwrap().success());
    }
}
