//! The `cachebust` binary: parse the command line, run the command, map the outcome to the exit
//! status (0 done, 1 `--fail-on` exceeded, 2 usage or I/O error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cachebust::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cachebust::cli::run(cli) {
        Ok(cachebust::cli::Exit::Ok) => ExitCode::SUCCESS,
        Ok(cachebust::cli::Exit::FailOn) => ExitCode::from(1),
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("cachebust: error: {msg}");
            ExitCode::from(2)
        }
    }
}
