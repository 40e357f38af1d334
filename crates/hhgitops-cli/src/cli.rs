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

    #[command(subcommand)]
    pub command: Command,
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
}

#[derive(Debug, Subcommand)]
pub enum FabricCommand {
    /// Register a fabric and initialize its layout
    Add(FabricAddArgs),
    /// List registered fabrics
    List(JsonArg),
    /// Show one fabric, its resolved GitOps root and the rule that chose it
    Show(FabricShowArgs),
    /// Unregister a fabric (its files are never deleted)
    Remove(FabricNameArg),
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
    /// Largest raw file accepted, in bytes [default: 8 MiB]
    #[arg(long, value_name = "BYTES", env = "HHGITOPS_MAX_FILE_SIZE")]
    pub max_file_size: Option<u64>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct ValidateArgs {
    /// Validate against (and merged over) this fabric's managed state
    #[arg(long, value_name = "NAME")]
    pub fabric: Option<String>,
    /// Files to validate as one fabric state
    pub files: Vec<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
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
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
}
