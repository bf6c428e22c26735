//! The `cachebust` binary: parse the command line, run the command of the shell it belongs to
//! (`cli`, `action`, `server`), map the outcome to the exit status (0 done, 1 `--fail-on`
//! exceeded, 2 usage or I/O error).

use std::process::ExitCode;

use cachebust::shell::{ERROR_CODE, error_line, usage_error};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// jemalloc instead of the C library's allocator: a prediction makes and drops many small
/// strings and vectors, and with glibc's malloc a third of `history`'s time went to allocating
/// (musl's, in the static release binaries, is slower still). It keeps the server's memory
/// budgets: its heap is `mmap`ed read-write, so `RLIMIT_DATA` confines an analysis process, and
/// freed memory is reused, so held request bodies stay within their budget. mimalloc was tried
/// and failed both (`tests/integration/server.rs`). Measured in docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "cachebust",
    version,
    about = "Reviews changes for Docker build-cache damage: predicts which BuildKit cache entries a change misses, before any build."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Cli(cachebust::cli::Command),
    /// Run as a GitHub Action: analyse the event's commits and review the pull request.
    #[command(long_about = cachebust::action::ACTION_ABOUT)]
    Action(cachebust::action::ActionArgs),
    /// Run the GitHub App server: verified webhooks, a durable queue, the same review.
    #[command(long_about = cachebust::server::SERVE_ABOUT)]
    Serve(cachebust::server::ServeArgs),
    /// One analysis for `serve`, which starts it (not for use by hand).
    #[command(name = cachebust::adapters::process::COMMAND, hide = true)]
    AnalysisProcess(cachebust::server::AnalysisProcessArgs),
}

fn main() -> ExitCode {
    let cli = match cachebust::cli::with_rule_catalog(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::from(0);
        }
        Err(e) => {
            // clap quotes the argument it stumbled on: a secret pasted onto the command line
            // must not reach the logs
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let unexpected = e.kind() == clap::error::ErrorKind::UnknownArgument;
            eprint!(
                "{}",
                usage_error(&e.render().to_string(), &args, unexpected)
            );
            return ExitCode::from(ERROR_CODE);
        }
    };
    let outcome = match cli.command {
        Command::Cli(c) => cachebust::cli::run(c),
        Command::Action(a) => cachebust::action::run(a.dry_run),
        Command::Serve(a) => cachebust::server::run(a),
        Command::AnalysisProcess(a) => cachebust::server::run_analysis_process(a),
    };
    match outcome {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("{}", error_line(&e));
            ExitCode::from(ERROR_CODE)
        }
    }
}
