use super::*;

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

/// Resolve, loading what the resolver asks for from `all` (absent → None).
fn run(project: &Project, all: &BTreeMap<String, Option<String>>) -> Resolved {
    let mut given: BTreeMap<String, Option<String>> = BTreeMap::new();
    for _ in 0..20 {
        match resolve(project, &given, &BTreeMap::new()) {
            Ok(r) => return r,
            Err(Need(paths)) => {
                for p in paths {
                    let v = all.get(&p).cloned().flatten();
                    given.insert(p, v);
                }
            }
        }
    }
    panic!("did not converge");
}

fn project(all: &BTreeMap<String, Option<String>>) -> Vec<Project> {
    let names: Vec<String> = all.keys().cloned().collect();
    let mut cf = BTreeMap::new();
    for (k, v) in all {
        if k.ends_with(".env") {
            if let Some(c) = v.as_deref().and_then(compose_file_from_dotenv) {
                cf.insert(dir_of(k).to_string(), c);
            }
        }
    }
    projects(&names, &cf)
}

fn build<'a>(r: &'a Resolved, service: &str) -> &'a ComposeBuild {
    r.builds
        .iter()
        .find(|b| b.service == service)
        .unwrap_or_else(|| panic!("no build for {service}: {:?}", r.builds))
}

/// The same project as checked against `docker compose config` 2.40.3 by hand: include, an
/// override file, extends from another file, valueless args from .env, `${V:-d}` in dockerfile.
#[test]
fn include_override_extends_dotenv() {
    let all = files(&[
        (
            "compose.yaml",
            "include:\n  - other/inc.yaml\nservices:\n  a:\n    build:\n      context: ./sub\n      args:\n        - FROMENV\n        - MISSING\n        - X=1\n      dockerfile: ${DF:-Dockerfile.a}\n  b:\n    extends:\n      file: other/base.yaml\n      service: base\n    build:\n      args:\n        Y: \"2\"\n",
        ),
        (
            "compose.override.yaml",
            "services:\n  a:\n    build:\n      target: prod\n      args:\n        X: \"3\"\n",
        ),
        (
            "other/base.yaml",
            "services:\n  base:\n    build:\n      context: .\n      args:\n        Z: z\n",
        ),
        ("other/inc.yaml", "services:\n  c:\n    build: ../sub\n"),
        (".env", "FROMENV=fe\nDF=Dockerfile.b\n"),
    ]);
    let ps = project(&all);
    // other/*.yaml are not compose-named, so only one project
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].files, vec!["compose.yaml", "compose.override.yaml"]);
    let r = run(&ps[0], &all);
    let a = build(&r, "a");
    assert_eq!(a.context, "sub");
    assert_eq!(a.dockerfile, "sub/Dockerfile.b");
    assert_eq!(a.target.as_deref(), Some("prod"));
    assert_eq!(
        a.args,
        BTreeMap::from([("FROMENV".into(), "fe".into()), ("X".into(), "3".into())])
    );
    let b = build(&r, "b");
    assert_eq!(b.context, "other");
    assert_eq!(b.dockerfile, "other/Dockerfile");
    assert_eq!(
        b.args,
        BTreeMap::from([("Y".into(), "2".into()), ("Z".into(), "z".into())])
    );
    let c = build(&r, "c");
    assert_eq!(c.context, "sub");
    assert_eq!(c.file, "other/inc.yaml");
    // MISSING is reported, with its line
    let p = r
        .problems
        .iter()
        .find(|p| p.message.contains("MISSING"))
        .expect("a diagnostic for MISSING");
    assert_eq!(p.line, Some(9));
    assert!(r.inputs.contains(&".env".to_string()));
}

#[test]
fn anchors_and_merge_keys_of_a_large_real_style_file_load() {
    // self-hosted style: one anchor with a build, merged into many services
    let mut y = String::from(
        "x-sentry-defaults: &sentry_defaults\n  build:\n    context: ./sentry\n    args:\n      - SENTRY_IMAGE\n  image: sentry-self-hosted-local\n  environment: &env\n    A: b\n",
    );
    y.push_str("services:\n");
    for i in 0..150 {
        y.push_str(&format!(
            "  svc{i}:\n    <<: *sentry_defaults\n    environment:\n      <<: *env\n      N: \"{i}\"\n"
        ));
    }
    let all = files(&[
        ("docker-compose.yml", &y),
        (".env", "SENTRY_IMAGE=ghcr.io/getsentry/sentry:nightly\n"),
    ]);
    let r = run(&project(&all)[0], &all);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.builds.len(), 150);
    assert!(
        r.builds.iter().all(|b| b.context == "sentry"
            && b.args["SENTRY_IMAGE"] == "ghcr.io/getsentry/sentry:nightly")
    );
}

#[test]
fn billion_laughs_is_refused_naming_the_file() {
    let mut y = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 10].join(",");
        y.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
    }
    y.push_str("services:\n  x:\n    build: .\n");
    let all = files(&[("compose.yaml", &y)]);
    let r = run(&project(&all)[0], &all);
    assert!(r.builds.is_empty());
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].file, "compose.yaml");
    assert!(r.problems[0].message.contains("cannot read compose file"));
}

#[test]
fn projects_of_a_tree() {
    let names: Vec<String> = [
        "docker-compose.yml",
        "docker-compose.override.yml",
        "docker-compose.minimal.yml",
        "compose.tests.yaml",
        "deploy/compose.yaml",
        "deploy/compose.override.yml",
        "other/docker-compose-tests.yml",
        "x/compose.yml",
        "x/compose.yaml",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ps = projects(&names, &BTreeMap::new());
    let labels: Vec<String> = ps.iter().map(Project::label).collect();
    assert_eq!(
        labels,
        vec![
            "docker-compose.yml + docker-compose.override.yml",
            "deploy/compose.yaml + deploy/compose.override.yml",
            "x/compose.yaml",
            // add-on files are layered on their directory's default file
            "docker-compose.yml + docker-compose.minimal.yml",
            "docker-compose.yml + compose.tests.yaml",
            "other/docker-compose-tests.yml",
            "x/compose.yaml + x/compose.yml",
        ]
    );
    let cf = BTreeMap::from([(
        String::new(),
        "docker-compose.yml:docker-compose.minimal.yml".to_string(),
    )]);
    let ps = projects(&names[..3], &cf);
    assert_eq!(
        ps[0].files,
        vec!["docker-compose.yml", "docker-compose.minimal.yml"]
    );
    assert_eq!(
        ps[1].files,
        vec!["docker-compose.yml", "docker-compose.override.yml"]
    );
}

#[test]
fn bad_input_is_a_diagnostic_with_a_line_and_the_rest_resolves() {
    let all = files(&[(
        "compose.yaml",
        "services:\n  up:\n    build: ../../../../etc\n  df:\n    build:\n      context: .\n      dockerfile: ../../x/Dockerfile\n  req:\n    build:\n      context: ${CTX:?set CTX}\n  unset:\n    build:\n      context: ./${NOPE}app\n  cyc1:\n    extends: cyc2\n    build: .\n  cyc2:\n    extends: cyc1\n  gone:\n    extends:\n      file: missing.yaml\n      service: s\n  ok:\n    build: ./ok\n",
    )]);
    let r = run(&project(&all)[0], &all);
    let services: Vec<&str> = r.builds.iter().map(|b| b.service.as_str()).collect();
    assert!(services.contains(&"ok"), "{services:?}");
    assert!(services.contains(&"unset"));
    assert!(!services.contains(&"up") && !services.contains(&"df") && !services.contains(&"req"));
    assert_eq!(build(&r, "unset").context, "app");
    let msg = |s: &str| {
        r.problems
            .iter()
            .find(|p| p.message.contains(s))
            .unwrap_or_else(|| panic!("no problem with {s:?}: {:?}", r.problems))
    };
    assert_eq!(msg("../../../../etc").line, Some(2));
    assert!(
        msg("../../../../etc")
            .message
            .contains("outside the repository")
    );
    assert_eq!(msg("dockerfile ../../x/Dockerfile").line, Some(4));
    assert!(msg("required variable CTX").line == Some(10));
    assert_eq!(msg("variable NOPE").line, Some(13));
    assert!(msg("cycle").message.contains("cyc1"));
    assert_eq!(msg("no such file").file, "missing.yaml");
}

#[test]
fn inline_dockerfile_and_additional_contexts() {
    let all = files(&[(
        "compose.yaml",
        "services:\n  i:\n    build:\n      context: app\n      dockerfile_inline: |\n        FROM alpine\n        COPY . /src\n      additional_contexts:\n        lib: ./lib\n        img: docker-image://alpine:3\n",
    )]);
    let r = run(&project(&all)[0], &all);
    let b = build(&r, "i");
    assert_eq!(b.dockerfile, "compose.yaml#i");
    assert_eq!(b.inline.as_deref(), Some("FROM alpine\nCOPY . /src\n"));
    assert_eq!(b.contexts["lib"], "lib");
    assert_eq!(b.contexts["img"], "docker-image://alpine:3");
}

#[test]
fn inside_refuses_escapes() {
    assert_eq!(inside("a/b", "../c").as_deref(), Some("a/c"));
    assert_eq!(inside("a", "../..").as_deref(), None);
    assert_eq!(inside("", "..").as_deref(), None);
    assert_eq!(inside("", "/etc").as_deref(), None);
    assert_eq!(inside("", "./x/../y").as_deref(), Some("y"));
}

/// Issue 30, item 2: includes fanning out (each file includes the next one 20 times, six deep:
/// 64 million loads) stop at the budget's steps, with one error naming the file, the include's
/// line and the limit; the project's builds are refused, nothing else is lost.
#[test]
fn include_fan_out_stops_at_the_budget_naming_file_line_and_limit() {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for level in 0..6 {
        let next = format!("f{}.yaml", level + 1);
        let list = vec![format!("  - {next}\n"); 20].concat();
        pairs.push((
            format!("f{level}.yaml"),
            format!("include:\n{list}services:\n  s{level}:\n    build: ./s{level}\n"),
        ));
    }
    pairs.push((
        "f6.yaml".into(),
        "services:\n  leaf:\n    build: ./leaf\n".into(),
    ));
    pairs.push((
        "compose.yaml".into(),
        "include:\n  - f0.yaml\nservices:\n  app:\n    build: ./app\n".into(),
    ));
    let all: BTreeMap<String, Option<String>> =
        pairs.into_iter().map(|(k, v)| (k, Some(v))).collect();
    let p = Project {
        dir: String::new(),
        files: vec!["compose.yaml".into()],
    };
    let r = run(&p, &all);
    assert!(r.builds.is_empty(), "{:?}", r.builds);
    let over: Vec<&Problem> = r
        .problems
        .iter()
        .filter(|p| p.message.contains("evaluation budget"))
        .collect();
    assert_eq!(over.len(), 1, "{:?}", r.problems);
    let o = over[0];
    assert!(o.error);
    assert!(
        o.file.starts_with('f') && o.line.is_some_and(|l| l >= 2),
        "{o:?}"
    );
    assert!(
        o.message.contains("the project compose.yaml goes past the evaluation budget of one Compose project (more than 100,000 evaluation steps"),
        "{o:?}"
    );
}

/// Interpolation is counted across the whole project: a 900 KB `.env` value used by 100
/// services (90 MB) is refused, naming the service where the budget ran out.
#[test]
fn interpolation_across_services_shares_one_budget() {
    let mut y = String::from("services:\n");
    for i in 0..100 {
        y.push_str(&format!(
            "  s{i}:\n    build:\n      context: .\n      args:\n        X: ${{BIG}}\n"
        ));
    }
    let env = format!("BIG={}\n", "b".repeat(900_000));
    let all = files(&[("compose.yaml", &y), (".env", &env)]);
    let r = run(&project(&all)[0], &all);
    assert!(r.builds.is_empty());
    let o = r
        .problems
        .iter()
        .find(|p| p.message.contains("evaluation budget"))
        .unwrap_or_else(|| panic!("{:?}", r.problems));
    assert_eq!(o.file, "compose.yaml");
    // services resolve in name order; the line is the one of the service named
    let name = o
        .message
        .split(':')
        .next()
        .unwrap()
        .trim_start_matches("service s");
    let n: u32 = name.parse().unwrap_or_else(|_| panic!("{o:?}"));
    assert!((10..30).contains(&n), "{o:?}");
    assert_eq!(o.line, Some(2 + 5 * n), "{o:?}");
    assert!(
        o.message.contains("(more than 16 MiB of text produced)"),
        "{o:?}"
    );
    // the same file with a small value resolves every service
    let all = files(&[("compose.yaml", &y), (".env", "BIG=small\n")]);
    let r = run(&project(&all)[0], &all);
    assert_eq!(r.builds.len(), 100, "{:?}", r.problems);
}

/// Issue 30 item 14: a remote `include:` (an OCI artifact, a git repository) says it is remote
/// and not fetched, on its line, instead of "no such file"; the project's own services go on.
#[test]
fn a_remote_include_is_said_to_be_remote() {
    for remote in [
        "oci://docker.io/example/app:1",
        "https://github.com/example/app.git#main:compose.yaml",
        "git@github.com:example/app.git",
    ] {
        let all = files(&[(
            "compose.yaml",
            &format!("include:\n  - {remote}\nservices:\n  a:\n    build: ./a\n"),
        )]);
        let ps = project(&all);
        let r = run(&ps[0], &all);
        assert_eq!(build(&r, "a").context, "a");
        assert_eq!(r.problems.len(), 1, "{remote}: {:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(p.line, Some(2), "{remote}");
        assert!(
            p.message
                .contains(&format!("include {remote} is a remote resource"))
                && p.message.contains("not fetched"),
            "{remote}: {}",
            p.message
        );
        assert!(!p.message.contains("no such"), "{}", p.message);
    }
}

/// `dockerfile: ${MYVAR}` with MYVAR unset is the default Dockerfile of the context, as
/// `docker compose config` 2.40.3 resolves it (docker/compose's TestConfigInterpolate fixture).
#[test]
fn an_empty_dockerfile_is_the_default() {
    let all = files(&[(
        "compose.yaml",
        "services:\n  nginx:\n    build:\n      context: nginx-build\n      dockerfile: ${MYVAR}\n",
    )]);
    let r = run(&project(&all)[0], &all);
    assert_eq!(build(&r, "nginx").dockerfile, "nginx-build/Dockerfile");
}
