//! Real-BuildKit proofs of the fixes of CB001, CB002, CB003, CB005, CB007 and CB010 (issue 14),
//! on Docker 20.10 and Docker 28.5.2. For each fix kind cachebust computes the fix itself over the
//! tree (`check`), the original and the patched Dockerfile are each built for the base and the
//! head of a realistic change (fresh directories, pruned cache), and the test asserts that the
//! patched Dockerfile builds, that the files the program needs are in its final image
//! (`docker export`; for CB007 the runtime image is also run), and that the change rebuilds
//! fewer steps than with the original. Where a fix would break the build, the same kind of real
//! build shows it, and the test asserts cachebust does not offer it there (display-only, or no
//! fix, or the entry left out).
//!
//! The package managers are busybox shell scripts put in the image (no network): `npm ci`
//! installs from the lockfile and `npm run build` bundles `src/`; `dotnet restore PROJECT` needs
//! the project and the central `Directory.Packages.props`, `publish --no-restore` needs the
//! restored assets; `apt-get update` reads the "mirror" (the build secret `s`, standing for the
//! network, plus `/etc/apt/sources.list.d/*.list`) into the package lists and `apt-get install`
//! installs only what the lists have (`apt-cache policy` reads them too); `pip install` puts
//! requirements and the project into `/usr/local/lib/python3.12/site-packages` and the
//! project's console script into `/usr/local/bin`, and `python -m` runs a module from there.

use std::path::Path;

use cachebust::engine::fix::{Applicability, Fix};

use crate::buildkit::real_statuses;
use crate::fix_proofs::image_files;
use crate::support::docker::{self, Daemon, Docker};
use crate::support::proofs::{Files, dockerfile, finding_of, owned, patched, with_edits, write};

const NPM: &str = "@755 #!/bin/sh\n# a stand-in for npm: `ci` installs from the lockfile and runs package.json's prepare script (not with --ignore-scripts), `run build` bundles src/\nset -e\ncase \"$1\" in\nci) [ -f package.json ] && [ -f package-lock.json ] || { echo 'npm ERR! package.json and package-lock.json are needed' >&2; exit 1; }\n  mkdir -p node_modules/lib && cp package-lock.json node_modules/lib/lock\n  s=$(sed -n 's/.*\"prepare\": *\"\\([^\"]*\\)\".*/\\1/p' package.json)\n  case \" $* \" in *\" --ignore-scripts \"*) s= ;; esac\n  [ -z \"$s\" ] || sh -c \"$s\" ;;\nrun) [ -f node_modules/lib/lock ] || { echo 'npm ERR! node_modules is missing' >&2; exit 1; }\n  mkdir -p dist && cat src/*.js node_modules/lib/lock > dist/app.js ;;\nesac\n";

const DOTNET: &str = "@755 #!/bin/sh\n# a stand-in for dotnet: restore needs the project and the central package versions\nset -e\np=\"$2\"; d=$(dirname \"$p\")\ncase \"$1\" in\nrestore) [ -f \"$p\" ] || { echo \"MSB1009: Project file does not exist: $p\" >&2; exit 1; }\n  [ -f Directory.Packages.props ] || { echo 'error NU1015: PackageReference Lib has no version (Directory.Packages.props not found)' >&2; exit 1; }\n  mkdir -p \"$d/obj\" /root/.nuget/packages && cat \"$p\" Directory.Packages.props > \"$d/obj/project.assets.json\" && cp Directory.Packages.props /root/.nuget/packages/lib ;;\npublish) [ -f \"$d/obj/project.assets.json\" ] || { echo 'error NETSDK1004: Assets file not found; run a NuGet package restore' >&2; exit 1; }\n  mkdir -p /out && cat \"$d/Program.cs\" \"$d/obj/project.assets.json\" > /out/app ;;\nesac\n";

const APT_GET: &str = "@755 #!/bin/sh\n# a stand-in for apt-get: update reads the mirror (the build secret s, for the network, and the\n# sources in /etc/apt/sources.list.d) into the lists; install installs what the lists have\nset -e\nL=/var/lib/apt/lists\ncmd=\npkgs=\nfor a in \"$@\"; do\n  case \"$a\" in\n  -*) ;;\n  *) if [ -z \"$cmd\" ]; then cmd=$a; else pkgs=\"$pkgs $a\"; fi ;;\n  esac\ndone\ncase \"$cmd\" in\nupdate) mkdir -p $L; cat /run/secrets/s /etc/apt/sources.list.d/*.list > $L/index 2>/dev/null || true ;;\ninstall) for p in $pkgs; do grep -qx \"$p\" $L/index 2>/dev/null || { echo \"E: Unable to locate package $p\" >&2; exit 100; }\n  mkdir -p /usr/share/pkgs && echo \"$p\" > /usr/share/pkgs/$p; done ;;\nesac\n";

const APT_CACHE: &str = "@755 #!/bin/sh\n# a stand-in for apt-cache policy: reads the package lists\n[ \"$1\" = policy ] && grep -x \"$2\" /var/lib/apt/lists/index 2>/dev/null || { echo \"N: Unable to locate package $2\" >&2; exit 100; }\n";

const PIP: &str = "@755 #!/bin/sh\n# a stand-in for pip: requirements and the project go to site-packages, console scripts to /usr/local/bin\nset -e\nSP=/usr/local/lib/python3.12/site-packages\n[ \"$1\" = install ] || exit 1\nshift\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n  -r) shift; while read -r p; do [ -n \"$p\" ] && mkdir -p \"$SP/$p\" && echo \"$p\" > \"$SP/$p/__init__.py\"; done < \"$1\" ;;\n  -*) ;;\n  *) n=$(sed -n 's/^name = \"\\(.*\\)\"$/\\1/p' \"$1/pyproject.toml\"); mkdir -p \"$SP/$n\"; cp -r \"$1/src/$n/.\" \"$SP/$n/\"\n     printf '#!/bin/sh\\nexec python -m %s \"$@\"\\n' \"$n\" > \"/usr/local/bin/$n\"; chmod 755 \"/usr/local/bin/$n\" ;;\n  esac\n  shift\ndone\n";

const PYTHON: &str = "@755 #!/bin/sh\n# a stand-in for python: -m MODULE runs the module's __main__.py (shell here) from site-packages\nSP=/usr/local/lib/python3.12/site-packages\n[ \"$1\" = -m ] || exit 2\nm=$2; shift 2\n[ -f \"$SP/$m/__main__.py\" ] || { echo \"No module named $m\" >&2; exit 1; }\n. \"$SP/$m/__main__.py\"\n";

/// The stand-in Python image: python 3.12's layout, with pip, python and apt-get stand-ins.
const PYTHON_IMAGE: &str = "python:3.12-cbstandin";

/// The rule's own fix (its part alone where it was merged with another finding's).
async fn fix_of(files: &Files, code: &str, d: &Docker) -> Fix {
    let f = finding_of(files, code, None, d)
        .await
        .unwrap_or_else(|| panic!("no {code} finding"));
    f.own_fix
        .or(f.fix)
        .unwrap_or_else(|| panic!("no {code} fix"))
}

struct Built {
    ok: bool,
    log: String,
    tag: String,
    /// Steps (not FROM) BuildKit ran again.
    rebuilt: usize,
    /// The same, in the final stage only.
    rebuilt_final: usize,
}

fn build(d: &Docker, dir: &Path, files: &Files, tag: &str, secret: Option<&str>) -> Built {
    write(dir, files);
    let secret_file = secret.map(|s| {
        let p = dir.with_extension("mirror");
        std::fs::write(&p, s).unwrap();
        p
    });
    let b = d.build(dir, "Dockerfile", None, &[], secret_file.as_deref(), tag);
    let text = dockerfile(files);
    let df = cachebust::engine::dockerfile::parse(text);
    let froms: Vec<u32> = df
        .instructions
        .iter()
        .filter(|i| i.kind == cachebust::engine::dockerfile::Kind::From)
        .map(|i| i.line)
        .collect();
    let last_from = froms.iter().copied().max().unwrap_or(0);
    let real = real_statuses(&b.log, text);
    let rebuilt_lines: Vec<u32> = real
        .iter()
        .filter(|(l, s)| **s == 'R' && !froms.contains(l))
        .map(|(l, _)| *l)
        .collect();
    Built {
        ok: b.ok,
        log: b.log,
        tag: tag.to_string(),
        rebuilt: rebuilt_lines.len(),
        rebuilt_final: rebuilt_lines.iter().filter(|l| **l > last_from).count(),
    }
}

/// Build the base then the head of a scenario from fresh directories on a pruned cache; the
/// head's build is returned (the base must build).
fn scenario(
    d: &Docker,
    name: &str,
    base: &Files,
    head: &Files,
    mirror: Option<(&str, &str)>,
) -> Built {
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let tag = format!("cbrule-{name}");
    let b = build(
        d,
        &work.path().join("base"),
        base,
        &format!("{tag}-base"),
        mirror.map(|m| m.0),
    );
    assert!(b.ok, "{name}: the base build failed\n{}", b.log);
    build(
        d,
        &work.path().join("head"),
        head,
        &tag,
        mirror.map(|m| m.1),
    )
}

fn run(d: &Docker, tag: &str) -> (bool, String) {
    let o = d
        .cmd()
        .args(["run", "--rm", "--network", "none", tag])
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s.trim().to_string())
}

fn assert_has(d: &Docker, tag: &str, paths: &[&str], what: &str) {
    let img = image_files(d, tag);
    for p in paths {
        assert!(img.contains_key(*p), "{what}: `/{p}` is not in the image");
    }
}

/// The proof of one applicable fix: the patched Dockerfile builds, holds `needed`, and the
/// change (`head` of each variant's files) rebuilds fewer steps than with the original.
/// Returns the report line.
fn prove(
    d: &Docker,
    name: &str,
    original: &Files,
    fixed: &Files,
    head: impl Fn(&Files) -> Files,
    needed: &[&str],
) -> String {
    let before = scenario(
        d,
        &format!("{name}-original"),
        original,
        &head(original),
        None,
    );
    assert!(
        before.ok,
        "{name}: the original head failed\n{}",
        before.log
    );
    let after = scenario(d, &format!("{name}-fixed"), fixed, &head(fixed), None);
    assert!(
        after.ok,
        "{name}: the patched head failed\n{}\n{}",
        dockerfile(fixed),
        after.log
    );
    assert_has(d, &after.tag, needed, name);
    assert!(
        after.rebuilt < before.rebuilt,
        "{name} [{}]: the patched Dockerfile rebuilt {} steps, the original {}\n{}",
        d.label(),
        after.rebuilt,
        before.rebuilt,
        after.log
    );
    format!(
        "{name} [{}]: patched builds, {} needed files present; rebuilt {} steps before the fix, {} after",
        d.label(),
        needed.len(),
        before.rebuilt,
        after.rebuilt
    )
}

macro_rules! on_both {
    ($f:ident, $a:ident, $b:ident) => {
        #[tokio::test]
        async fn $a() {
            $f(Daemon::D2010).await;
        }
        #[tokio::test]
        async fn $b() {
            $f(Daemon::D28).await;
        }
    };
}

on_both!(
    cb001_npm,
    cb001_npm_manifests_first_under_docker_20_10,
    cb001_npm_manifests_first_under_docker_28
);
on_both!(
    cb001_dotnet,
    cb001_dotnet_project_one_level_down_under_docker_20_10,
    cb001_dotnet_project_one_level_down_under_docker_28
);
on_both!(
    cb002,
    cb002_dockerignore_created_under_docker_20_10,
    cb002_dockerignore_created_under_docker_28
);
on_both!(
    cb003,
    cb003_env_moved_down_under_docker_20_10,
    cb003_env_moved_down_under_docker_28
);
on_both!(
    cb005,
    cb005_update_with_the_install_under_docker_20_10,
    cb005_update_with_the_install_under_docker_28
);
on_both!(
    cb007,
    cb007_python_runtime_split_under_docker_20_10,
    cb007_python_runtime_split_under_docker_28
);
on_both!(
    cb010,
    cb010_packages_before_the_copy_under_docker_20_10,
    cb010_packages_before_the_copy_under_docker_28
);

/// CB001 on npm: `COPY package.json package-lock.json ./`, `npm ci`, then `COPY . .`. Not
/// offered where the install RUN also builds (`npm ci && npm run build`): there the build would
/// run without the sources, and fails.
async fn cb001_npm(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY npm /usr/local/bin/npm\nWORKDIR /app\nCOPY . .\nRUN npm ci\nRUN npm run build\nCMD [\"cat\", \"/app/dist/app.js\"]\n",
        ),
        ("npm", NPM),
        ("package.json", "{\"name\": \"web\"}\n"),
        ("package-lock.json", "{\"lockfileVersion\": 3}\n"),
        ("src/index.js", "console.log(1)\n"),
    ]);
    let x = fix_of(&original, "CB001", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    assert!(
        dockerfile(&fixed).contains("COPY package.json package-lock.json ./\nRUN npm ci\nCOPY . ."),
        "{}",
        dockerfile(&fixed)
    );
    let line = prove(
        d,
        "cb001-npm",
        &original,
        &fixed,
        |f| with_edits(f, &[("src/index.js", "console.log(2)\n")]),
        &[
            "app/node_modules/lib/lock",
            "app/dist/app.js",
            "app/src/index.js",
        ],
    );
    // the install also builds: the fix is shown only, and applying it breaks the build
    let chained = with_edits(
        &original,
        &[(
            "Dockerfile",
            &dockerfile(&original).replace(
                "RUN npm ci\nRUN npm run build",
                "RUN npm ci && npm run build",
            ),
        )],
    );
    let x = fix_of(&chained, "CB001", d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(
        d,
        work.path(),
        &patched(&chained, &x),
        "cbrule-cb001-chained",
        None,
    );
    assert!(!b.ok, "the build without sources must fail\n{}", b.log);
    // package.json's `prepare` script builds the sources during `npm ci`: shown only, and
    // applying it breaks the build; with `--ignore-scripts` the fix is offered again
    let prepare = with_edits(
        &original,
        &[(
            "package.json",
            "{\"name\": \"web\", \"scripts\": {\"prepare\": \"cat src/index.js > prepared.js\"}}\n",
        )],
    );
    let base_ok = scenario(d, "cb001-prepare", &prepare, &prepare, None);
    assert!(
        base_ok.ok,
        "the original builds with its prepare script\n{}",
        base_ok.log
    );
    let x = fix_of(&prepare, "CB001", d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    let f = finding_of(&prepare, "CB001", None, d).await.unwrap();
    assert!(f.message.contains("`prepare` script"), "{}", f.message);
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(
        d,
        work.path(),
        &patched(&prepare, &x),
        "cbrule-cb001-prepare",
        None,
    );
    assert!(!b.ok, "prepare without sources must fail\n{}", b.log);
    let ignoring = with_edits(
        &prepare,
        &[(
            "Dockerfile",
            &dockerfile(&prepare).replace("RUN npm ci\n", "RUN npm ci --ignore-scripts\n"),
        )],
    );
    let x = fix_of(&ignoring, "CB001", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe, "{x:?}");
    let fixed = patched(&ignoring, &x);
    let scripts_line = prove(
        d,
        "cb001-npm-ignore-scripts",
        &ignoring,
        &fixed,
        |f| with_edits(f, &[("src/index.js", "console.log(2)\n")]),
        &["app/node_modules/lib/lock", "app/dist/app.js"],
    );
    eprintln!(
        "{line}\ncb001-npm-chained [{}]: display-only; applied anyway, the build fails (no sources at `npm run build`)\ncb001-npm-prepare [{0}]: display-only; applied anyway, the build fails (no sources for the prepare script)\n{scripts_line}",
        d.label()
    );
}

/// CB001 on .NET: the project one directory down and the central `Directory.Packages.props` are
/// copied before the restore. Without the props file (what CB001 copied before) the restore
/// fails, shown by the same build.
async fn cb001_dotnet(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY dotnet /usr/local/bin/dotnet\nWORKDIR /src\nCOPY . .\nRUN dotnet restore App/App.csproj\nRUN dotnet publish App/App.csproj --no-restore -o /out\n",
        ),
        ("dotnet", DOTNET),
        (
            "App/App.csproj",
            "<Project Sdk=\"Microsoft.NET.Sdk\"><ItemGroup><PackageReference Include=\"Lib\" /></ItemGroup></Project>\n",
        ),
        (
            "Directory.Packages.props",
            "<Project><ItemGroup><PackageVersion Include=\"Lib\" Version=\"1.0.0\" /></ItemGroup></Project>\n",
        ),
        ("App/Program.cs", "// v1\n"),
    ]);
    let x = fix_of(&original, "CB001", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    let text = dockerfile(&fixed).to_string();
    assert!(
        text.contains("COPY App/App.csproj ./App/\n")
            && text.contains("COPY Directory.Packages.props ./\n"),
        "{text}"
    );
    let line = prove(
        d,
        "cb001-dotnet",
        &original,
        &fixed,
        |f| with_edits(f, &[("App/Program.cs", "// v2\n")]),
        &[
            "out/app",
            "src/App/obj/project.assets.json",
            "src/App/Program.cs",
        ],
    );
    // the project alone, without the central package versions: the restore fails
    let project_only = with_edits(
        &fixed,
        &[(
            "Dockerfile",
            &text.replace("COPY Directory.Packages.props ./\n", ""),
        )],
    );
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(d, work.path(), &project_only, "cbrule-cb001-props", None);
    assert!(!b.ok && b.log.contains("NU1015"), "{}", b.log);
    eprintln!(
        "{line}\ncb001-dotnet-project-only [{}]: without Directory.Packages.props the restore fails (NU1015)",
        d.label()
    );
}

/// CB002 creating `.dockerignore` in a single-stage image (unsafe: the image no longer holds
/// `.git`, `.vscode`): a commit (the branch ref moves) no longer rebuilds anything. Where a RUN
/// reads `.git/HEAD`, `.git` is left out of the entries: ignoring it fails the build.
async fn cb002(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nWORKDIR /app\nCOPY . .\nRUN cat main.txt > /out.txt\nCMD [\"cat\", \"/out.txt\"]\n",
        ),
        ("main.txt", "hello\n"),
        (".git/HEAD", "ref: refs/heads/main\n"),
        (
            ".git/refs/heads/main",
            "1111111111111111111111111111111111111111\n",
        ),
        (".vscode/settings.json", "{}\n"),
    ]);
    let x = fix_of(&original, "CB002", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    assert!(x.edits.iter().all(|e| e.file == ".dockerignore"));
    let fixed = patched(&original, &x);
    let mut lines = vec![prove(
        d,
        "cb002-single-stage",
        &original,
        &fixed,
        |f| {
            with_edits(
                f,
                &[(
                    ".git/refs/heads/main",
                    "2222222222222222222222222222222222222222\n",
                )],
            )
        },
        &["app/main.txt", "out.txt"],
    )];
    let img = image_files(d, "cbrule-cb002-single-stage-fixed");
    assert!(!img.contains_key("app/.git/HEAD") && !img.contains_key("app/.vscode"));
    // a RUN reads .git: the entry is left out
    let reads_git = with_edits(
        &original,
        &[(
            "Dockerfile",
            &dockerfile(&original).replace(
                "RUN cat main.txt > /out.txt",
                "RUN cat main.txt .git/HEAD > /out.txt",
            ),
        )],
    );
    let x = fix_of(&reads_git, "CB002", d).await;
    let ignore: String = x.edits.iter().map(|e| e.content.as_str()).collect();
    assert!(
        !ignore.lines().any(|l| l == ".git") && ignore.lines().any(|l| l == ".vscode"),
        "{ignore}"
    );
    lines.push(prove(
        d,
        "cb002-reads-git",
        &reads_git,
        &patched(&reads_git, &x),
        |f| with_edits(f, &[(".vscode/settings.json", "{\"editor.tabSize\": 2}\n")]),
        &["app/.git/HEAD", "out.txt"],
    ));
    let naive = with_edits(&reads_git, &[(".dockerignore", ".git\n.vscode\n")]);
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(d, work.path(), &naive, "cbrule-cb002-naive", None);
    assert!(!b.ok, "ignoring .git must fail the build\n{}", b.log);
    lines.push(format!(
        "cb002-reads-git [{}]: `.git` left out of the entries; with `.git` ignored the build fails",
        d.label()
    ));
    eprintln!("{}", lines.join("\n"));
}

/// CB003 moving a volatile ENV down to its first use (unsafe: ENV): a version bump rebuilds one
/// step instead of all, and the final images hold the same files. Where a step it would move past
/// runs a script that reads the variable without naming it, the fix is shown only: moved anyway,
/// the script writes an empty version.
async fn cb003(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nENV APP_VERSION=1.4.0\nRUN echo one > /one.txt\nRUN echo two > /two.txt\nCOPY app.txt /app/app.txt\nRUN echo \"$APP_VERSION\" > /app/version.txt\n",
        ),
        ("app.txt", "app\n"),
    ]);
    let x = cb003_fix_with_history(&original, d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    // the scenario: a release bumps the version
    let bump = |f: &Files| {
        with_edits(
            f,
            &[(
                "Dockerfile",
                &dockerfile(f).replace("APP_VERSION=1.4.0", "APP_VERSION=1.5.0"),
            )],
        )
    };
    let line = prove(
        d,
        "cb003-env",
        &original,
        &fixed,
        bump,
        &["app/version.txt", "one.txt", "two.txt"],
    );
    // the same files, the same version in both images
    let a = image_files(d, "cbrule-cb003-env-original");
    let b = image_files(d, "cbrule-cb003-env-fixed");
    assert_eq!(a.get("app/version.txt"), b.get("app/version.txt"));
    assert_eq!(a.len(), b.len());
    // a script reads the variable: shown only
    let scripted = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nENV APP_VERSION=1.4.0\nCOPY stamp.sh /usr/local/bin/stamp.sh\nRUN echo one > /one.txt\nRUN stamp.sh\n",
        ),
        (
            "stamp.sh",
            "@755 #!/bin/sh\necho \"version ${APP_VERSION}\" > /version.txt\n",
        ),
    ]);
    let x = cb003_fix_with_history(&scripted, d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let o = build(
        d,
        &work.path().join("o"),
        &scripted,
        "cbrule-cb003-script-o",
        None,
    );
    let m = build(
        d,
        &work.path().join("m"),
        &patched(&scripted, &x),
        "cbrule-cb003-script-m",
        None,
    );
    assert!(o.ok && m.ok, "{}\n{}", o.log, m.log);
    let (vo, vm) = (
        image_files(d, &o.tag)["version.txt"].clone(),
        image_files(d, &m.tag)["version.txt"].clone(),
    );
    assert_ne!(vo, vm, "moved past the script, the version is lost");
    eprintln!(
        "{line}\ncb003-env-script [{}]: display-only; moved anyway, /version.txt differs ({vo} vs {vm})",
        d.label()
    );
}

/// CB003's fix for `files`, whose Dockerfile sets `APP_VERSION=1.4.0`, in a repository where
/// each of the last 20 commits bumped it (CB003 reads how often a value changes from the
/// history, issue 29): `check` in a git work tree of that history, the last commit `files`.
async fn cb003_fix_with_history(files: &Files, d: &Docker) -> Fix {
    use crate::cli::git;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.email", "t@example.invalid"]);
    git(root, &["config", "user.name", "t"]);
    for i in 0..=20 {
        let v = if i == 20 {
            files.to_vec()
        } else {
            with_edits(
                files,
                &[(
                    "Dockerfile",
                    &dockerfile(files)
                        .replace("APP_VERSION=1.4.0", &format!("APP_VERSION=1.3.{i}")),
                )],
            )
        };
        write(root, &v);
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", &format!("release {i}")]);
    }
    let repo = cachebust::adapters::fs::SameDir::open(root).unwrap();
    let mut opts = cachebust::app::analyze::AnalyzeOptions::new(d.daemon.engine());
    opts.dockerfiles = vec!["Dockerfile".into()];
    let report = cachebust::app::check::check(&repo, &opts).await.unwrap();
    let f = report.dockerfiles[0]
        .findings
        .iter()
        .find(|f| f.code == "CB003")
        .cloned()
        .expect("a CB003 finding");
    assert!(
        f.message
            .contains("changed its value in 20 of the last 21 commits"),
        "{}",
        f.message
    );
    f.own_fix.or(f.fix).expect("a CB003 fix")
}

/// CB005 putting `apt-get update` in the install step: the package mirror moved on between the
/// base and the head (the build secret stands for the network), and the head adds a package the
/// old lists lack. The original keeps the update step cached and fails; the patched file
/// re-reads the lists and builds. Where a step in between reads the lists (`apt-cache policy`),
/// the fix is shown only: applied anyway, that step fails.
async fn cb005(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY apt-get apt-cache /usr/local/bin/\nRUN --mount=type=secret,id=s apt-get update\nRUN --mount=type=secret,id=s apt-get install -y curl\nRUN echo ready > /ready\n",
        ),
        ("apt-get", APT_GET),
        ("apt-cache", APT_CACHE),
    ]);
    let x = fix_of(&original, "CB005", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    assert!(
        dockerfile(&fixed)
            .contains("RUN --mount=type=secret,id=s apt-get update && apt-get install -y curl\n"),
        "{}",
        dockerfile(&fixed)
    );
    let add_jq = |f: &Files| {
        with_edits(
            f,
            &[(
                "Dockerfile",
                &dockerfile(f).replace("install -y curl", "install -y curl jq"),
            )],
        )
    };
    let mirror = ("curl\n", "curl\njq\n");
    let before = scenario(
        d,
        "cb005-original",
        &original,
        &add_jq(&original),
        Some(mirror),
    );
    assert!(
        !before.ok && before.log.contains("Unable to locate package jq"),
        "the original installs from the cached lists\n{}",
        before.log
    );
    let after = scenario(d, "cb005-fixed", &fixed, &add_jq(&fixed), Some(mirror));
    assert!(after.ok, "{}", after.log);
    assert_has(
        d,
        &after.tag,
        &["usr/share/pkgs/curl", "usr/share/pkgs/jq", "ready"],
        "cb005",
    );
    let line = format!(
        "cb005 [{}]: original head fails (update cached, stale lists: jq not found); patched head builds with curl and jq, {} steps rebuilt",
        d.label(),
        after.rebuilt
    );
    // a step in between reads the lists
    let reads = with_edits(
        &original,
        &[(
            "Dockerfile",
            &dockerfile(&original).replace(
                "apt-get update\n",
                "apt-get update\nRUN apt-cache policy curl > /policy.txt\n",
            ),
        )],
    );
    let x = fix_of(&reads, "CB005", d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(
        d,
        work.path(),
        &patched(&reads, &x),
        "cbrule-cb005-reads",
        Some(mirror.0),
    );
    assert!(
        !b.ok && b.log.contains("Unable to locate package curl"),
        "{}",
        b.log
    );
    eprintln!(
        "{line}\ncb005-reads-lists [{}]: display-only; applied anyway, `apt-cache policy` finds no lists and fails",
        d.label()
    );
}

/// CB010 installing the system packages above the broad COPY: a source edit no longer re-runs
/// the install. Not offered where a COPY in between writes a package source the install needs:
/// moved anyway, the package is not found.
async fn cb010(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY apt-get /usr/local/bin/apt-get\nCOPY main.list /etc/apt/sources.list.d/main.list\nWORKDIR /app\nCOPY . .\nRUN apt-get update && apt-get install -y curl\nCMD [\"cat\", \"/app/main.txt\"]\n",
        ),
        ("apt-get", APT_GET),
        ("main.list", "curl\n"),
        ("main.txt", "one\n"),
    ]);
    let x = fix_of(&original, "CB010", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    let line = prove(
        d,
        "cb010",
        &original,
        &fixed,
        |f| with_edits(f, &[("main.txt", "two\n")]),
        &["usr/share/pkgs/curl", "app/main.txt"],
    );
    let extra = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY apt-get /usr/local/bin/apt-get\nWORKDIR /app\nCOPY . .\nCOPY extra.list /etc/apt/sources.list.d/extra.list\nRUN apt-get update && apt-get install -y mytool\n",
        ),
        ("apt-get", APT_GET),
        ("extra.list", "mytool\n"),
        ("main.txt", "one\n"),
    ]);
    let f = finding_of(&extra, "CB010", None, d)
        .await
        .expect("the finding stays");
    assert!(f.fix.is_none(), "{:?}", f.fix);
    let moved = with_edits(
        &extra,
        &[(
            "Dockerfile",
            &dockerfile(&extra)
                .replace("RUN apt-get update && apt-get install -y mytool\n", "")
                .replace(
                    "COPY . .\n",
                    "RUN apt-get update && apt-get install -y mytool\nCOPY . .\n",
                ),
        )],
    );
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let b = build(d, work.path(), &moved, "cbrule-cb010-extra", None);
    assert!(
        !b.ok && b.log.contains("Unable to locate package mytool"),
        "{}",
        b.log
    );
    eprintln!(
        "{line}\ncb010-source-list [{}]: no fix offered; moved anyway above the COPY of the source list, the install fails",
        d.label()
    );
}

/// The stand-in Python image, built once per daemon (kept across prunes: it is an image).
fn python_image(d: &Docker) {
    let dir = tempfile::tempdir().unwrap();
    let files = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY pip python apt-get /usr/local/bin/\nCOPY main.list /etc/apt/sources.list.d/main.list\nRUN mkdir -p /usr/local/lib/python3.12/site-packages\n",
        ),
        ("pip", PIP),
        ("python", PYTHON),
        ("apt-get", APT_GET),
        ("main.list", "gcc\nlibpq5\n"),
    ]);
    let b = build(d, dir.path(), &files, PYTHON_IMAGE, None);
    assert!(b.ok, "{}", b.log);
}

/// CB007's Python runtime split: the runtime stage carries site-packages, the console scripts,
/// ENV, WORKDIR, USER, EXPOSE and CMD. The runtime image runs the console script as the user,
/// with the environment, and holds no compiler. Where the stage installs system packages beside
/// the compiler (`libpq5`, whose runtime files are unknown), the fix is shown only: applied
/// anyway, the image builds but the program cannot start.
async fn cb007(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    python_image(d);
    let main = "[ -f /usr/local/lib/python3.12/site-packages/flask/__init__.py ] || { echo \"ModuleNotFoundError: No module named 'flask'\" >&2; exit 1; }\n{NEEDS}echo \"myapp $APP_MODE on $PORT as $(id -un) in $(pwd) $*\"\n";
    let dockerfile_text = format!(
        "FROM {PYTHON_IMAGE}\nENV APP_MODE=production PORT=8000\nWORKDIR /app\nRUN apt-get update && apt-get install -y gcc\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\nRUN pip install --no-cache-dir .\nUSER app\nEXPOSE 8000\nCMD [\"myapp\", \"--serve\"]\n"
    );
    let original = owned(&[
        ("Dockerfile", &dockerfile_text),
        ("requirements.txt", "flask\n"),
        ("pyproject.toml", "[project]\nname = \"myapp\"\n"),
        ("src/myapp/__main__.py", &main.replace("{NEEDS}", "")),
        ("src/myapp/views.py", "# v1\n"),
    ]);
    let x = fix_of(&original, "CB007", d).await;
    assert_eq!(x.applicability, Applicability::Unsafe, "{x:?}");
    let fixed = patched(&original, &x);
    let text = dockerfile(&fixed).to_string();
    for want in [
        "COPY --from=builder /usr/local/lib/python3.12/site-packages /usr/local/lib/python3.12/site-packages",
        "COPY --from=builder /usr/local/bin /usr/local/bin",
    ] {
        assert!(text.contains(want), "{text}");
    }
    let edit = [("src/myapp/views.py", "# v2\n")];
    let before = scenario(
        d,
        "cb007-original",
        &original,
        &with_edits(&original, &edit),
        None,
    );
    assert!(before.ok, "{}", before.log);
    let after = scenario(d, "cb007-fixed", &fixed, &with_edits(&fixed, &edit), None);
    assert!(after.ok, "{text}\n{}", after.log);
    let img = image_files(d, &after.tag);
    for p in [
        "usr/local/lib/python3.12/site-packages/myapp/__main__.py",
        "usr/local/lib/python3.12/site-packages/flask/__init__.py",
        "usr/local/bin/myapp",
        "app/src/myapp/views.py",
    ] {
        assert!(img.contains_key(p), "`/{p}` is not in the runtime image");
    }
    assert!(
        !img.contains_key("usr/share/pkgs/gcc"),
        "the compiler ships in the runtime image"
    );
    assert!(image_files(d, &before.tag).contains_key("usr/share/pkgs/gcc"));
    let (ok, out) = run(d, &after.tag);
    assert!(ok, "the runtime image does not start: {out}");
    assert_eq!(out, "myapp production on 8000 as app in /app --serve");
    let exposed = d
        .cmd()
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.ExposedPorts}}",
            &after.tag,
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&exposed.stdout).contains("8000/tcp"),
        "EXPOSE is lost"
    );
    let line = format!(
        "cb007-python [{}]: runtime image runs `{out}`, holds site-packages and the console script, no compiler; a source edit rebuilt {} steps before, {} after ({} of them in the runtime stage)",
        d.label(),
        before.rebuilt,
        after.rebuilt,
        after.rebuilt_final
    );
    // system packages beside the compiler: shown only
    let libpq = owned(&[
        (
            "Dockerfile",
            &dockerfile_text.replace("install -y gcc", "install -y gcc libpq5"),
        ),
        ("requirements.txt", "flask\n"),
        ("pyproject.toml", "[project]\nname = \"myapp\"\n"),
        (
            "src/myapp/__main__.py",
            &main.replace(
                "{NEEDS}",
                "[ -f /usr/share/pkgs/libpq5 ] || { echo 'ImportError: libpq.so.5: cannot open shared object file' >&2; exit 1; }\n",
            ),
        ),
        ("src/myapp/views.py", "# v1\n"),
    ]);
    let x = fix_of(&libpq, "CB007", d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let o = build(
        d,
        &work.path().join("o"),
        &libpq,
        "cbrule-cb007-libpq-o",
        None,
    );
    assert!(o.ok && run(d, &o.tag).0, "{}", o.log);
    let b = build(
        d,
        &work.path().join("m"),
        &patched(&libpq, &x),
        "cbrule-cb007-libpq",
        None,
    );
    assert!(b.ok, "{}", b.log);
    let (ok, out) = run(d, &b.tag);
    assert!(!ok && out.contains("libpq.so.5"), "{out}");
    eprintln!(
        "{line}\ncb007-python-libpq5 [{}]: display-only; applied anyway, the runtime image builds but does not start ({out})",
        d.label()
    );
}
