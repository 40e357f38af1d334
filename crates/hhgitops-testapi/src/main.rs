//! `hhgitops-testapi`: runs the test API server until interrupted and prints the path of its kubeconfig, for
//! manual `kubectl` sessions against the Hedgehog CRDs.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hhgitops_testapi::{ServerOptions, TestApiServer};

/// Serve the Kubernetes API for a directory of CRDs, in memory, until interrupted.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Directory of CustomResourceDefinition YAML files.
    #[arg(long, value_name = "DIR")]
    crds: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the kubeconfig (default: a file in the temporary directory, removed on exit).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Bearer token to require (default: random).
    #[arg(long)]
    token: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = TestApiServer::start_with(ServerOptions {
        crds_dir: args.crds.clone(),
        listen: args.listen,
        token: args.token,
    })
    .with_context(|| format!("starting the test API server for {}", args.crds.display()))?;
    let (path, temporary) = match args.kubeconfig {
        Some(p) => (p, false),
        None => (
            std::env::temp_dir().join(format!(
                "hhgitops-testapi-{}.kubeconfig",
                server.addr().port()
            )),
            true,
        ),
    };
    server
        .write_kubeconfig(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    eprintln!(
        "serving {} ; export KUBECONFIG={}",
        server.url(),
        path.display()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    runtime
        .block_on(stopped())
        .context("waiting for a signal")?;
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    server.shutdown();
    Ok(())
}

/// Resolves on SIGINT, or SIGTERM where there is one.
async fn stopped() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
