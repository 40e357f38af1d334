//! Command-line definition (SPEC §7).

use std::path::PathBuf;

use clap::{ArgAction, Args as ClapArgs, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hhgitops",
    version,
    about = "GitOps for Hedgehog Open Network Fabric",
    propagate_version = true
)]
pub struct Args {
    /// Home directory: database and Git clones [default: $XDG_DATA_HOME/hhgitops or ~/.local/share/hhgitops]
    #[arg(long, global = true, env = "HHGITOPS_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB [default: SQLite in the home]
    #[arg(
        long,
        global = true,
        env = "HHGITOPS_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    /// More log output (-v, -vv)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(flatten)]
    pub settings: SettingArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The operational settings (README "Settings"): each flag overrides its `HHGITOPS_*` variable; both are read
/// by `hhgitops_engine::Settings::resolve`, never here.
#[derive(Debug, ClapArgs)]
#[command(next_help_heading = "Settings (each also from its HHGITOPS_* variable)")]
pub struct SettingArgs {
    /// Wait this long for another operation on the same fabric (e.g. 60, 0.5, 2m) [env: HHGITOPS_LOCK_TIMEOUT; default: 60s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Time one request to a fabric's Kubernetes API may take [env: HHGITOPS_KUBE_TIMEOUT; default: 30s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub kube_timeout: Option<String>,
    /// Requests in flight at once to a fabric's Kubernetes API [env: HHGITOPS_KUBE_CONCURRENCY; default: 8]
    #[arg(long, global = true, value_name = "N")]
    pub kube_concurrency: Option<String>,
    /// Author and committer of hhgitops' commits, "Name <email>" [env: HHGITOPS_GIT_AUTHOR]
    #[arg(long, global = true, value_name = "AUTHOR")]
    pub git_author: Option<String>,
    /// Commits of at least N changed files are built with Git's plumbing [env: HHGITOPS_GIT_BULK_MIN; default: 128]
    #[arg(long, global = true, value_name = "N", hide = true)]
    pub git_bulk_min: Option<String>,
    /// Largest raw file (and upload) accepted, in bytes [env: HHGITOPS_MAX_FILE_SIZE; default: 8 MiB]
    #[arg(long, global = true, value_name = "BYTES")]
    pub max_file_size: Option<String>,
    /// Fabrics worked on at the same time (ingest --all, watchers) [env: HHGITOPS_JOBS; default: 4]
    #[arg(long, global = true, value_name = "N")]
    pub jobs: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, list, show and remove fabrics
    #[command(subcommand)]
    Fabric(FabricCommand),
    /// Create the GitOps layout of a fabric (never overwrites or deletes)
    Init(InitArgs),
    /// Ingest raw/ files into managed/
    Ingest(IngestArgs),
    /// Validate files offline, as one fabric state
    Validate(ValidateArgs),
    /// Fill in what hhfab's hydration fills in (switch and gateway addresses, ASNs, link /31s)
    Hydrate(HydrateArgs),
    /// Pending and rejected raw files, counts per kind, last runs
    Status(StatusArgs),
    /// Delete one managed object (KIND/NAME)
    Delete(DeleteArgs),
    /// Pull, ingest, commit, push and apply to the fabric's Kubernetes API
    Sync(SyncArgs),
    /// Compare managed objects with the cluster
    Drift(DriftArgs),
    /// Import the cluster's Hedgehog objects into managed/
    Import(ImportArgs),
    /// Add a fabric from a Git repository: clone, migrate, ingest, commit, push
    Onboard(OnboardArgs),
    /// Rebuild the database index from the GitOps tree
    Reindex(FabricArg),
    /// HTTP API and web UI
    Serve(ServeArgs),
    /// API tokens: create (shown once), list, revoke
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and only its SHA-256 is stored
    Create(TokenCreateArgs),
    /// List tokens (never the tokens themselves)
    List(JsonArg),
    /// Revoke a token
    Revoke(FabricNameArg),
}

#[derive(Debug, ClapArgs)]
pub struct TokenCreateArgs {
    /// Token name (recorded as the actor of what it does)
    #[arg(long)]
    pub name: String,
    /// read (every GET), write (upload, validate, jobs, deletes), admin (fabrics, tokens)
    #[arg(long, value_parser = ["read", "write", "admin"])]
    pub scope: String,
    /// Lifetime, e.g. 30d, 12h [default: no expiry]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum FabricCommand {
    /// Register a fabric and initialize its layout
    Add(FabricAddArgs),
    /// Change a fabric's Kubernetes target, hydration mode or fabric configuration
    Set(FabricSetArgs),
    /// List registered fabrics
    List(JsonArg),
    /// Show one fabric, its resolved GitOps root and the rule that chose it
    Show(FabricShowArgs),
    /// Unregister a fabric (its files are never deleted)
    Remove(FabricNameArg),
}

#[derive(Debug, ClapArgs)]
pub struct ServerFabricArgs {
    /// How often `serve` syncs this fabric, e.g. 10m ("" or "off": never)
    #[arg(long, value_name = "DURATION")]
    pub sync_interval: Option<String>,
    /// Environment variable holding the secret of Git webhooks for this fabric ("" clears it)
    #[arg(long, value_name = "VAR")]
    pub webhook_secret_env: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct FabricAddArgs {
    /// Fabric name (RFC 1123 label, at most 63 characters)
    pub name: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Kubeconfig file of the fabric's cluster
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    #[command(flatten)]
    pub server: ServerFabricArgs,
    #[command(flatten)]
    pub options: FabricOptionArgs,
}

/// Options `fabric add` and `fabric set` share.
#[derive(Debug, ClapArgs)]
pub struct FabricOptionArgs {
    /// Hydrate raw files during ingestion: never (default) or if-missing
    #[arg(long, value_name = "MODE", value_parser = ["never", "if-missing"])]
    pub hydrate: Option<String>,
    /// The fabric controller's configuration (the config.yaml key of ConfigMap fab/fabric-ctrl-config)
    #[arg(long, value_name = "FILE")]
    pub fabric_config: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct FabricSetArgs {
    /// Fabric name
    pub name: String,
    /// Kubeconfig file of the fabric's cluster
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// GitOps root folder (cannot be changed: remove and add the fabric instead)
    #[arg(long, value_name = "DIR", hide = true)]
    pub path: Option<PathBuf>,
    /// Git remote (cannot be changed: remove and add the fabric instead)
    #[arg(long, value_name = "URL", hide = true)]
    pub git_url: Option<String>,
    #[command(flatten)]
    pub server: ServerFabricArgs,
    #[command(flatten)]
    pub options: FabricOptionArgs,
}

#[derive(Debug, ClapArgs)]
pub struct HydrateArgs {
    /// Allocate around what this fabric's managed state already uses, with its settings
    #[arg(long, value_name = "NAME")]
    pub fabric: Option<String>,
    /// hhfab's fab.yaml: its settings and the control and gateway nodes that come first in the management range
    #[arg(long, value_name = "FAB.YAML")]
    pub fab: Option<PathBuf>,
    /// The fabric controller's configuration to take the settings from (without --fabric)
    #[arg(long, value_name = "FILE", conflicts_with = "fabric")]
    pub fabric_config: Option<PathBuf>,
    /// Wiring files, hydrated together
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the hydrated documents to OUT instead of stdout
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print a JSON report (with the hydrated documents unless -o is given)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct SourceArgs {
    /// GitOps root folder
    #[arg(long, value_name = "DIR", conflicts_with_all = ["git_url", "branch", "git_path", "git_token_env"])]
    pub path: Option<PathBuf>,
    /// Git remote holding the GitOps root
    #[arg(long, value_name = "URL")]
    pub git_url: Option<String>,
    /// Branch of the remote [default: the remote's default branch]
    #[arg(long, value_name = "B", requires = "git_url")]
    pub branch: Option<String>,
    /// Folder of the GitOps root inside the repository [default: fabrics/<fabric>/gitops]
    #[arg(long, value_name = "P", requires = "git_url")]
    pub git_path: Option<String>,
    /// Environment variable holding an HTTPS token for the remote
    #[arg(long, value_name = "VAR", requires = "git_url")]
    pub git_token_env: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct JsonArg {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct FabricShowArgs {
    pub name: String,
    /// Read the fabric configuration from the cluster first (fabrics with a Kubernetes target)
    #[arg(long)]
    pub refresh: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct FabricNameArg {
    pub name: String,
}

#[derive(Debug, ClapArgs)]
#[group(required = true, multiple = false)]
pub struct FabricSelect {
    /// The fabric to work on
    #[arg(long, value_name = "NAME")]
    pub fabric: Option<String>,
    /// Every registered fabric
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, ClapArgs)]
pub struct InitArgs {
    #[command(flatten)]
    pub select: FabricSelect,
    /// Report what is missing or wrong (exit 1 if anything) and change nothing
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Say what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also move loose YAML files found outside raw/ into raw/ (see them first with --dry-run --migrate)
    #[arg(long, conflicts_with = "check")]
    pub migrate: bool,
}

#[derive(Debug, ClapArgs)]
pub struct IngestArgs {
    #[command(flatten)]
    pub select: FabricSelect,
    /// Ingest one file (a file outside raw/ is copied into raw/ first)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Keep watching raw/ and ingest files as they arrive
    #[arg(long, conflicts_with = "file")]
    pub watch: bool,
    /// With --watch: poll every INTERVAL (e.g. 2s, 500ms) instead of file-system events
    #[arg(long, value_name = "INTERVAL", requires = "watch")]
    pub poll: Option<String>,
    /// With --watch: how long a file must stay unchanged before it is taken (e.g. 100ms)
    #[arg(long, value_name = "INTERVAL", requires = "watch")]
    pub debounce: Option<String>,
    /// Report what would happen and write nothing
    #[arg(long, conflicts_with = "watch")]
    pub dry_run: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct ValidateArgs {
    /// Validate against (and merged over) this fabric's managed state
    #[arg(long, value_name = "NAME")]
    pub fabric: Option<String>,
    /// Validate with the settings of this fabric controller configuration (config.yaml of fab/fabric-ctrl-config)
    #[arg(long, value_name = "FILE")]
    pub fabric_config: Option<PathBuf>,
    /// Files to validate as one fabric state
    pub files: Vec<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Print each object as the fabric will store it (after its mutating webhook: defaults, sorted lists,
    /// derived labels) instead of validating the files as one state
    #[arg(long, conflicts_with = "json")]
    pub show_defaulted: bool,
}

#[derive(Debug, ClapArgs)]
pub struct StatusArgs {
    #[arg(long, value_name = "NAME")]
    pub fabric: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct DeleteArgs {
    #[arg(long, value_name = "NAME")]
    pub fabric: String,
    /// The object, as KIND/NAME (e.g. VPC/vpc-1 or vpcs/vpc-1)
    pub object: String,
}

#[derive(Debug, ClapArgs)]
pub struct SyncArgs {
    #[arg(long, value_name = "NAME")]
    pub fabric: String,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Delete objects labelled as this fabric's that are no longer managed
    #[arg(long)]
    pub prune: bool,
    /// Take over objects in Git whose cluster copy carries another fabric's label (otherwise: conflicts)
    #[arg(long)]
    pub adopt: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct DriftArgs {
    #[arg(long, value_name = "NAME")]
    pub fabric: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct ImportArgs {
    #[arg(long, value_name = "NAME")]
    pub fabric: String,
    /// Import from the fabric's cluster
    #[arg(long, required = true)]
    pub from_cluster: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct OnboardArgs {
    /// Fabric name
    pub name: String,
    /// Git remote holding the GitOps root
    #[arg(long, value_name = "URL")]
    pub git_url: String,
    #[arg(long, value_name = "B")]
    pub branch: Option<String>,
    #[arg(long, value_name = "P")]
    pub git_path: Option<String>,
    #[arg(long, value_name = "VAR")]
    pub git_token_env: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct FabricArg {
    #[arg(long, value_name = "NAME")]
    pub fabric: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed)
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "HHGITOPS_LISTEN"
    )]
    pub listen: String,
    /// TLS certificate chain (PEM)
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "HHGITOPS_TLS_CERT"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "HHGITOPS_TLS_KEY"
    )]
    pub tls_key: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"], env = "HHGITOPS_LOG_FORMAT")]
    pub log_format: String,
    /// Sync every fabric this often unless it has its own interval (e.g. 10m) [env: HHGITOPS_SYNC_INTERVAL; default: off]
    #[arg(long, value_name = "DURATION")]
    pub sync_interval: Option<String>,
    /// /metrics needs a token (read scope)
    #[arg(long, env = "HHGITOPS_METRICS_TOKEN_REQUIRED")]
    pub metrics_token_required: bool,
    /// Do not watch raw/ folders
    #[arg(long)]
    pub no_watch: bool,
    /// Poll raw/ every INTERVAL instead of file-system events (e.g. 2s)
    #[arg(long, value_name = "INTERVAL")]
    pub poll: Option<String>,
    /// Jobs run at once (one per fabric); 0: serve the API and run no jobs (other replicas run them)
    #[arg(long, value_name = "N", default_value_t = 4, env = "HHGITOPS_WORKERS")]
    pub workers: usize,
    /// How long running jobs get to reach a safe point on SIGTERM/SIGINT, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub shutdown_grace: u64,
}

/// The fabrics `--fabric NAME` or `--all` names.
pub async fn selected_fabrics(
    engine: &hhgitops_engine::Engine,
    select: &FabricSelect,
) -> Result<Vec<hhgitops_engine::fabric::Fabric>, hhgitops_engine::Error> {
    match (&select.fabric, select.all) {
        (Some(name), _) => Ok(vec![engine.fabric(name).await?]),
        (None, true) => engine.fabrics().await,
        (None, false) => Err(hhgitops_engine::Error::usage("give --fabric NAME or --all")),
    }
}
