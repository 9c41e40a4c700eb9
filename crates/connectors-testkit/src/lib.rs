//! Real peers for integration tests and benchmarks.
//!
//! - [`gitserver::GitServer`]: nginx + fcgiwrap + `git http-backend` with
//!   Basic auth, plus a fake GitLab `GET /api/v4/user` endpoint.
//! - [`git::GitEnv`]: runs `git` with an isolated home and configuration.
//! - [`standalone::Standalone`]: the real `connectors standalone` process.
//! - [`process::ProcessGuard`]: kills a child and its process group on drop.
//! - [`http`]: a tiny blocking HTTP/1.1 client and [`http::wait_for_http`].
//! - [`ports::free_port`], [`rss`] (memory of a process).
//!
//! Every server binds 127.0.0.1 only and keeps its files in a temporary
//! directory that disappears with it.

pub mod git;
pub mod gitserver;
pub mod http;
pub mod ports;
pub mod process;
pub mod rss;
pub mod standalone;

pub use git::{GitEnv, GitOutput};
pub use gitserver::{GitServer, GitServerOptions};
pub use http::{wait_for_http, HttpResponse};
pub use ports::free_port;
pub use process::ProcessGuard;
pub use standalone::{Standalone, StandaloneOptions};
