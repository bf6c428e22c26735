//! The `cachebust` binary: parse the command line, run the command of the shell it belongs to
//! (`cli`, `action`, `server`), map the outcome to the exit status (0 done, 1 `--fail-on`
//! exceeded, 2 usage or I/O error).

use std::process::ExitCode;

use cachebust::shell::{ERROR_CODE, error_line};
use clap::{Parser, Subcommand};

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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { ERROR_CODE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
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
