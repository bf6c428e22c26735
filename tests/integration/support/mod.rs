//! Test helpers: temporary trees, the real Docker daemon, running the analysis in-process.

pub mod corpus;
pub mod docker;
pub mod github;
pub mod proofs;
pub mod realtools;
pub mod trees;

/// Runs `cmd` (stdin closed, output captured), killing it past `deadline`: a test never hangs on
/// the binary. `what` names it in the panic.
pub fn output_within(
    mut cmd: std::process::Command,
    what: &str,
    deadline: std::time::Duration,
) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(o) => o.unwrap_or_else(|e| panic!("running {what}: {e}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what} did not end within {deadline:?}");
        }
    }
}
