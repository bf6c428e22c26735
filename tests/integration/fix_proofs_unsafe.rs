//! Real-BuildKit proof of the fixes that change what a step does (issue 14), on both engines,
//! with busybox stand-ins for the package managers (shell scripts named `go`, `dotnet`, `make`
//! put in the image: a download step writes into the cache directory, a later step reads it):
//! - CB004 on a download-only step puts the cache mount on the step reading the downloads too:
//!   the patched Dockerfile builds, the program holds the downloaded content, and the reader
//!   does not download again; the mount on the download alone (what CB004 used to offer) makes
//!   the reader download everything again, shown by the same build.
//! - CB004 is not offered (display-only) when the reader cannot download
//!   (`dotnet publish --no-restore`): with the mount on both, a build whose cache mount is empty
//!   while the restore step stays cached fails, shown by pruning only the cache mounts.
//! - `COPY --from` after a rebuilt stage: an empty marker a RUN touches keeps the copy and what
//!   follows cached (predicted exact), a `make install` into the copied `/usr/local` rebuilds it
//!   (predicted `likely`), both as BuildKit does.

use std::path::Path;

use cachebust::adapters::local::{LocalRepo, Spec};
use cachebust::app::analyze::{AnalyzeOptions, analyze};
use cachebust::engine::fix::Applicability;
use cachebust::engine::report::{Confidence, Status};

use crate::buildkit::real_statuses;
use crate::fix_proofs::image_files;
use crate::support::docker::{self, Daemon, Docker};
use crate::support::proofs::{Files, dockerfile, finding_of, owned, patched, with_edits, write};

const GO: &str = "@755 #!/bin/sh\n# a stand-in for go: `mod download` fills the module cache, `build` reads it\nset -e\ncase \"$1 $2\" in\n\"mod download\") mkdir -p /go/pkg/mod && cp go.mod /go/pkg/mod/modules ;;\n\"build -o\") if [ ! -f /go/pkg/mod/modules ]; then mkdir -p /go/pkg/mod && cp go.mod /go/pkg/mod/modules && echo yes > /tmp/downloaded-again; fi\n  mkdir -p \"$(dirname \"$3\")\" && cat main.go /go/pkg/mod/modules > \"$3\" ;;\nesac\n";

const DOTNET: &str = "@755 #!/bin/sh\n# a stand-in for dotnet: restore fills the package cache, publish --no-restore needs it\nset -e\ncase \"$1\" in\nrestore) mkdir -p /root/.nuget/packages && cp app.csproj /root/.nuget/packages/pkg ;;\npublish) [ -f /root/.nuget/packages/pkg ] || { echo 'error NETSDK1004: assets file not found; run a NuGet package restore' >&2; exit 1; }\n  mkdir -p /out && cat Program.cs /root/.nuget/packages/pkg > /out/app ;;\nesac\n";

const MAKE: &str = "@755 #!/bin/sh\n# a stand-in for make install: the program goes to /usr/local\nset -e\nmkdir -p /usr/local/share/app && cp /src/a.txt /usr/local/share/app/a.txt\n";

/// The fix of the finding of `code` at `line`, computed by cachebust over the tree.
async fn fix_of(files: &Files, code: &str, line: u32, d: &Docker) -> cachebust::engine::fix::Fix {
    finding_of(files, code, Some(line), d)
        .await
        .and_then(|f| f.fix)
        .unwrap_or_else(|| panic!("no {code} fix at line {line}"))
}

/// Build `files` in a fresh directory: whether it built, and the log.
fn build(d: &Docker, dir: &Path, files: &[(String, String)], tag: &str) -> (bool, String) {
    write(dir, files);
    let b = d.build(dir, "Dockerfile", None, &[], None, tag);
    (b.ok, b.log)
}

#[tokio::test]
async fn download_mounts_on_every_reader_under_docker_20_10() {
    download_mounts(Daemon::D2010).await;
}

#[tokio::test]
async fn download_mounts_on_every_reader_under_docker_28() {
    download_mounts(Daemon::D28).await;
}

async fn download_mounts(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY go /usr/local/bin/go\nWORKDIR /src\nCOPY go.mod ./\nRUN go mod download\nCOPY main.go ./\nRUN go build -o /out/app .\n",
        ),
        ("go", GO),
        ("go.mod", "module example\nrequire lib v1\n"),
        ("main.go", "package main // v1\n"),
    ]);
    // cachebust's CB004 fix for `go mod download` at line 5
    let x = fix_of(&original, "CB004", 5, d).await;
    assert_eq!(x.applicability, Applicability::Unsafe);
    let fixed = patched(&original, &x);
    let text = dockerfile(&fixed).to_string();
    assert!(
        text.contains("RUN --mount=type=cache,target=/go/pkg/mod go mod download")
            && text.contains("--mount=type=cache,target=/go/pkg/mod")
            && text
                .lines()
                .any(|l| l.contains("go build") && l.contains("target=/go/pkg/mod")),
        "the mount is on the reader too:\n{text}"
    );
    // what CB004 used to offer: the mount on the download alone
    let download_only = with_edits(
        &original,
        &[(
            "Dockerfile",
            &dockerfile(&original).replace(
                "RUN go mod download",
                "RUN --mount=type=cache,target=/go/pkg/mod go mod download",
            ),
        )],
    );
    let mut lines = Vec::new();
    for (name, files) in [("fixed", &fixed), ("download-only", &download_only)] {
        d.prune();
        let work = tempfile::tempdir().unwrap();
        let tag = format!("cbunsafe-go-{name}");
        let (ok, log) = build(d, &work.path().join("base"), files, &format!("{tag}-base"));
        assert!(ok, "{name} base build failed\n{log}");
        // the scenario: a source edit
        let head = with_edits(files, &[("main.go", "package main // v2\n")]);
        let (ok, log) = build(d, &work.path().join("head"), &head, &tag);
        assert!(ok, "{name} head build failed\n{log}");
        let img = image_files(d, &tag);
        let app = img.get("out/app").cloned();
        let again = img.contains_key("tmp/downloaded-again");
        let real = real_statuses(&log, dockerfile(&head));
        let rebuilt = real.values().filter(|c| **c == 'R').count();
        lines.push(format!(
            "{name} [{}]: /out/app {:?}; downloaded again: {again}; {rebuilt} steps rebuilt",
            d.label(),
            app.as_deref().map(|_| "present")
        ));
        assert!(app.is_some(), "{name}: /out/app is missing");
        // the fix: the reader finds the modules in the mount; the mount on the download alone:
        // the modules are not in the image, and the reader fetches them again
        assert_eq!(again, name == "download-only", "{}", lines.join("\n"));
    }
    eprintln!("{}", lines.join("\n"));
}

#[tokio::test]
async fn offline_reader_keeps_the_fix_display_only_under_docker_20_10() {
    offline_reader(Daemon::D2010).await;
}

#[tokio::test]
async fn offline_reader_keeps_the_fix_display_only_under_docker_28() {
    offline_reader(Daemon::D28).await;
}

async fn offline_reader(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let original = owned(&[
        (
            "Dockerfile",
            "FROM {B1}\nCOPY dotnet /usr/local/bin/dotnet\nWORKDIR /src\nCOPY app.csproj ./\nRUN dotnet restore\nCOPY Program.cs ./\nRUN dotnet publish --no-restore -o /out\n",
        ),
        ("dotnet", DOTNET),
        (
            "app.csproj",
            "<Project><PackageReference Include=\"Lib\" /></Project>\n",
        ),
        ("Program.cs", "// v1\n"),
    ]);
    let x = fix_of(&original, "CB004", 5, d).await;
    assert_eq!(x.applicability, Applicability::DisplayOnly, "{x:?}");
    // why: the mount on both steps builds while the mount is warm, and fails once it is empty
    // while the restore step stays cached (a pruned mount, a CI cache without mounts)
    let both = with_edits(
        &original,
        &[(
            "Dockerfile",
            &dockerfile(&original).replace(
                "RUN dotnet",
                "RUN --mount=type=cache,target=/root/.nuget/packages dotnet",
            ),
        )],
    );
    d.prune();
    let work = tempfile::tempdir().unwrap();
    let (ok, log) = build(d, &work.path().join("base"), &both, "cbunsafe-dotnet-base");
    assert!(ok, "the mounted build fails with a warm mount\n{log}");
    let _ = d
        .cmd()
        .args(["builder", "prune", "-f", "--filter", "type=exec.cachemount"])
        .output();
    let head = with_edits(&both, &[("Program.cs", "// v2\n")]);
    let (ok, log) = build(d, &work.path().join("head"), &head, "cbunsafe-dotnet");
    let real = real_statuses(&log, dockerfile(&head));
    assert_eq!(real.get(&5), Some(&'C'), "the restore stays cached\n{log}");
    assert!(!ok, "the publish must fail without the packages\n{log}");
    assert!(log.contains("NETSDK1004"), "{log}");
    // the original keeps the packages in the image and builds after the same prune
    d.prune();
    let (ok, log) = build(
        d,
        &work.path().join("obase"),
        &original,
        "cbunsafe-dotnet-o",
    );
    assert!(ok, "{log}");
    let _ = d
        .cmd()
        .args(["builder", "prune", "-f", "--filter", "type=exec.cachemount"])
        .output();
    let ohead = with_edits(&original, &[("Program.cs", "// v2\n")]);
    let (ok, log) = build(d, &work.path().join("ohead"), &ohead, "cbunsafe-dotnet-o");
    assert!(ok, "the original builds\n{log}");
    eprintln!(
        "dotnet --no-restore [{}]: CB004 display-only; mounted on both: head build fails after the mounts are pruned (restore cached); original builds",
        d.label()
    );
}

#[tokio::test]
async fn copy_from_markers_and_installs_under_docker_20_10() {
    copy_from(Daemon::D2010).await;
}

#[tokio::test]
async fn copy_from_markers_and_installs_under_docker_28() {
    copy_from(Daemon::D28).await;
}

/// (name, files, line of the COPY --from, its status and confidence after a source edit)
type CopyFromCase = (&'static str, Vec<(String, String)>, u32, Status, Confidence);

async fn copy_from(daemon: Daemon) {
    let Some((d, _guard)) = docker::exclusive(daemon).await else {
        return;
    };
    let cases: [CopyFromCase; 2] = [
        (
            "marker",
            owned(&[
                (
                    "Dockerfile",
                    "FROM {B1} AS test\nCOPY src /src\nRUN cat /src/a.txt > /dev/null && touch /tmp/tests-passed\n\nFROM {B1}\nCOPY --from=test /tmp/tests-passed /tmp/tests-passed\nRUN echo after > /after.txt\n",
                ),
                ("src/a.txt", "one\n"),
            ]),
            6,
            Status::Cached,
            Confidence::Exact,
        ),
        (
            "make-install",
            owned(&[
                (
                    "Dockerfile",
                    "FROM {B1} AS build\nCOPY make /bin/make\nCOPY src /src\nRUN cd /src && make install\n\nFROM {B1}\nCOPY --from=build /usr/local /usr/local\nRUN echo after > /after.txt\n",
                ),
                ("make", MAKE),
                ("src/a.txt", "one\n"),
            ]),
            7,
            Status::Rebuilt,
            Confidence::Likely,
        ),
    ];
    let mut lines = Vec::new();
    for (name, files, line, want, conf) in cases {
        d.prune();
        let work = tempfile::tempdir().unwrap();
        let bdir = work.path().join("base");
        let hdir = work.path().join("head");
        let (ok, log) = build(d, &bdir, &files, &format!("cbcopyfrom-{name}-base"));
        assert!(ok, "{log}");
        let head = with_edits(&files, &[("src/a.txt", "two\n")]);
        let (ok, log) = build(d, &hdir, &head, &format!("cbcopyfrom-{name}"));
        assert!(ok, "{log}");
        let real = real_statuses(&log, dockerfile(&head));
        let repo =
            LocalRepo::open(&Spec::Dir(bdir.clone()), &Spec::Dir(hdir.clone()), &bdir).unwrap();
        let mut opts = AnalyzeOptions::new(d.daemon.engine());
        opts.dockerfiles = vec!["Dockerfile".into()];
        let report = analyze(&repo, &opts).await.unwrap();
        let steps = &report.dockerfiles[0].steps;
        let copy = steps.iter().find(|s| s.line == line).unwrap();
        let after = steps.iter().find(|s| s.line == line + 1).unwrap();
        let want_c = if want == Status::Rebuilt { 'R' } else { 'C' };
        assert_eq!(real.get(&line), Some(&want_c), "{name}: BuildKit\n{log}");
        assert_eq!(
            real.get(&(line + 1)),
            Some(&want_c),
            "{name}: BuildKit\n{log}"
        );
        assert_eq!(
            (copy.status, copy.confidence),
            (want, conf),
            "{name}: predicted {copy:?}"
        );
        assert_eq!(after.status, want, "{name}: predicted {after:?}");
        lines.push(format!(
            "{name} [{}]: COPY --from line {line} BuildKit {want_c}, predicted {:?} ({:?})",
            d.label(),
            copy.status,
            copy.confidence
        ));
    }
    eprintln!("{}", lines.join("\n"));
}
