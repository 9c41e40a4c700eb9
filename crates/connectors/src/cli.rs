//! Command-line interface definition.

use crate::logging::LogArgs;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Secretless access to tools: Connectors store each credential once, a proxy
/// injects it, workloads hold only a short-lived token.
#[derive(Parser, Debug)]
#[command(
    name = "connectors",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions of Connector and ConnectorClass.
    Crds(CrdsArgs),
    /// List the built-in ConnectorClasses, or print one.
    Classes(ClassesArgs),
    /// Check manifests (Connectors, ConnectorClasses, Secrets) for problems.
    ///
    /// Prints one line per problem naming the file, the document index, the
    /// object and what to fix. Exits 1 when any problem is found. Built-in
    /// classes are always available to Connectors being checked.
    #[command(verbatim_doc_comment)]
    Validate(ValidateArgs),
    /// Render client configuration files of a Connector (what a workload mounts).
    ///
    /// Example:
    ///   connectors render -f examples/render --connector team-a/gitlab \
    ///     --configuration gitconfig --token-file token.txt \
    ///     --proxy-address http://c-gitlab.team-a.svc --out ./out
    #[command(verbatim_doc_comment)]
    Render(RenderArgs),
    /// Run proxy, reconciler and local API in one process on a local backend.
    ///
    /// Manifests (Connectors, ConnectorClasses, Secrets: the YAML kubectl
    /// would take) are read from --config and re-read when they change. The
    /// data directory keeps the token signing key, the proxy CA and the
    /// admin token of the local API (all mode 0600). Ctrl-C stops cleanly.
    ///
    /// Example:
    ///   connectors standalone --config examples/standalone
    #[command(verbatim_doc_comment)]
    Standalone(StandaloneArgs),
    /// Issue tokens for workloads (local backend).
    Token(TokenArgs),
    /// Show or rotate the proxy CA (the CA clients trust for HTTPS through
    /// the forward proxy).
    ///
    /// The CA is the pair proxy-ca.crt / proxy-ca.key in the data
    /// directory. A running `connectors standalone` takes a rotated CA
    /// within its --ca-reload-interval, without a restart.
    ///
    /// Examples:
    ///   connectors ca show
    ///   connectors ca show --pem > proxy-ca.crt
    ///   connectors ca rotate
    #[command(verbatim_doc_comment)]
    Ca(CaArgs),
    /// List Connectors (or classes) of the running standalone process.
    Get(GetArgs),
    /// Show a Connector with its conditions.
    Describe(DescribeArgs),
    /// Write a Connector's client files, like the CSI driver mounts them.
    ///
    /// Gets a fresh token from the running standalone process, renders the
    /// named configurations and writes them with the built-in files
    /// (context.token, ca.crt, .env, …) into --out.
    ///
    /// Example:
    ///   connectors mount team-a/git-demo --configuration gitconfig --out ./mnt
    ///   GIT_CONFIG_GLOBAL=./mnt/.gitconfig git clone <original URL>
    #[command(verbatim_doc_comment)]
    Mount(MountArgs),
}

/// Where the standalone process keeps its state, shared by the commands that
/// talk to it.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Data directory of the standalone process.
    #[arg(long, value_name = "DIR", default_value = crate::datadir::DEFAULT_DATA_DIR, env = "CONNECTORS_DATA")]
    pub data: PathBuf,
}

/// How CLI commands reach the running process.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Local API URL (default: read from <data>/standalone.json).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct StandaloneArgs {
    /// Directory of manifests (searched recursively for .yaml, .yml, .json).
    #[arg(long, value_name = "DIR")]
    pub config: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Address the proxy listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7480")]
    pub proxy_listen: std::net::SocketAddr,
    /// URL clients use to reach the proxy (default: http://<proxy-listen>,
    /// with 127.0.0.1 for an unspecified address).
    #[arg(long, value_name = "URL")]
    pub proxy_url: Option<String>,
    /// Address the local API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7481")]
    pub api_listen: std::net::SocketAddr,
    /// How often every Connector is probed again without changes.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub probe_interval: std::time::Duration,
    /// Deadline of one probe request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub probe_timeout: std::time::Duration,
    /// Deadline for an upstream to answer with response headers (504 after).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: std::time::Duration,
    /// Deadline for connecting to an upstream (502 after).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// Threads serving proxy clients, each with its own event loop
    /// (0: one per CPU).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "CONNECTORS_PROXY_WORKERS"
    )]
    pub proxy_workers: usize,
    /// Address of the metrics listener (GET /metrics in the Prometheus
    /// text format, GET /healthz).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7482")]
    pub metrics_listen: std::net::SocketAddr,
    /// Deadline for a client to send a whole request head (and, after
    /// CONNECT, to finish its TLS handshake); the connection is closed after.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,
    /// How long an idle client keep-alive connection is kept open.
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Largest request head (request line plus headers) in bytes; larger
    /// ones are answered 431.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Most header fields in one request; more are answered 431.
    #[arg(long, value_name = "COUNT", default_value_t = 100)]
    pub max_headers: usize,
    /// Largest request body read whole for a class policy: a token
    /// extractor or credential generator that reads `input.request.body`
    /// (JSON bodies), or a generator that puts the credential into the body
    /// (longer bodies are then answered 502).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_inspected_body: usize,
    /// Also append one JSON line per proxied request (the audit record) to
    /// this file, created with mode 0600.
    #[arg(long, value_name = "FILE")]
    pub audit_file: Option<PathBuf>,
    /// TCP congestion control of the proxy's connections to clients and
    /// tools on this machine (loopback addresses). Reno never paces what
    /// it sends, where pacing algorithms such as BBR cost throughput and
    /// CPU time on loopback; `host` keeps the host's default there too.
    /// Connections to other machines always keep the host's default.
    #[arg(long, value_name = "NAME|host", default_value = connectors_proxy::DEFAULT_LOOPBACK_CONGESTION)]
    pub loopback_congestion: String,
    /// Whose AES-GCM encrypts intercepted tunnels and TLS connections to
    /// tools: `auto` times ring's and aws-lc's once at start (under a
    /// millisecond) and keeps the faster; the log says which and their
    /// figures. aws-lc is faster on CPUs with 512-bit vector AES, ring on
    /// CPUs with 256-bit vector AES only.
    #[arg(
        long,
        value_name = "auto|ring|aws-lc",
        default_value = "auto",
        env = "CONNECTORS_TLS_AES"
    )]
    pub tls_aes: connectors_proxy::AesGcm,
    /// How often the proxy CA files in the data directory (proxy-ca.crt,
    /// proxy-ca.key) are checked for a rotated CA. A new usable pair is
    /// taken without a restart: new intercepted connections get
    /// certificates it signs and new mounts carry it; a pair that cannot be
    /// used is reported and the CA in use is kept.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ca_reload_interval: std::time::Duration,
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Print a signed token for ServiceAccount NAMESPACE:SUBJECT.
    ///
    /// Only the token goes to standard output, so `T=$(connectors token issue -n team-a)` works.
    Issue {
        /// Namespace of the ServiceAccount; the token may use this namespace's Connectors.
        #[arg(long, short = 'n', value_name = "NS")]
        namespace: String,
        /// ServiceAccount name.
        #[arg(long, value_name = "NAME", default_value = "default")]
        subject: String,
        /// Lifetime (1s to 7d).
        #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct CaArgs {
    #[command(subcommand)]
    pub action: CaAction,
}

#[derive(Subcommand, Debug)]
pub enum CaAction {
    /// Print the CA's subject, SHA-256 fingerprint and end of validity.
    Show {
        /// Print only the certificate (PEM), for a client's trust store.
        #[arg(long)]
        pem: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Replace the CA with a new one (ECDSA P-256, self-signed, ten years).
    ///
    /// Intercepted connections opened from then on are signed by the new
    /// CA; clients must trust its certificate (mount again, or copy
    /// proxy-ca.crt). Tunnels already open keep their certificate.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// What to list: connectors (ctr) or connectorclasses (ctrc).
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// Namespace (default: "default").
    #[arg(
        long,
        short = 'n',
        value_name = "NS",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(long, short = 'A')]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputFormat>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Output formats of `get`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Table with extra columns.
    Wide,
    /// YAML objects.
    Yaml,
    /// JSON list of objects.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct DescribeArgs {
    /// Only `connector` for now.
    #[arg(value_name = "RESOURCE")]
    pub resource: String,
    /// NAMESPACE/NAME (or NAME with -n).
    #[arg(value_name = "NS/NAME")]
    pub name: String,
    /// Namespace when NAME has none.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(clap::Args, Debug)]
pub struct MountArgs {
    /// Connector as NAMESPACE/NAME.
    #[arg(value_name = "NS/NAME")]
    pub connector: String,
    /// Configuration name(s), comma-separated; `!FILE` drops a file.
    #[arg(long, value_name = "NAME[,NAME]", default_value = "")]
    pub configuration: String,
    /// Output directory (created with mode 0700 when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Token lifetime.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub ttl: String,
    /// ServiceAccount of the Connector's namespace the token is for.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub subject: String,
    /// Mount-time parameters as JSON keyed by configuration name.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// Mount even when the Connector is not Ready.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(clap::Args, Debug)]
pub struct CrdsArgs {
    /// Write one file per CRD into this directory instead of printing.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ClassesArgs {
    #[command(subcommand)]
    pub action: Option<ClassesAction>,
}

#[derive(Subcommand, Debug)]
pub enum ClassesAction {
    /// List built-in classes (the default).
    List,
    /// Print the YAML of one built-in class.
    Show {
        /// Class name, e.g. git.
        name: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Manifest files or directories (searched recursively for .yaml, .yml
    /// and .json). Use - for standard input.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Print nothing on success.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Manifest files or directories holding the Connector (and any custom class).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Connector as NAMESPACE/NAME (NAME alone means namespace "default").
    /// Repeat for a multi-connector render.
    #[arg(long, value_name = "NS/NAME", required = true)]
    pub connector: Vec<String>,
    /// Configuration name(s) to render, comma-separated (e.g. gitconfig,gitlabconfig).
    /// `!FILE` drops a file from the result.
    #[arg(long, value_name = "NAME[,NAME]", required = true)]
    pub configuration: String,
    /// The client token to embed. Prefer --token-file: arguments are visible to other users.
    #[arg(
        long,
        value_name = "TOKEN",
        conflicts_with = "token_file",
        required_unless_present = "token_file"
    )]
    pub token: Option<String>,
    /// File holding the client token.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The Connector's proxy address (what status.proxy.httpAddress.url holds),
    /// e.g. http://c-gitlab.team-a.svc or http://127.0.0.1:7480/namespaces/team-a/connectors/gitlab.
    #[arg(long, value_name = "URL")]
    pub proxy_address: String,
    /// PEM file of the proxy CA (for kubeconfig and other HTTPS clients).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Mount-time configuration parameters as JSON keyed by configuration
    /// name, e.g. '{"settings":{"mirrorRepository":"maven-public"}}'.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// Output directory (created with mode 0700 when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
