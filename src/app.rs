//! Wires a parsed command line to the engine: validation first (nothing
//! touches AWS before every flag is checked), then the command, then its
//! output (data on stdout, logs and progress on stderr).

use crate::aws::Clients;
use crate::cli::{Cli, Command, ImageCommand};
use crate::config::Settings;
use crate::ops::{self, Engine, Error, StepStatus};
use crate::report::{Human, JsonLines, Quiet, Reporter};
use crate::steps::{self, Ctx};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    // The SDK's own logs stop at debug even at -vvv: its trace level dumps
    // request details we do not want on anyone's terminal.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "warn,provision=info",
        (_, 2) => "info,provision=debug",
        _ => "debug,provision=trace,hyper=info,h2=info,rustls=info",
    };
    let filter = EnvFilter::try_from_env("PROVISION_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .try_init();
}

fn reporter(json: bool, quiet: bool) -> Arc<dyn Reporter> {
    if json {
        Arc::new(JsonLines::new())
    } else if quiet {
        Arc::new(Quiet)
    } else {
        Human::new()
    }
}

/// Runs one command line to completion.
pub fn run(cli: Cli) -> Result<(), Error> {
    init_tracing(cli.verbose, cli.quiet);
    let max_attempts = crate::config::validate_env(cli.region.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli, max_attempts))
}

struct Setup {
    engine: Arc<Engine>,
}

async fn setup(cli: &Cli, settings: Settings, max_attempts: u32, reporter: Arc<dyn Reporter>) -> Result<Setup, Error> {
    let clients = Clients::load(cli.region.as_deref(), max_attempts).await;
    let steps = steps::stack(&settings);
    let cx = Ctx::new(clients, settings, reporter.clone());
    Ok(Setup {
        engine: Engine::new(cx, steps, &cli.state_dir, reporter),
    })
}

async fn dispatch(cli: Cli, max_attempts: u32) -> Result<(), Error> {
    match &cli.command {
        Command::Up(a) => {
            let settings = a.stack.validate()?;
            let parallelism = a.run.validate()?;
            let rep = reporter(a.run.json, cli.quiet);
            let Setup { engine } = setup(&cli, settings, max_attempts, rep).await?;
            steps::preflight(&engine.cx).await?;
            let summary = engine.up(parallelism).await?;
            let outputs = steps::outputs(&engine.cx);
            write_outputs(&a.outputs, &outputs)?;
            if a.run.json {
                println!("{}", serde_json::json!({"event": "done", "outputs": outputs}));
            } else {
                if !cli.quiet {
                    eprintln!(
                        "up: {} created, {} repaired, {} unchanged in {:.1}s; outputs written to {}",
                        summary.count("created"),
                        summary.count("repaired"),
                        summary.count("found"),
                        summary.elapsed.as_secs_f64(),
                        a.outputs.display()
                    );
                }
                println!("{}", serde_json::to_string_pretty(&outputs).expect("json"));
            }
            Ok(())
        }
        Command::Down(a) => {
            let settings = a.stack.validate()?;
            let parallelism = a.run.validate()?;
            let rep = reporter(a.run.json, cli.quiet);
            let Setup { engine } = setup(&cli, settings, max_attempts, rep).await?;
            if !a.yes {
                let rows = engine.survey(parallelism, false).await?;
                let present: Vec<&StepStatus> = rows.iter().filter(|r| r.state == "present").collect();
                let mut out = std::io::stdout().lock();
                for r in present.iter().rev() {
                    let _ = writeln!(
                        out,
                        "would delete {:<22} {:<18} {}",
                        r.step,
                        r.kind,
                        r.id.as_deref().unwrap_or("")
                    );
                }
                for r in rows.iter().filter(|r| r.state == "error") {
                    let _ = writeln!(out, "could not check {}: {}", r.step, r.error.as_deref().unwrap_or(""));
                }
                return Err(Error::NotConfirmed { count: present.len() });
            }
            let summary = engine.down(parallelism).await?;
            if !cli.quiet && !a.run.json {
                eprintln!(
                    "down: {} deleted, {} already absent in {:.1}s",
                    summary.count("deleted"),
                    summary.count("absent"),
                    summary.elapsed.as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Status(a) => {
            let settings = a.stack.validate()?;
            let Setup { engine } = setup(&cli, settings, max_attempts, Arc::new(Quiet)).await?;
            let rows = engine.survey(8, true).await?;
            let missing = rows.iter().filter(|r| r.state == "missing").count();
            let drifted = rows.iter().filter(|r| r.state == "drifted").count();
            let errors = rows.iter().filter(|r| r.state == "error").count();
            let outputs = steps::outputs(&engine.cx);
            let details = steps::details(&engine.cx).await;
            if a.json {
                let doc = serde_json::json!({
                    "suffix": engine.cx.suffix().as_str(),
                    "region": engine.cx.region(),
                    "converged": missing + drifted + errors == 0,
                    "summary": {"present": rows.len() - missing - drifted - errors, "missing": missing, "drifted": drifted, "errors": errors},
                    "steps": rows,
                    "outputs": outputs,
                    "details": details,
                });
                println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
            } else {
                print_status(&rows, &details);
            }
            if errors > 0 {
                let first = rows.iter().find(|r| r.state == "error").expect("counted");
                return Err(Error::Failed(format!(
                    "status could not check {errors} step(s); first: {}: {}",
                    first.step,
                    first.error.as_deref().unwrap_or("")
                )));
            }
            if missing + drifted > 0 {
                return Err(Error::NotConverged { missing, drifted });
            }
            Ok(())
        }
        Command::Plan(a) => {
            let settings = a.stack.validate()?;
            let Setup { engine } = setup(&cli, settings, max_attempts, Arc::new(Quiet)).await?;
            let rows = engine.survey(8, true).await?;
            print_plan(&engine, &rows)?;
            Ok(())
        }
        Command::Step(a) => {
            let settings = a.stack.validate()?;
            let rep = reporter(false, cli.quiet);
            let Setup { engine } = setup(&cli, settings, max_attempts, rep).await?;
            if !a.undo {
                steps::preflight(&engine.cx).await?;
            }
            let out = engine.step(&a.name, a.undo).await?;
            println!("{}: {} {}", a.name, out.action, out.detail);
            Ok(())
        }
        Command::Deploy(a) => {
            let settings = a.stack.validate()?;
            let rep = reporter(false, cli.quiet);
            let Setup { engine } = setup(&cli, settings, max_attempts, rep).await?;
            let _lock = engine.lock()?;
            let report = steps::ecs::deploy(&engine, std::time::Duration::from_secs(a.timeout)).await?;
            println!("{report}");
            Ok(())
        }
        Command::Image(ImageCommand::Push(a)) => {
            let settings = a.stack.validate()?;
            let rep = reporter(false, cli.quiet);
            let Setup { engine } = setup(&cli, settings, max_attempts, rep).await?;
            let uri = crate::commands::image::push(&engine.cx, &a.tag, &a.context).await?;
            println!("{uri}");
            Ok(())
        }
    }
}

fn write_outputs(path: &Path, outputs: &BTreeMap<String, String>) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write outputs to {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(outputs).expect("json")).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

fn print_status(rows: &[StepStatus], details: &BTreeMap<String, serde_json::Value>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:<24} {:<20} {:<9} ID", "STEP", "KIND", "STATE");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<24} {:<20} {:<9} {}",
            r.step,
            r.kind,
            r.state,
            r.id.as_deref().unwrap_or("-")
        );
        for d in &r.drift {
            let _ = writeln!(out, "{:<24}   drift: {d}", "");
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{:<24}   error: {e}", "");
        }
    }
    for (k, v) in details {
        let _ = writeln!(out, "{k}: {v}");
    }
}

fn print_plan(engine: &Engine, rows: &[StepStatus]) -> Result<(), Error> {
    let (graph, _) = ops::up_graph(&engine.steps)?;
    let by_id: BTreeMap<&str, &StepStatus> = rows.iter().map(|r| (r.step.as_str(), r)).collect();
    let mut out = std::io::stdout().lock();
    let (mut create, mut change, mut keep) = (0, 0, 0);
    for n in graph.order() {
        let name = graph.name(n);
        let Some(r) = by_id.get(name) else { continue };
        let deps: Vec<&str> = graph.deps(n).iter().map(|&d| graph.name(d)).collect();
        let (mark, what) = match r.state.as_str() {
            "missing" => {
                create += 1;
                ("+", "create".to_string())
            }
            "drifted" => {
                change += 1;
                ("~", format!("change: {}", r.drift.join("; ")))
            }
            "error" => ("?", format!("cannot check: {}", r.error.as_deref().unwrap_or(""))),
            _ => {
                keep += 1;
                ("=", format!("keep {}", r.id.as_deref().unwrap_or("")))
            }
        };
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!("  (after {})", deps.join(", "))
        };
        let _ = writeln!(out, "{mark} {:<24} {:<20} {what}{after}", name, r.kind);
    }
    let _ = writeln!(out, "plan: {create} to create, {change} to change, {keep} unchanged");
    Ok(())
}
