//! The command line: `steward <command> [--data-dir DIR] [--config FILE]`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use steward_domain::{ApiTokenId, Slug, TenantId};

use crate::{
    commands,
    config::{Config, Overrides},
    telemetry,
};

/// Exit status for a configuration that cannot be used (as `sysexits.h` EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

/// Steward: the operations control plane for managed service providers.
#[derive(Debug, Parser)]
#[command(name = "steward", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// Where Steward keeps its data [default: ./steward-data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// A TOML configuration file; environment variables (STEWARD_…) and flags override it
    #[arg(long, global = true, value_name = "FILE", env = "STEWARD_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web UI and the API (applies pending database migrations first)
    Serve(ServeArgs),
    /// Run the background jobs (vendor sync, triage, actions) without serving HTTP
    Worker,
    /// Apply pending database migrations, then exit
    Migrate,
    /// Print the effective configuration, with secrets redacted
    Config,
    /// Serve with a demo MSP and its customers; data persists in the data directory
    Demo(ServeArgs),
    /// Create MSPs (the first one on a fresh deployment)
    #[command(subcommand)]
    Msp(MspCommand),
    /// Issue, list and revoke API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check the audit chains
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Look into the job queue
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Test, describe or benchmark the authority policies
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check Sigma rules and try them on event files, offline
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Measure Steward end to end
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check Sigma rule files against Sigma's specification and load them as Steward would;
    /// exit 1 naming every problem (file:line:column) and every rule that would not load
    Lint {
        /// Rule files, or folders of them (.yml, .yaml)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Evaluate rules over event files (JSON, a JSON array, or NDJSON, in the shapes the log
    /// ingest takes) and print how often each rule matched
    Test {
        /// Rule files, or folders of them [default: the built-in rule pack]
        #[arg(long, value_name = "PATH", num_args = 1..)]
        rules: Vec<PathBuf>,
        /// Event files, or folders of them (.json, .ndjson, .jsonl)
        #[arg(long, required = true, value_name = "PATH", num_args = 1..)]
        events: Vec<PathBuf>,
        /// How to print the report
        #[arg(long, value_enum, default_value = "text")]
        format: commands::rules::Format,
    },
    /// Measure recall: run the sandbox's labelled attack scenarios through a scratch Steward
    /// (connectors, normalization, the rules, triage) and report which expected detections
    /// fired; exit 1 when one did not (a scratch SQLite database unless database.url names one)
    Coverage {
        /// Turn these rules (Sigma ids) off first, to see what would no longer be found
        #[arg(long, value_name = "RULE_ID", num_args = 1..)]
        without: Vec<String>,
        /// How to print the report
        #[arg(long, value_enum, default_value = "text")]
        format: commands::rules::Format,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Detection's cost per event — normalizing Windows events to OCSF and evaluating them
    /// against 10, 100 and 1,000 rules of the built-in pack and the whole pack — and the latency
    /// from an event reaching the log ingest endpoint to its finding (use a release build; a
    /// scratch SQLite database unless database.url names one)
    Detect {
        /// How many synthetic events to evaluate
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// How many events to time from the log ingest endpoint to their finding (0: none)
        #[arg(long, default_value_t = 100)]
        latency_runs: usize,
        /// The workers' poll interval in milliseconds (worker.poll_interval_ms)
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
    },
    /// Latency from a vendor alert to the recorded policy decision, through the sandbox, the
    /// job queue, sync, triage and the policy (a scratch SQLite database unless
    /// database.url names one)
    Loop {
        /// How many alerts to measure
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// The workers' poll interval in milliseconds (worker.poll_interval_ms)
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
    },
    /// Time and memory to synchronize every vendor of large tenants, or of many tenants,
    /// from the sandbox over HTTP into the database (a scratch SQLite database unless
    /// database.url names one)
    Sync {
        /// How many tenants
        #[arg(long, default_value_t = 1)]
        tenants: usize,
        /// Devices per tenant
        #[arg(long, default_value_t = 5000)]
        devices: usize,
        /// People per tenant
        #[arg(long, default_value_t = 5000)]
        users: usize,
        /// Only these vendors, comma-separated (microsoft_defender, microsoft_graph, okta,
        /// crowdstrike_falcon, ninjaone, veeam_spc) [default: all of them]
        #[arg(long, value_delimiter = ',')]
        vendors: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run every test_* rule of the policies; exit 1 on any failure
    Test {
        /// A policy folder to test [default: policy.dir, else the built-in policies]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of the authority policy's input
    Schema {
        /// Write it to this file instead
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Measure decisions per second and the latency of one decision
    Bench {
        /// How many decisions to make in all
        #[arg(long, default_value_t = 20_000)]
        decisions: usize,
        /// Threads deciding in parallel [default: one per core]
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum MspCommand {
    /// Create an MSP and its first admin, and print the admin's one-time password
    Create {
        /// The MSP's name
        #[arg(long)]
        name: String,
        /// Short URL-safe name [default: derived from the name]
        #[arg(long)]
        slug: Option<Slug>,
        /// The first admin's email
        #[arg(long)]
        admin_email: String,
        /// The first admin's name
        #[arg(long, default_value = "MSP admin")]
        admin_name: String,
    },
    /// Confirm, as the deployment's operator, that an email domain is an MSP's, so its admins may
    /// have single sign-on create users from it
    VerifyDomain {
        /// The MSP's slug
        #[arg(long)]
        msp: Slug,
        /// The email domain, such as harbor-it.example
        #[arg(long)]
        domain: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue an API token for a user and print its secret (shown once)
    Create {
        /// The user's email
        #[arg(long)]
        email: String,
        /// What the token is for
        #[arg(long, default_value = "CLI token")]
        name: String,
        /// Days until the token stops working [default: never]
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in: Option<u32>,
    },
    /// List a user's API tokens
    List {
        /// The user's email
        #[arg(long)]
        email: String,
    },
    /// Revoke an API token; it stops working at once
    Revoke {
        /// The token's id (from `steward token list`)
        token_id: ApiTokenId,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify hashes, links and signed checkpoints; exit 0 when intact, 3 naming the first
    /// broken entry of each broken chain
    Verify {
        /// Only this tenant's chain [default: every chain]
        #[arg(long, value_name = "TENANT_ID")]
        tenant: Option<TenantId>,
    },
    /// Print a new signing key for audit.signing_key (and its public key on standard error)
    Keygen,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List the jobs whose last try failed, and why: first those that failed for good, then
    /// those waiting to run again
    Failed {
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
}

/// Why a command that runs against the simulated vendors cannot run in this build.
#[cfg(not(feature = "sandbox"))]
fn without_sandbox(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`{command}` runs against the sandbox's simulated vendors, and this build of Steward has \
         none (it was built without the `sandbox` feature)"
    )
}

/// Parses the command line, runs the command and returns the process exit status.
#[must_use]
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        data_dir: cli.global.data_dir.clone(),
        listen: match &cli.command {
            Command::Serve(args) | Command::Demo(args) => args.listen,
            Command::Migrate
            | Command::Worker
            | Command::Config
            | Command::Msp(_)
            | Command::Token(_)
            | Command::Audit(_)
            | Command::Jobs(_)
            | Command::Policy(_)
            | Command::Rules(_)
            | Command::Bench(_) => None,
        },
    };
    let config = match Config::load(cli.global.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("steward: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init(&config.log);
    for variable in Config::unknown_variables() {
        tracing::warn!("ignoring {variable}: it names no configuration key");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("steward")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("steward: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => commands::serve::run(config).await,
            Command::Migrate => commands::migrate::run(config).await,
            Command::Worker => commands::worker::run(config).await,
            Command::Config => commands::config::run(&config),
            #[cfg(feature = "sandbox")]
            Command::Demo(_) => commands::demo::run(config).await,
            #[cfg(not(feature = "sandbox"))]
            Command::Demo(_) => Err(without_sandbox("steward demo")),
            Command::Msp(MspCommand::Create {
                name,
                slug,
                admin_email,
                admin_name,
            }) => commands::msp::create(config, &name, slug, &admin_email, &admin_name).await,
            Command::Msp(MspCommand::VerifyDomain { msp, domain }) => {
                commands::msp::verify_domain(config, &msp, &domain).await
            }
            Command::Token(TokenCommand::Create {
                email,
                name,
                expires_in,
            }) => commands::token::create(config, &email, &name, expires_in).await,
            Command::Token(TokenCommand::List { email }) => {
                commands::token::list(config, &email).await
            }
            Command::Token(TokenCommand::Revoke { token_id }) => {
                commands::token::revoke(config, token_id).await
            }
            Command::Audit(AuditCommand::Verify { tenant }) => {
                commands::audit::verify(config, tenant).await
            }
            Command::Audit(AuditCommand::Keygen) => commands::audit::keygen(),
            Command::Jobs(JobsCommand::Failed { limit }) => {
                commands::jobs::failed(config, limit).await
            }
            Command::Policy(PolicyCommand::Test { dir }) => commands::policy::test(&config, dir),
            Command::Policy(PolicyCommand::Schema { out }) => commands::policy::schema(out),
            Command::Policy(PolicyCommand::Bench { decisions, threads }) => {
                commands::policy::bench(&config, decisions, threads)
            }
            Command::Rules(RulesCommand::Lint { paths }) => commands::rules::lint(&paths),
            Command::Rules(RulesCommand::Test {
                rules,
                events,
                format,
            }) => commands::rules::test(&rules, &events, format),
            #[cfg(feature = "sandbox")]
            Command::Rules(RulesCommand::Coverage { without, format }) => {
                commands::rules_coverage::coverage(config, without, format).await
            }
            #[cfg(not(feature = "sandbox"))]
            Command::Rules(RulesCommand::Coverage { .. }) => {
                Err(without_sandbox("steward rules coverage"))
            }
            #[cfg(feature = "sandbox")]
            Command::Bench(BenchCommand::Sync {
                tenants,
                devices,
                users,
                vendors,
            }) => commands::bench_sync::sync(config, tenants, devices, users, &vendors).await,
            #[cfg(feature = "sandbox")]
            Command::Bench(BenchCommand::Detect {
                events,
                latency_runs,
                poll_ms,
            }) => commands::bench_detect::detect(config, events, latency_runs, poll_ms).await,
            #[cfg(feature = "sandbox")]
            Command::Bench(BenchCommand::Loop { runs, poll_ms }) => {
                commands::bench::alert_to_decision(config, runs, poll_ms).await
            }
            #[cfg(not(feature = "sandbox"))]
            Command::Bench(_) => Err(without_sandbox("steward bench")),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("steward: error: {}", crate::error_chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}
