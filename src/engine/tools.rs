//! The one table of the tools a RUN can run (package managers, compilers and build tools): per
//! tool how it is invoked, what it costs (a class label and a range of seconds), the project
//! manifests its dependency install reads, where its download cache lives (for cache mounts),
//! which of its commands only download and which commands read those downloads. The rules
//! (CB001 manifests, CB004 cache mounts, CB007 build tools, CB010 system packages) and the cost
//! model read this table, so a tool added here is known to all of them.

use super::shell::Program;

/// A model estimate: typical seconds and a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    pub const fn new(seconds: f64, low: f64, high: f64) -> Estimate {
        Estimate { seconds, low, high }
    }
    pub fn plus(self, o: Estimate) -> Estimate {
        Estimate::new(
            self.seconds + o.seconds,
            self.low + o.low,
            self.high + o.high,
        )
    }
    pub fn scale(self, f: f64) -> Estimate {
        Estimate::new(self.seconds * f, self.low * f, self.high * f)
    }
}

/// A download-only command: it fills a cache directory that later steps read (`go mod download`
/// then `go build`). With a cache mount on the download alone the files stay in the mount, not
/// in the image, so a consumer without the mount fetches them again, and an offline consumer
/// (`dotnet publish --no-restore`) fails when the mount is empty.
pub struct Download {
    /// The label of its tool's cost class.
    pub class: &'static str,
    /// The download command (program, then arguments in order).
    pub words: &'static [&'static str],
    /// Where the downloads go, for root.
    pub cache_dir: &'static str,
    /// Commands that read the downloads.
    pub consumers: &'static [&'static [&'static str]],
    /// Consumer flags that forbid downloading: such a consumer needs the files present.
    pub offline_flags: &'static [&'static str],
}

/// One tool.
pub struct Tool {
    /// Its name in findings and for cache-mount ids (`npm`, `go build`, `apt`).
    pub name: &'static str,
    /// Its cost class (tools may share one: `maven/gradle`).
    pub label: &'static str,
    /// Invocations the cost model prices (program, then arguments in order).
    pub runs: &'static [&'static [&'static str]],
    /// What one run typically costs; `None`: the cost model does not price it.
    pub cost: Option<Estimate>,
    /// Directories (or parts of them) a `--mount=type=cache` target may name for this tool:
    /// a run with one costs half (its downloads are kept).
    pub mount_dirs: &'static [&'static str],
    /// Invocations that install the project's dependencies (an ecosystem's install).
    pub installs: &'static [&'static [&'static str]],
    /// Manifest and lock files the install reads, in the order they are copied; the first is
    /// required.
    pub manifests: &'static [&'static str],
    /// Invocations other than `installs` that want a cache mount (`go build`).
    pub mount_runs: &'static [&'static [&'static str]],
    /// The cache directory for root: the target a cache mount gets.
    pub cache_dir: Option<&'static str>,
    /// Flags that disable its cache (dropped with a mount).
    pub no_cache_flags: &'static [&'static str],
    /// Words a cache mount's target or id may use for this tool's cache (`id=pnpm-store`).
    pub mount_keys: &'static [&'static str],
    /// Its download-only commands.
    pub downloads: &'static [Download],
    /// Invocations that compile (a single-stage image that runs one ships its toolchain).
    pub compiles: &'static [&'static [&'static str]],
    /// Whether it installs system packages (apt, apk, dnf).
    pub system: bool,
}

impl Tool {
    const NONE: Tool = Tool {
        name: "",
        label: "",
        runs: &[],
        cost: None,
        mount_dirs: &[],
        installs: &[],
        manifests: &[],
        mount_runs: &[],
        cache_dir: None,
        no_cache_flags: &[],
        mount_keys: &[],
        downloads: &[],
        compiles: &[],
        system: false,
    };

    /// Whether it is an ecosystem: it installs a project's dependencies from manifests.
    pub fn is_ecosystem(&self) -> bool {
        !self.installs.is_empty()
    }

    /// Whether `p` is this tool's dependency install (`npm run build` is not `npm install`).
    pub fn installed_by(&self, p: &Program) -> bool {
        p.runs_any(self.installs) && !(self.name == "npm" && p.args.iter().any(|a| a == "run"))
    }

    /// Whether `p` runs an invocation the cost model prices for this tool.
    pub fn priced(&self, p: &Program) -> bool {
        // "npm run build" must not also count as "npm install"
        p.runs_any(self.runs) && !(self.label == "npm install" && p.args.iter().any(|a| a == "run"))
    }
}

const GO_CONSUMERS: &[&[&str]] = &[
    &["go", "build"],
    &["go", "install"],
    &["go", "test"],
    &["go", "run"],
    &["go", "vet"],
    &["go", "generate"],
    &["go", "list"],
];
const MVN_CONSUMERS: &[&[&str]] = &[&["mvn"], &["./mvnw"]];
const MAVEN_GRADLE_DIRS: &[&str] = &["/root/.m2", ".m2", "/root/.gradle", ".gradle"];

/// The table. Its order is the order of cost labels and of ecosystems in findings.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "apt",
        label: "apt-get install",
        runs: &[
            &["apt-get", "install"],
            &["apt", "install"],
            &["xx-apt-get", "install"],
            &["xx-apt", "install"],
        ],
        cost: Some(Estimate::new(30.0, 10.0, 120.0)),
        mount_dirs: &["/var/cache/apt", "/var/lib/apt"],
        mount_runs: &[&["apt-get", "install"]],
        cache_dir: Some("/var/cache/apt"),
        mount_keys: &["apt"],
        system: true,
        ..Tool::NONE
    },
    Tool {
        name: "apt-get update",
        label: "apt-get update",
        runs: &[&["apt-get", "update"], &["apt", "update"]],
        cost: Some(Estimate::new(6.0, 2.0, 20.0)),
        mount_dirs: &["/var/lib/apt"],
        ..Tool::NONE
    },
    Tool {
        name: "apk",
        label: "apk add",
        runs: &[&["apk", "add"], &["xx-apk", "add"]],
        cost: Some(Estimate::new(6.0, 2.0, 30.0)),
        mount_dirs: &["/var/cache/apk", "/etc/apk/cache"],
        mount_runs: &[&["apk", "add"]],
        cache_dir: Some("/var/cache/apk"),
        no_cache_flags: &["--no-cache"],
        mount_keys: &["apk"],
        system: true,
        ..Tool::NONE
    },
    Tool {
        name: "dnf",
        label: "dnf/yum install",
        runs: &[
            &["dnf", "install"],
            &["yum", "install"],
            &["microdnf", "install"],
        ],
        cost: Some(Estimate::new(40.0, 15.0, 150.0)),
        mount_dirs: &["/var/cache/dnf", "/var/cache/yum"],
        system: true,
        ..Tool::NONE
    },
    Tool {
        name: "npm",
        label: "npm install",
        runs: &[
            &["npm", "ci"],
            &["npm", "clean-install"],
            &["npm", "install-clean"],
            &["npm", "install"],
            &["npm", "i"],
        ],
        cost: Some(Estimate::new(45.0, 15.0, 180.0)),
        mount_dirs: &["/root/.npm", ".npm"],
        installs: &[
            &["npm", "ci"],
            &["npm", "clean-install"],
            &["npm", "install-clean"],
            &["npm", "install"],
            &["npm", "i"],
        ],
        manifests: &[
            "package.json",
            "package-lock.json",
            "npm-shrinkwrap.json",
            ".npmrc",
        ],
        cache_dir: Some("/root/.npm"),
        mount_keys: &["npm"],
        ..Tool::NONE
    },
    Tool {
        name: "yarn",
        label: "yarn install",
        runs: &[&["yarn", "install"], &["yarn", "--frozen-lockfile"]],
        cost: Some(Estimate::new(40.0, 15.0, 180.0)),
        mount_dirs: &["/usr/local/share/.cache/yarn", ".yarn", "yarn"],
        installs: &[&["yarn", "install"]],
        manifests: &["package.json", "yarn.lock", ".yarnrc.yml", ".yarnrc"],
        cache_dir: Some("/usr/local/share/.cache/yarn"),
        mount_keys: &["yarn"],
        ..Tool::NONE
    },
    Tool {
        name: "pnpm",
        label: "pnpm install",
        runs: &[
            &["pnpm", "install"],
            &["pnpm", "i"],
            &["pnpm", "fetch"],
            &["pnpm", "deploy"],
        ],
        cost: Some(Estimate::new(30.0, 10.0, 120.0)),
        mount_dirs: &["pnpm"],
        installs: &[&["pnpm", "install"], &["pnpm", "i"]],
        manifests: &[
            "package.json",
            "pnpm-lock.yaml",
            "pnpm-workspace.yaml",
            ".npmrc",
        ],
        cache_dir: Some("/root/.local/share/pnpm/store"),
        mount_keys: &["pnpm"],
        ..Tool::NONE
    },
    Tool {
        name: "pip",
        label: "pip install",
        runs: &[&["pip", "install"], &["pip3", "install"]],
        cost: Some(Estimate::new(40.0, 10.0, 240.0)),
        mount_dirs: &["/root/.cache/pip", ".cache/pip"],
        installs: &[&["pip", "install"], &["pip3", "install"]],
        manifests: &["requirements.txt"],
        cache_dir: Some("/root/.cache/pip"),
        no_cache_flags: &["--no-cache-dir"],
        mount_keys: &["pip"],
        ..Tool::NONE
    },
    Tool {
        name: "poetry",
        label: "poetry install",
        runs: &[&["poetry", "install"]],
        cost: Some(Estimate::new(50.0, 15.0, 240.0)),
        mount_dirs: &["pypoetry", ".cache/pip"],
        installs: &[&["poetry", "install"]],
        manifests: &["pyproject.toml", "poetry.lock"],
        cache_dir: Some("/root/.cache/pypoetry"),
        no_cache_flags: &["--no-cache"],
        mount_keys: &["poetry", "pypoetry"],
        ..Tool::NONE
    },
    Tool {
        name: "uv",
        label: "uv sync",
        runs: &[&["uv", "sync"], &["uv", "pip", "install"]],
        cost: Some(Estimate::new(10.0, 3.0, 60.0)),
        mount_dirs: &["/root/.cache/uv", ".cache/uv"],
        installs: &[&["uv", "sync"]],
        manifests: &["pyproject.toml", "uv.lock"],
        mount_runs: &[&["uv", "pip", "install"]],
        cache_dir: Some("/root/.cache/uv"),
        no_cache_flags: &["--no-cache"],
        mount_keys: &["uv"],
        ..Tool::NONE
    },
    Tool {
        name: "pipenv",
        label: "pipenv install",
        runs: &[&["pipenv", "install"], &["pipenv", "sync"]],
        cost: Some(Estimate::new(60.0, 20.0, 240.0)),
        mount_dirs: &["pipenv", ".cache/pip"],
        installs: &[&["pipenv", "install"], &["pipenv", "sync"]],
        manifests: &["Pipfile", "Pipfile.lock"],
        cache_dir: Some("/root/.cache/pipenv"),
        mount_keys: &["pipenv"],
        ..Tool::NONE
    },
    Tool {
        name: "bundler",
        label: "bundle install",
        runs: &[&["bundle", "install"]],
        cost: Some(Estimate::new(60.0, 20.0, 300.0)),
        mount_dirs: &["/usr/local/bundle/cache", "bundle"],
        installs: &[&["bundle", "install"]],
        manifests: &["Gemfile", "Gemfile.lock"],
        cache_dir: Some("/usr/local/bundle/cache"),
        mount_keys: &["bundle", "bundler", "gem", "gems"],
        ..Tool::NONE
    },
    Tool {
        name: "composer",
        label: "composer install",
        runs: &[&["composer", "install"]],
        cost: Some(Estimate::new(30.0, 10.0, 120.0)),
        mount_dirs: &["/root/.composer", "composer"],
        installs: &[&["composer", "install"]],
        manifests: &["composer.json", "composer.lock"],
        cache_dir: Some("/root/.composer/cache"),
        mount_keys: &["composer"],
        ..Tool::NONE
    },
    Tool {
        name: "go",
        label: "go mod download",
        runs: &[&["go", "mod", "download"]],
        cost: Some(Estimate::new(20.0, 5.0, 90.0)),
        mount_dirs: &["/go/pkg/mod", "/root/go/pkg/mod"],
        installs: &[&["go", "mod", "download"]],
        manifests: &["go.mod", "go.sum"],
        cache_dir: Some("/go/pkg/mod"),
        mount_keys: &["gomod", "gomodcache", "go-mod", "gopath"],
        downloads: &[Download {
            class: "go mod download",
            words: &["go", "mod", "download"],
            cache_dir: "/go/pkg/mod",
            consumers: GO_CONSUMERS,
            offline_flags: &[],
        }],
        ..Tool::NONE
    },
    Tool {
        name: "go build",
        label: "go build",
        runs: &[
            &["go", "build"],
            &["go", "install"],
            &["xx-go", "build"],
            &["xx-go", "install"],
        ],
        cost: Some(Estimate::new(40.0, 10.0, 180.0)),
        mount_dirs: &["/root/.cache/go-build", "go-build"],
        mount_runs: &[&["go", "build"]],
        cache_dir: Some("/root/.cache/go-build"),
        mount_keys: &["go-build", "gobuild", "gocache", "go-cache"],
        compiles: &[&["go", "build"]],
        ..Tool::NONE
    },
    Tool {
        name: "cargo",
        label: "cargo fetch",
        runs: &[&["cargo", "fetch"]],
        cost: Some(Estimate::new(20.0, 5.0, 90.0)),
        mount_dirs: &["/usr/local/cargo/registry", "cargo/registry"],
        installs: &[&["cargo", "fetch"]],
        manifests: &["Cargo.toml", "Cargo.lock"],
        cache_dir: Some("/usr/local/cargo/registry"),
        mount_keys: &["cargo"],
        downloads: &[Download {
            class: "cargo fetch",
            words: &["cargo", "fetch"],
            cache_dir: "/usr/local/cargo/registry",
            consumers: &[
                &["cargo", "build"],
                &["cargo", "install"],
                &["cargo", "test"],
                &["cargo", "run"],
                &["cargo", "check"],
                &["cargo", "doc"],
            ],
            offline_flags: &["--offline", "--frozen"],
        }],
        ..Tool::NONE
    },
    Tool {
        name: "cargo build",
        label: "cargo build",
        runs: &[
            &["cargo", "build"],
            &["cargo", "install"],
            &["cargo", "chef", "cook"],
            &["xx-cargo", "build"],
            &["xx-cargo", "install"],
            &["cross", "build"],
            &["cargo", "zigbuild"],
        ],
        cost: Some(Estimate::new(180.0, 60.0, 900.0)),
        mount_dirs: &["/usr/local/cargo/registry", "target"],
        mount_runs: &[&["cargo", "build"]],
        cache_dir: Some("/usr/local/cargo/registry"),
        mount_keys: &["cargo"],
        compiles: &[&["cargo", "build"]],
        ..Tool::NONE
    },
    Tool {
        name: "maven",
        label: "maven/gradle",
        runs: &[&["mvn"], &["./mvnw"]],
        cost: Some(Estimate::new(120.0, 40.0, 600.0)),
        mount_dirs: MAVEN_GRADLE_DIRS,
        installs: &[
            &["mvn", "dependency:go-offline"],
            &["mvn", "dependency:resolve"],
        ],
        manifests: &["pom.xml"],
        mount_runs: &[&["mvn"]],
        cache_dir: Some("/root/.m2"),
        mount_keys: &["m2", "maven", "mvn"],
        downloads: &[
            Download {
                class: "maven/gradle",
                words: &["mvn", "dependency:go-offline"],
                cache_dir: "/root/.m2",
                consumers: MVN_CONSUMERS,
                offline_flags: &["-o", "--offline"],
            },
            Download {
                class: "maven/gradle",
                words: &["mvn", "dependency:resolve"],
                cache_dir: "/root/.m2",
                consumers: MVN_CONSUMERS,
                offline_flags: &["-o", "--offline"],
            },
        ],
        compiles: &[&["mvn", "package"], &["mvn", "install"]],
        ..Tool::NONE
    },
    Tool {
        name: "gradle",
        label: "maven/gradle",
        runs: &[&["gradle"], &["./gradlew"]],
        cost: Some(Estimate::new(120.0, 40.0, 600.0)),
        mount_dirs: MAVEN_GRADLE_DIRS,
        mount_runs: &[&["gradle"]],
        cache_dir: Some("/root/.gradle"),
        mount_keys: &["gradle"],
        compiles: &[&["gradle", "build"], &["./gradlew", "build"]],
        ..Tool::NONE
    },
    Tool {
        name: "dotnet",
        label: "dotnet restore",
        runs: &[&["dotnet", "restore"]],
        cost: Some(Estimate::new(30.0, 10.0, 120.0)),
        mount_dirs: &["/root/.nuget", ".nuget"],
        installs: &[&["dotnet", "restore"]],
        // project files also one directory down (`src/App/App.csproj`), and the repository-wide
        // MSBuild files restore reads (central package versions, shared properties)
        manifests: &[
            "*.sln",
            "*.csproj",
            "*.fsproj",
            "*.vbproj",
            "Directory.Packages.props",
            "Directory.Build.props",
            "Directory.Build.targets",
            "global.json",
            "nuget.config",
            "NuGet.Config",
            "packages.lock.json",
        ],
        cache_dir: Some("/root/.nuget/packages"),
        mount_keys: &["nuget"],
        downloads: &[Download {
            class: "dotnet restore",
            words: &["dotnet", "restore"],
            cache_dir: "/root/.nuget/packages",
            consumers: &[
                &["dotnet", "build"],
                &["dotnet", "publish"],
                &["dotnet", "test"],
                &["dotnet", "pack"],
                &["dotnet", "run"],
            ],
            offline_flags: &["--no-restore"],
        }],
        ..Tool::NONE
    },
    Tool {
        name: "dotnet build",
        label: "dotnet build",
        runs: &[&["dotnet", "publish"], &["dotnet", "build"]],
        cost: Some(Estimate::new(60.0, 20.0, 300.0)),
        compiles: &[&["dotnet", "publish"], &["dotnet", "build"]],
        ..Tool::NONE
    },
    Tool {
        name: "make",
        label: "make",
        runs: &[&["make"], &["cmake"], &["ninja"]],
        cost: Some(Estimate::new(60.0, 10.0, 600.0)),
        compiles: &[&["make"], &["cmake"]],
        ..Tool::NONE
    },
    Tool {
        name: "JS build",
        label: "JS build",
        runs: &[
            &["npm", "run", "build*"],
            &["yarn", "build*"],
            &["yarn", "run", "build*"],
            &["pnpm", "build*"],
            &["pnpm", "run", "build*"],
            &["bun", "run", "build*"],
            &["bun", "build"],
            &["tsc"],
            &["webpack"],
            &["vite", "build"],
            &["next", "build"],
            &["nuxt", "build"],
            &["ng", "build"],
            &["esbuild"],
            &["rollup"],
            &["parcel", "build"],
            &["turbo", "build*"],
            &["turbo", "run", "build*"],
            &["nx", "build"],
            &["nx", "run-many"],
            &["astro", "build"],
        ],
        cost: Some(Estimate::new(30.0, 10.0, 180.0)),
        compiles: &[
            &["npm", "run", "build"],
            &["yarn", "build"],
            &["pnpm", "build"],
            &["tsc"],
        ],
        ..Tool::NONE
    },
    Tool {
        name: "bun",
        label: "bun install",
        runs: &[&["bun", "install"], &["bun", "i"]],
        cost: Some(Estimate::new(10.0, 3.0, 60.0)),
        mount_dirs: &["/root/.bun/install/cache", ".bun"],
        ..Tool::NONE
    },
    Tool {
        name: "go test",
        label: "go test",
        runs: &[
            &["go", "test"],
            &["gotestsum"],
            &["go", "run", "gotest.tools/gotestsum*"],
        ],
        cost: Some(Estimate::new(60.0, 10.0, 600.0)),
        mount_dirs: &["/root/.cache/go-build", "go-build"],
        ..Tool::NONE
    },
    Tool {
        name: "go run",
        label: "go run/generate",
        runs: &[&["go", "run"], &["go", "generate"], &["go", "vet"]],
        cost: Some(Estimate::new(20.0, 3.0, 180.0)),
        mount_dirs: &["/root/.cache/go-build", "go-build"],
        ..Tool::NONE
    },
    Tool {
        name: "cargo test",
        label: "cargo test/check",
        runs: &[
            &["cargo", "test"],
            &["cargo", "nextest"],
            &["cargo", "check"],
            &["cargo", "clippy"],
            &["cargo", "doc"],
        ],
        cost: Some(Estimate::new(120.0, 30.0, 900.0)),
        mount_dirs: &["/usr/local/cargo/registry", "target"],
        ..Tool::NONE
    },
    Tool {
        name: "python tests",
        label: "Python tests",
        runs: &[&["pytest"], &["py.test"], &["tox"], &["nox"]],
        cost: Some(Estimate::new(40.0, 5.0, 600.0)),
        ..Tool::NONE
    },
    Tool {
        name: "JS tests",
        label: "JS tests",
        runs: &[
            &["npm", "test"],
            &["npm", "run", "test*"],
            &["yarn", "test*"],
            &["yarn", "run", "test*"],
            &["pnpm", "test*"],
            &["pnpm", "run", "test*"],
            &["bun", "test"],
            &["jest"],
            &["vitest"],
            &["mocha"],
            &["playwright", "test"],
        ],
        cost: Some(Estimate::new(40.0, 5.0, 600.0)),
        ..Tool::NONE
    },
    Tool {
        name: "dotnet test",
        label: "dotnet test",
        runs: &[&["dotnet", "test"]],
        cost: Some(Estimate::new(60.0, 10.0, 600.0)),
        ..Tool::NONE
    },
    Tool {
        name: "lint",
        label: "linter",
        runs: &[
            &["golangci-lint"],
            &["staticcheck"],
            &["eslint"],
            &["npm", "run", "lint*"],
            &["yarn", "lint*"],
            &["pnpm", "lint*"],
            &["pnpm", "run", "lint*"],
            &["ruff"],
            &["flake8"],
            &["pylint"],
            &["mypy"],
            &["black"],
            &["shellcheck"],
            &["hadolint"],
            &["rubocop"],
            &["tflint"],
        ],
        cost: Some(Estimate::new(30.0, 3.0, 300.0)),
        ..Tool::NONE
    },
    Tool {
        name: "zig",
        label: "zig build",
        runs: &[&["zig", "build"], &["zig", "cc"], &["zig", "c++"]],
        cost: Some(Estimate::new(60.0, 10.0, 600.0)),
        ..Tool::NONE
    },
    Tool {
        name: "configure",
        label: "configure",
        runs: &[
            &["configure"],
            &["autoreconf"],
            &["autogen.sh"],
            &["meson", "setup"],
        ],
        cost: Some(Estimate::new(15.0, 3.0, 120.0)),
        ..Tool::NONE
    },
    Tool {
        name: "php extensions",
        label: "PHP extension build",
        runs: &[
            &["docker-php-ext-install"],
            &["pecl", "install"],
            &["install-php-extensions"],
        ],
        cost: Some(Estimate::new(60.0, 15.0, 300.0)),
        ..Tool::NONE
    },
    Tool {
        name: "docs",
        label: "docs build",
        runs: &[
            &["mkdocs", "build"],
            &["sphinx-build"],
            &["hugo"],
            &["jekyll", "build"],
            &["docusaurus", "build"],
            &["mdbook", "build"],
            &["antora"],
        ],
        cost: Some(Estimate::new(20.0, 3.0, 180.0)),
        ..Tool::NONE
    },
    Tool {
        name: "framework",
        label: "framework install",
        runs: &[
            &["bench", "init"],
            &["bench", "get-app"],
            &["bench", "build"],
            &["composer", "create-project"],
            &["rails", "new"],
            &["mix", "deps.get"],
            &["mix", "release"],
            &["mix", "compile"],
        ],
        cost: Some(Estimate::new(120.0, 30.0, 900.0)),
        ..Tool::NONE
    },
    Tool {
        name: "gem",
        label: "gem install",
        runs: &[&["gem", "install"]],
        cost: Some(Estimate::new(20.0, 5.0, 180.0)),
        ..Tool::NONE
    },
    Tool {
        name: "conda",
        label: "conda install",
        runs: &[
            &["conda", "install"],
            &["conda", "create"],
            &["conda", "env"],
            &["mamba", "install"],
            &["mamba", "create"],
            &["micromamba", "install"],
            &["micromamba", "create"],
        ],
        cost: Some(Estimate::new(90.0, 20.0, 600.0)),
        ..Tool::NONE
    },
    Tool {
        name: "toolchain",
        label: "toolchain install",
        runs: &[
            &["rustup"],
            &["rustup-init"],
            &["nvm", "install"],
            &["pyenv", "install"],
            &["sdk", "install"],
        ],
        cost: Some(Estimate::new(20.0, 5.0, 120.0)),
        ..Tool::NONE
    },
    Tool {
        name: "download",
        label: "download",
        runs: &[&["curl"], &["wget"], &["git", "clone"], &["git", "fetch"]],
        cost: Some(Estimate::new(5.0, 1.0, 60.0)),
        ..Tool::NONE
    },
    Tool {
        name: "cc",
        label: "C compile",
        compiles: &[&["gcc"]],
        ..Tool::NONE
    },
];

/// The ecosystems: tools that install a project's dependencies from manifests.
pub fn ecosystems() -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().filter(|t| t.is_ecosystem())
}

/// Every download-only command of the table.
pub fn downloads() -> impl Iterator<Item = (&'static Tool, &'static Download)> {
    TOOLS
        .iter()
        .flat_map(|t| t.downloads.iter().map(move |d| (t, d)))
}

/// The tool a name (`go`, `apt`) stands for.
pub fn named(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The tool whose cost class is `label`.
pub fn labelled(label: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.label == label && t.cost.is_some())
}

/// Whether `p` installs system packages (apt, apk, dnf/yum).
pub fn installs_system_packages(p: &Program) -> bool {
    TOOLS.iter().any(|t| t.system && p.runs_any(t.runs))
}

/// Whether `p` compiles (see [`Tool::compiles`]).
pub fn compiles(p: &Program) -> bool {
    TOOLS.iter().any(|t| p.runs_any(t.compiles))
}

/// Programs that cost about nothing whatever their arguments: shell builtins, text tools on
/// small files, users and groups, links and directories. A RUN of these alone gets the generic
/// range; a RUN with a program that is neither in [`TOOLS`] nor cheap is not priced at all.
const CHEAP: &[&str] = &[
    "echo",
    "printf",
    "mkdir",
    "ln",
    "rm",
    "rmdir",
    "touch",
    "cd",
    "export",
    "set",
    "unset",
    "umask",
    "exit",
    "return",
    "local",
    "shift",
    "trap",
    "alias",
    "source",
    ".",
    "read",
    "wait",
    "cat",
    "tee",
    "sed",
    "grep",
    "egrep",
    "fgrep",
    "awk",
    "cut",
    "tr",
    "sort",
    "uniq",
    "head",
    "tail",
    "wc",
    "ls",
    "stat",
    "readlink",
    "realpath",
    "dirname",
    "basename",
    "which",
    "type",
    "printenv",
    "date",
    "uname",
    "nproc",
    "getent",
    "id",
    "whoami",
    "hostname",
    "mktemp",
    "diff",
    "useradd",
    "groupadd",
    "adduser",
    "addgroup",
    "usermod",
    "groupmod",
    "userdel",
    "deluser",
    "chpasswd",
    "passwd",
    "ldconfig",
    "update-ca-certificates",
    "update-alternatives",
    "apt-mark",
    "dpkg-architecture",
    "sha256sum",
    "sha512sum",
    "sha1sum",
    "md5sum",
    "gpg",
    "gpgconf",
    "gpgv",
    "xx-info",
    "xx-verify",
    "setcap",
    "jq",
    "envsubst",
    "docker-php-ext-enable",
    "docker-php-ext-configure",
    "a2enmod",
    "a2dismod",
    "a2enconf",
    "a2disconf",
    "a2ensite",
    "a2dissite",
    "phpenmod",
    "dpkg-divert",
    "locale-gen",
    "update-locale",
];

/// Subcommands that cost about nothing (`apt-get clean`, `git config`).
const CHEAP_RUNS: &[&[&str]] = &[
    &["apt-get", "clean"],
    &["apt-get", "autoremove"],
    &["apt-get", "autoclean"],
    &["apt-get", "purge"],
    &["apt-get", "remove"],
    &["apt", "clean"],
    &["apt", "autoremove"],
    &["apt", "purge"],
    &["apt", "remove"],
    &["apk", "del"],
    &["apk", "info"],
    &["dnf", "clean"],
    &["yum", "clean"],
    &["microdnf", "clean"],
    &["npm", "cache"],
    &["npm", "config"],
    &["yarn", "cache"],
    &["yarn", "config"],
    &["pnpm", "config"],
    &["pip", "cache"],
    &["pip", "config"],
    &["go", "env"],
    &["go", "clean"],
    &["git", "config"],
    &["git", "describe"],
    &["git", "rev-parse"],
    &["git", "log"],
    &["git", "checkout"],
    &["git", "reset"],
    &["dpkg", "--print-architecture"],
    &["cargo", "chef", "prepare"],
    &["corepack", "enable"],
    &["corepack", "prepare"],
];

/// File operations: cheap on a few files, but a recursive one or one over a pattern can copy a
/// large tree into the layer (`chmod 700 node_modules/…/chrome`: 48 s in a harvested log).
const FILE_OPS: &[&str] = &["chmod", "chown", "chgrp", "cp", "mv", "install"];

/// Whether a simple command only prints a version or help (`go version`, `mvn -v`): it costs
/// nothing, whatever tool it names.
pub fn version_check(words: &[String], p: &Program) -> bool {
    let at = words
        .iter()
        .rposition(|w| w.rsplit('/').next() == Some(p.name.as_str()))
        .map_or(words.len(), |i| i + 1);
    let rest = &words[at.min(words.len())..];
    !rest.is_empty()
        && rest.iter().all(|w| {
            matches!(
                w.as_str(),
                "--version" | "-v" | "-V" | "version" | "--help" | "-h"
            )
        })
}

/// Whether a simple command costs about nothing (see [`CHEAP`]); a shell running a `-c` script
/// is judged by the script's commands.
pub fn cheap(words: &[String], p: &Program) -> bool {
    if CHEAP.contains(&p.name.as_str()) || p.runs_any(CHEAP_RUNS) || version_check(words, p) {
        return true;
    }
    if FILE_OPS.contains(&p.name.as_str()) {
        let recursive = words.iter().any(|w| {
            w == "--recursive"
                || (w.starts_with('-')
                    && !w.starts_with("--")
                    && w.chars().any(|c| matches!(c, 'R' | 'r' | 'a')))
        });
        return !recursive && !p.args.iter().any(|a| a.contains('*'));
    }
    super::shell::runs_shell_script(words, p)
}

/// Whether some tool of the table prices `p`.
pub fn priced(p: &Program) -> bool {
    TOOLS.iter().any(|t| t.cost.is_some() && t.priced(p)) || sleep_seconds(p).is_some()
}

/// The seconds a `sleep` with literal durations waits (GNU sleep adds its arguments: `sleep 1m
/// 30`, suffixes `s`, `m`, `h`, `d`); `None` for another program or a duration not written out
/// (`sleep "$DELAY"`, `sleep infinity`).
pub fn sleep_seconds(p: &Program) -> Option<f64> {
    if p.name != "sleep" || p.args.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for a in &p.args {
        let (num, unit) = match a.char_indices().last()? {
            (i, c) if c.is_ascii_alphabetic() => (&a[..i], c),
            _ => (a.as_str(), 's'),
        };
        let n: f64 = num
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
        total += n * match unit {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            _ => return None,
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_are_priced_by_what_they_wait() {
        let p = |args: &[&str]| Program {
            name: "sleep".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(sleep_seconds(&p(&["2"])), Some(2.0));
        assert_eq!(sleep_seconds(&p(&["1m", "30"])), Some(90.0));
        assert_eq!(sleep_seconds(&p(&["0.5s"])), Some(0.5));
        assert_eq!(sleep_seconds(&p(&["$DELAY"])), None);
        assert_eq!(sleep_seconds(&p(&["infinity"])), None);
        assert_eq!(sleep_seconds(&p(&[])), None);
        assert_eq!(sleep_seconds(&p(&["-1"])), None);
    }

    /// The table holds together: names unique, every priced tool has a label and a range
    /// around its typical figure, every download's class is its tool's label and its cache is
    /// the tool's, every ecosystem has manifests and a cache.
    #[test]
    fn the_table_holds_together() {
        for (i, t) in TOOLS.iter().enumerate() {
            assert!(!t.name.is_empty() && !t.label.is_empty(), "row {i}");
            assert!(
                TOOLS.iter().filter(|x| x.name == t.name).count() == 1,
                "{}",
                t.name
            );
            if let Some(e) = t.cost {
                assert!(e.low <= e.seconds && e.seconds <= e.high, "{}", t.name);
                assert!(!t.runs.is_empty(), "{}", t.name);
            }
            for d in t.downloads {
                assert_eq!(d.class, t.label, "{}", t.name);
                assert_eq!(Some(d.cache_dir), t.cache_dir, "{}", t.name);
            }
            if t.is_ecosystem() {
                assert!(
                    !t.manifests.is_empty() && t.cache_dir.is_some(),
                    "{}",
                    t.name
                );
            }
        }
        assert_eq!(
            ecosystems().map(|t| t.name).collect::<Vec<_>>(),
            [
                "npm", "yarn", "pnpm", "pip", "poetry", "uv", "pipenv", "bundler", "composer",
                "go", "cargo", "maven", "dotnet"
            ]
        );
    }
}
