//! Real peers for integration tests and benchmarks.
//!
//! - [`gitserver::GitServer`]: nginx + fcgiwrap + `git http-backend` with
//!   Basic auth, plus a fake GitLab `GET /api/v4/user` endpoint.
//! - [`git::GitEnv`]: runs `git` with an isolated home and configuration.
//! - [`standalone::Standalone`]: the real `connectors standalone` process.
//! - [`process::ProcessGuard`]: kills a child and its process group on drop.
//! - [`interrupt`]: the same, and scratch directories removed, when a
//!   program using the kit is interrupted by a signal.
//! - [`http`]: a tiny blocking HTTP/1.1 client and [`http::wait_for_http`].
//! - [`ports::free_port`], [`rss`] (memory of a process).
//! - [`tls::TestCa`] (a certificate authority made for one test) and
//!   [`tls::NginxTls`] (nginx serving TLS sites, or terminating TLS in front
//!   of another peer, logging the credentials it received).
//! - [`pypi::PypiServer`]: pypiserver with an htpasswd file; wheels built in
//!   the test.
//! - [`npm::Verdaccio`]: verdaccio with an htpasswd file, offline.
//! - [`kube::FakeApiServer`]: static Kubernetes API answers behind TLS and a
//!   bearer token, enough for kubectl.
//!
//! pypiserver and verdaccio come from registries, not Debian: scripts/test
//! prepares them in a cache directory and names them in
//! `CONNECTORS_TEST_PYPISERVER` and `CONNECTORS_TEST_VERDACCIO`.
//!
//! Every server binds 127.0.0.1 only and keeps its files in a temporary
//! directory that disappears with it.

pub mod git;
pub mod gitserver;
pub mod http;
pub mod interrupt;
pub mod kube;
pub mod npm;
pub mod ports;
pub mod process;
pub mod pypi;
pub mod rss;
pub mod standalone;
pub mod tls;

pub use git::{GitEnv, GitOutput};
pub use gitserver::{GitServer, GitServerOptions};
pub use http::{wait_for_http, HttpResponse};
pub use kube::FakeApiServer;
pub use npm::Verdaccio;
pub use ports::free_port;
pub use process::ProcessGuard;
pub use pypi::PypiServer;
pub use standalone::{Standalone, StandaloneOptions};
pub use tls::{NginxTls, Site, TestCa};
