//! Command line: `sofgate serve` runs the gateway; `sofgate index` and
//! `sofgate scrub` prepare and check a volume; `sofgate testfs` mounts the
//! FUSE test filesystem.

// Nothing derived from a request or from disk may panic (issue 11): no
// unwrap/expect outside tests, or a written reason where one cannot fail.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sofgate::config::Config;
use sofgate::swift::App;

#[derive(Parser)]
#[command(
    version,
    about = "OpenStack Swift API served straight onto a shared filesystem"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the Swift API (with no config: ./data and the tempauth test users).
    Serve {
        /// TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding the config (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Device path of the default policy, overriding the config.
        #[arg(long)]
        device: Option<PathBuf>,
    },
    /// Give every file without fresh metadata its metadata (MD5,
    /// Content-Type, timestamp), beside running gateways; resumable.
    Index {
        /// TOML config file (default: the embedded one, device ./data).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        /// ACCOUNT or ACCOUNT/CONTAINER (default: everything).
        target: Option<String>,
    },
    /// Check every object's content against its ETag and length, and find
    /// leftovers; exits 2 when problems remain, 1 on errors.
    Scrub {
        /// TOML config file (default: the embedded one, device ./data).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        /// Quarantine mismatches, orphan sidecars and files with bad long
        /// names; re-derive unreadable metadata; remove orphan temp files.
        #[arg(long)]
        fix: bool,
        /// ACCOUNT or ACCOUNT/CONTAINER (default: everything).
        target: Option<String>,
    },
    /// Mount a passthrough view of DIR at MOUNTPOINT with counters and fault
    /// injection (see the control file); runs until unmounted or signalled.
    Testfs {
        /// Backing directory holding the real files.
        #[arg(long, value_name = "DIR")]
        backing: PathBuf,
        /// Per-file room for user.* xattrs (name + 1 + value each); ext4 is about 4096.
        #[arg(long, value_name = "BYTES")]
        xattr_room: Option<usize>,
        /// Name of the control file at the mount root (default .testfs-control).
        #[arg(long, value_name = "NAME")]
        control: Option<PathBuf>,
        /// Where to mount.
        mountpoint: PathBuf,
    },
}

/// Options of `index` and `scrub`.
#[derive(clap::Args)]
struct RunArgs {
    /// Files hashed at once (default: one per CPU).
    #[arg(long)]
    jobs: Option<usize>,
    /// Bytes of file data read per second, at most (K, M, G: powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = sofgate::admin::parse_rate)]
    max_rate: Option<u64>,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    fn opts(&self) -> sofgate::admin::RunOpts {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        sofgate::admin::RunOpts {
            jobs: self.jobs.unwrap_or(cpus).max(1),
            max_rate: self.max_rate,
        }
    }
}

fn main() {
    limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SOFGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Serve {
            config,
            listen,
            device,
        } => serve(config, listen, device),
        Cmd::Index {
            config,
            run,
            target,
        } => index(config, &run, target),
        Cmd::Scrub {
            config,
            run,
            fix,
            target,
        } => scrub(config, &run, fix, target),
        Cmd::Testfs {
            backing,
            xattr_room,
            control,
            mountpoint,
        } => sofgate::testfs::run(sofgate::testfs::Options {
            backing,
            mountpoint,
            xattr_room,
            control,
        })
        .map_err(|e| format!("testfs: {e}")),
    };
    if let Err(e) = result {
        eprintln!("sofgate: {e}");
        std::process::exit(1);
    }
}

fn serve(
    config: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    device: Option<PathBuf>,
) -> Result<(), String> {
    // Modes come from the config exactly, not masked by the caller's umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let embedded = config.is_none();
    let mut cfg = match &config {
        Some(p) => Config::load(p)?,
        None => Config::embedded(),
    };
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(d) = device {
        let i = cfg.policies.iter().position(|p| p.default).unwrap_or(0);
        cfg.policies[i].device = d;
    }
    if embedded {
        for p in &cfg.policies {
            std::fs::create_dir_all(&p.device)
                .map_err(|e| format!("{}: {e}", p.device.display()))?;
        }
        // No published secret: one of this device's own, kept on it.
        let i = cfg.policies.iter().position(|p| p.default).unwrap_or(0);
        if let Some(p) = cfg.policies.get(i) {
            cfg.auth.secret = sofgate::config::device_secret(&p.device)?;
        }
    }
    let reap_after = std::time::Duration::from_secs(cfg.storage.reap_temp_after_secs);
    let devices: Vec<PathBuf> = cfg.policies.iter().map(|p| p.device.clone()).collect();
    sofgate::http::body::set_inline_reads(cfg.storage.quick_reads);
    let blocking_threads = cfg.server.max_blocking_threads;
    let workers = worker_threads(cfg.server.worker_threads, &devices);
    let app = Arc::new(App::new(cfg)?);
    if app.cfg.metrics.enabled {
        sofgate::metrics::install(app.cfg.policies.len(), app.store.stats.clone());
    }

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        rt.worker_threads(workers);
    }
    let rt = rt
        .enable_all()
        .max_blocking_threads(blocking_threads)
        .build()
        .map_err(|e| e.to_string())?;
    let served = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(app.cfg.listen)
            .await
            .map_err(|e| format!("listen on {}: {e}", app.cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("sofgate listening on http://{addr}");
        if let (true, Some(at)) = (app.cfg.metrics.enabled, app.cfg.metrics.listen) {
            let l = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("[metrics] listen on {at}: {e}"))?;
            let at = l.local_addr().map_err(|e| e.to_string())?;
            println!("metrics at http://{at}{}", sofgate::metrics::listen::PATH);
            sofgate::metrics::listen::spawn(l);
        }
        println!("auth URL: http://{addr}/auth/v1.0");
        if embedded {
            for u in &app.cfg.auth.users {
                println!(
                    "  user {}:{} key {}{}",
                    u.account,
                    u.user,
                    u.key,
                    if u.admin { " (.admin)" } else { "" }
                );
            }
            println!("try: swift -A http://{addr}/auth/v1.0 -U test:tester -K testing stat");
        }
        tokio::task::spawn_blocking(move || {
            for d in devices {
                let n = sofgate::store::container::reap_temp_files(&d, reap_after);
                if n > 0 {
                    tracing::info!("removed {n} stale temp files under {}", d.display());
                }
            }
        });
        sofgate::swift::expirer::spawn(app.clone());
        sofgate::admin::background::spawn(app.clone());
        spawn_heap_trim();
        let settings = app.server_settings();
        sofgate::http::server::serve(listener, app, settings, shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    // Requests dropped at the end of the grace may still be removing their
    // temp files in blocking tasks: those finish before the process exits
    // (bounded, in case a filesystem call hangs).
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    served
}

/// Prints a summary as JSON (with `--json`) or for people.
fn report<T: serde::Serialize>(json: bool, s: &T, human: impl FnOnce(&T)) -> Result<(), String> {
    if json {
        println!("{}", serde_json::to_string(s).map_err(|e| e.to_string())?);
    } else {
        human(s);
    }
    Ok(())
}

fn index(config: Option<PathBuf>, run: &RunArgs, target: Option<String>) -> Result<(), String> {
    use sofgate::admin::{self, index, progress::Progress};
    let (_, store) = admin::open_store(config.as_deref())?;
    let scope = admin::Scope::parse(target.as_deref(), &store)?;
    let progress = Progress::new("index", true);
    let s = index::run(&store, &scope, &run.opts(), &progress)?;
    report(run.json, &s, index::print)?;
    if s.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn scrub(
    config: Option<PathBuf>,
    run: &RunArgs,
    fix: bool,
    target: Option<String>,
) -> Result<(), String> {
    use sofgate::admin::{self, progress::Progress, scrub};
    let (cfg, store) = admin::open_store(config.as_deref())?;
    let scope = admin::Scope::parse(target.as_deref(), &store)?;
    let opts = scrub::ScrubOpts {
        fix,
        reap_after: std::time::Duration::from_secs(cfg.storage.reap_temp_after_secs.max(1)),
    };
    let progress = Progress::new("scrub", true);
    let s = scrub::run(&store, &scope, &run.opts(), opts, &progress)?;
    report(run.json, &s, scrub::print)?;
    if s.errors > 0 {
        std::process::exit(1);
    }
    if s.problems_left() > 0 {
        std::process::exit(2);
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            None
        }
    };
    let sigterm = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = sigterm => {}
    }
    tracing::info!("stopping: no new connections, finishing requests in flight");
}

/// Hands the heap's free pages back to the kernel every few seconds. A burst
/// of concurrent listings leaves their peak in glibc's arenas, freed but
/// resident (RSS stayed near 110 MB after 100 10k-object listings over 8
/// connections); `malloc_trim` releases it, taking each arena's lock for
/// about a millisecond per 100 MB.
fn spawn_heap_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // SAFETY: a plain glibc call; it only releases free memory.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
}

/// Caps glibc's malloc arenas (unless `MALLOC_ARENA_MAX` says otherwise).
/// By default each thread that allocates may get an arena of its own, up to
/// eight per core, and a listing's garbage stays in whichever arena its
/// blocking thread used: RSS grew to 231 MB after repeated 10k listings,
/// and stays near 35 MB with two arenas.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a plain glibc tunable, set before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Async worker threads: as configured, or (0) one per core, except on a
/// network or FUSE filesystem, where the quick read path's calls wait for
/// round trips: then at least [`REMOTE_WORKERS`] (measured on GlusterFS:
/// 4 KiB GET at 16 connections 1.75x, HEAD at 64 connections 4x the
/// throughput of two workers).
fn worker_threads(configured: usize, devices: &[PathBuf]) -> usize {
    const REMOTE_WORKERS: usize = 16;
    if configured > 0 {
        return configured;
    }
    match devices
        .iter()
        .find(|d| sofgate::store::fstype::is_remote(d))
    {
        Some(d) => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let n = cores.max(REMOTE_WORKERS);
            tracing::info!(
                "{} is a network or FUSE filesystem: {n} async workers",
                d.display()
            );
            n
        }
        None => 0,
    }
}
