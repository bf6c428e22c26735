//! The server's deploy recipe: `deploy/compose.yaml` as the real `docker compose config`
//! (Compose 2.40.3) resolves it — the released image (pinnable by digest), no build, every secret
//! a file mounted from deploy/secrets and none in the environment, the database password one file
//! that PostgreSQL and the server both read, so the next `up` opens the same volume — and
//! `cachebust serve --database-password-file` putting that file's password on the wire, as a
//! PostgreSQL server asking for it receives it, and never printing it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::root;
use crate::discovery::docker28;
use crate::support::github::free_port;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `docker compose config --format json` of deploy/compose.yaml (copied to a fresh directory)
/// with only `env` set.
fn compose_config(env: &[(&str, &str)]) -> Option<Result<Value, String>> {
    let (bin, config) = docker28()?;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("deploy")).unwrap();
    std::fs::copy(
        root().join("deploy/compose.yaml"),
        tmp.path().join("deploy/compose.yaml"),
    )
    .unwrap();
    let mut c = Command::new(bin);
    c.args([
        "compose",
        "-f",
        "deploy/compose.yaml",
        "config",
        "--format",
        "json",
    ])
    .current_dir(tmp.path())
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("HOME", tmp.path())
    .env("DOCKER_CONFIG", config);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Some(if o.status.success() {
        Ok(serde_json::from_slice(&o.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    })
}

#[test]
fn the_compose_file_runs_the_released_image_with_secrets_in_files() {
    // the App id alone: no password to make up (and lose) on the command line
    let Some(c) = compose_config(&[("CACHEBUST_APP_ID", "123456")]) else {
        return;
    };
    let c = c.unwrap();
    let server = &c["services"]["server"];
    let db = &c["services"]["db"];
    assert_eq!(
        server["image"],
        format!("ghcr.io/cachebust/cachebust:{VERSION}")
    );
    for (name, s) in c["services"].as_object().unwrap() {
        assert!(
            s.get("build").is_none(),
            "service {name} builds from source"
        );
        for (k, v) in s["environment"].as_object().into_iter().flatten() {
            assert!(
                !matches!(
                    k.as_str(),
                    "POSTGRES_PASSWORD"
                        | "CACHEBUST_WEBHOOK_SECRET"
                        | "CACHEBUST_PRIVATE_KEY"
                        | "CACHEBUST_GITHUB_TOKEN"
                ),
                "service {name}: the secret {k} is in the environment"
            );
            // a URL's user information may name a user, never a password
            let v = v.as_str().unwrap_or("");
            if let Some((_, rest)) = v.split_once("://") {
                let authority = rest.split('/').next().unwrap();
                if let Some((user, _)) = authority.rsplit_once('@') {
                    assert!(!user.contains(':'), "service {name}: {k} holds a password");
                }
            }
        }
    }
    // one password file: PostgreSQL sets it on the volume's first start, the server reads it
    let secret_target = |s: &Value, source: &str| -> Option<String> {
        s["secrets"]
            .as_array()?
            .iter()
            .find(|x| x["source"] == source)
            .map(|x| x["target"].as_str().unwrap().to_string())
    };
    let in_server = secret_target(server, "postgres_password").expect("the server's secret");
    let in_db = secret_target(db, "postgres_password").expect("the database's secret");
    assert_eq!(
        server["environment"]["CACHEBUST_DATABASE_PASSWORD_FILE"],
        in_server.as_str()
    );
    assert_eq!(db["environment"]["POSTGRES_PASSWORD_FILE"], in_db.as_str());
    assert!(
        c["secrets"]["postgres_password"]["file"]
            .as_str()
            .unwrap()
            .ends_with("/deploy/secrets/postgres-password")
    );
    assert_eq!(
        server["environment"]["CACHEBUST_DATABASE"],
        "postgres://cachebust@db:5432/cachebust"
    );
    for (secret, file) in [
        ("github_app_key", "CACHEBUST_PRIVATE_KEY_FILE"),
        ("webhook_secret", "CACHEBUST_WEBHOOK_SECRET_FILE"),
    ] {
        assert_eq!(
            server["environment"][file],
            secret_target(server, secret).unwrap().as_str()
        );
    }
    // pinned by digest through one variable
    let pinned = format!(
        "ghcr.io/cachebust/cachebust:{VERSION}@sha256:{}",
        "a".repeat(64)
    );
    let c = compose_config(&[("CACHEBUST_APP_ID", "1"), ("CACHEBUST_IMAGE", &pinned)])
        .unwrap()
        .unwrap();
    assert_eq!(c["services"]["server"]["image"], pinned.as_str());
    // without the App id it says what is missing
    let e = compose_config(&[]).unwrap().unwrap_err();
    assert!(e.contains("set CACHEBUST_APP_ID"), "{e}");
}

/// A PostgreSQL server on loopback that asks for a cleartext password and refuses it: records
/// each password it receives.
fn password_recorder() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut conversation = || -> std::io::Result<()> {
                let mut head = [0u8; 8];
                s.read_exact(&mut head)?;
                let mut len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
                let code = u32::from_be_bytes(head[4..].try_into().unwrap());
                // SSLRequest or GSSENCRequest: not here, then the startup message
                if len == 8 && (code == 80_877_103 || code == 80_877_104) {
                    s.write_all(b"N")?;
                    s.read_exact(&mut head)?;
                    len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
                }
                let mut rest = vec![0u8; len.saturating_sub(8)];
                s.read_exact(&mut rest)?;
                // AuthenticationCleartextPassword
                s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
                let mut t = [0u8; 5];
                s.read_exact(&mut t)?;
                assert_eq!(t[0], b'p', "a PasswordMessage");
                let n = u32::from_be_bytes(t[1..].try_into().unwrap()) as usize;
                let mut pw = vec![0u8; n - 4];
                s.read_exact(&mut pw)?;
                assert_eq!(pw.pop(), Some(0));
                seen.lock().unwrap().push(pw);
                let mut fields = Vec::new();
                for (k, v) in [
                    (b'S', "FATAL"),
                    (b'V', "FATAL"),
                    (b'C', "28P01"),
                    (
                        b'M',
                        "password authentication failed for user \"cachebust\"",
                    ),
                ] {
                    fields.push(k);
                    fields.extend_from_slice(v.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut e = vec![b'E'];
                e.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                e.extend_from_slice(&fields);
                s.write_all(&e)
            };
            let _ = conversation();
        }
    });
    (port, got)
}

#[test]
fn the_database_password_comes_from_its_file_and_is_never_printed() {
    let (pg, got) = password_recorder();
    let tmp = tempfile::tempdir().unwrap();
    // what `openssl rand -base64` or a person might write: characters a URL reserves, and the
    // newline an editor adds
    let password = "p@ss:w/rd?#%+é";
    let file = tmp.path().join("postgres-password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachebust"))
        .arg("serve")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("CACHEBUST_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "CACHEBUST_DATABASE",
            format!("postgres://cachebust@127.0.0.1:{pg}/cachebust"),
        )
        .env("CACHEBUST_DATABASE_PASSWORD_FILE", &file)
        .env("CACHEBUST_WEBHOOK_SECRET", "whsec")
        .env("CACHEBUST_GITHUB_TOKEN", "ghs_token")
        .env("CACHEBUST_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the server neither connected nor gave up");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(status.code(), Some(2), "{all}");
    let got = got.lock().unwrap();
    assert!(!got.is_empty(), "no password reached the database: {all}");
    assert!(
        got.iter().all(|p| p == password.as_bytes()),
        "the database got {:?}",
        got.iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
    );
    assert!(all.contains("password authentication failed"), "{all}");
    for piece in [password, "p@ss", "p%40ss", "w/rd"] {
        assert!(!all.contains(piece), "{piece:?} was printed: {all}");
    }

    // a URL with a password of its own and a file: refused, neither printed
    let o = Command::new(env!("CARGO_BIN_EXE_cachebust"))
        .arg("serve")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("CACHEBUST_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "CACHEBUST_DATABASE",
            format!("postgres://cachebust:other-secret@127.0.0.1:{pg}/cachebust"),
        )
        .env("CACHEBUST_DATABASE_PASSWORD_FILE", &file)
        .env("CACHEBUST_WEBHOOK_SECRET", "whsec")
        .env("CACHEBUST_GITHUB_TOKEN", "ghs_token")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(2), "{all}");
    assert!(all.contains("--database has a password already"), "{all}");
    assert!(
        !all.contains("other-secret") && !all.contains(password),
        "{all}"
    );
    assert!(Path::new(&file).is_file());
}
