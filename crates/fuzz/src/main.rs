//! `mxrs-fuzz`: a mutation fuzzer on stable Rust for the readers of untrusted bytes in mxrs.
//!
//! ```text
//! cargo run -p mxrs-fuzz --release -- <target|all> [--runs N] [--seed S] [--timeout-ms T]
//!                                                  [--out DIR] [--corpus DIR] [--save-new]
//! cargo run -p mxrs-fuzz --release -- replay <target> FILE...
//! cargo run -p mxrs-fuzz --release -- list
//! ```
//!
//! Each target runs in a child process (the same binary with `--child`), so that an abort (a
//! failed infallible allocation, a stack overflow) is reported with the input that caused it
//! instead of ending the run. See README.md.

mod alloc;
mod json_mutate;
mod kinds;
mod mutate;
mod rng;
mod runner;
mod targets;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use runner::{Config, Worker};
use targets::{TARGETS, Target};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const USAGE: &str = "usage: mxrs-fuzz <target|all> [--runs N] [--seed S] [--timeout-ms T] [--out DIR] \
                     [--corpus DIR] [--save-new] [--show-kinds]\n       mxrs-fuzz replay <target> FILE...\n       mxrs-fuzz list";

/// Parsed command line.
#[derive(Debug)]
struct Args {
    positional: Vec<String>,
    cfg: Config,
    child: bool,
}

fn default_out() -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target_dir.join("fuzz")
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut cfg = Config {
        runs: 10_000,
        seed: 0,
        timeout: Duration::from_secs(1),
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        out: default_out(),
        save_new: false,
        record_current: false,
        progress: true,
        show_kinds: false,
    };
    let (mut positional, mut child) = (Vec::new(), false);
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let number = |s: String, name: &str| s.parse::<u64>().map_err(|_| format!("{name}: '{s}' is not a number"));
        match a.as_str() {
            "--runs" => cfg.runs = number(value("--runs")?, "--runs")?,
            "--seed" => cfg.seed = number(value("--seed")?, "--seed")?,
            "--timeout-ms" => cfg.timeout = Duration::from_millis(number(value("--timeout-ms")?, "--timeout-ms")?),
            "--out" => cfg.out = PathBuf::from(value("--out")?),
            "--corpus" => cfg.corpus = PathBuf::from(value("--corpus")?),
            "--save-new" => cfg.save_new = true,
            "--show-kinds" => cfg.show_kinds = true,
            "--child" => child = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => positional.push(s.to_string()),
        }
    }
    Ok(Args { positional, cfg, child })
}

fn target(name: &str) -> Result<&'static Target, String> {
    targets::find(name).ok_or_else(|| {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        format!("unknown target '{name}' (targets: {})", names.join(", "))
    })
}

/// In the child: fuzz one target and print its summary. Exit status 1 when something failed.
fn run_child(t: &Target, cfg: &Config) -> Result<bool, String> {
    let cfg = Config { record_current: true, ..cfg.clone() };
    let s = runner::fuzz(t, &cfg)?;
    println!("{}", s.line());
    Ok(s.failures.is_empty())
}

/// Run every named target in its own child process; report aborts with their input.
fn supervise(names: &[&str], cfg: &Config) -> Result<bool, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let mut clean = true;
    for name in names {
        let mut args = vec![
            "--child".to_string(),
            name.to_string(),
            "--runs".into(),
            cfg.runs.to_string(),
            "--seed".into(),
            cfg.seed.to_string(),
            "--timeout-ms".into(),
            cfg.timeout.as_millis().to_string(),
        ];
        args.extend([
            "--out".into(),
            cfg.out.display().to_string(),
            "--corpus".into(),
            cfg.corpus.display().to_string(),
        ]);
        if cfg.save_new {
            args.push("--save-new".into());
        }
        if cfg.show_kinds {
            args.push("--show-kinds".into());
        }
        let status = Command::new(&exe).args(&args).status().map_err(|e| format!("cannot start {name}: {e}"))?;
        match status.code() {
            Some(0) => {}
            Some(1) => clean = false,
            _ => {
                clean = false;
                let current = cfg.out.join(format!("{name}.current"));
                match runner::read_current(&current) {
                    Some(input) => {
                        let p = runner::save_input(&cfg.out, name, "abort", &input);
                        println!("{name}: ABORTED ({status}); the input being run is saved to {}", p.display());
                    }
                    None => println!("{name}: ABORTED ({status}) before running an input"),
                }
            }
        }
    }
    Ok(clean)
}

/// Run saved inputs once each and print what happened.
fn replay(t: &Target, files: &[String], cfg: &Config) -> Result<bool, String> {
    let worker = Worker::spawn(t.run);
    let mut clean = true;
    for f in files {
        let input = std::fs::read(f).map_err(|e| format!("cannot read {f}: {e}"))?;
        let Some(ran) = worker.run(&input, cfg.timeout) else {
            println!("{f}: HANG (no result after {:?})", cfg.timeout);
            return Ok(false);
        };
        let what = match &ran.outcome {
            Ok(Ok(features)) => format!("ok {features:?}"),
            Ok(Err(e)) => format!("error: {e}"),
            Err(panic) => {
                clean = false;
                format!("PANIC: {panic}")
            }
        };
        let over = ran.max_alloc > runner::alloc_limit(input.len());
        clean &= !over;
        println!(
            "{f} ({} B): {what}; largest allocation {}{}, {:.2} ms",
            input.len(),
            runner::human(ran.max_alloc),
            if over { " (OVER THE LIMIT)" } else { "" },
            ran.elapsed.as_secs_f64() * 1e3
        );
    }
    Ok(clean)
}

fn main_inner(argv: &[String]) -> Result<bool, String> {
    let args = parse_args(argv)?;
    let pos: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    match pos.as_slice() {
        ["list"] => {
            for t in TARGETS {
                println!("{:<13} {}", t.name, t.about);
            }
            Ok(true)
        }
        ["replay", name, files @ ..] if !files.is_empty() => replay(target(name)?, &args.positional[2..], &args.cfg),
        [name] if args.child => run_child(target(name)?, &args.cfg),
        ["all"] => supervise(&TARGETS.iter().map(|t| t.name).collect::<Vec<_>>(), &args.cfg),
        names if !names.is_empty() && !names.contains(&"replay") => {
            for n in names {
                target(n)?;
            }
            supervise(names, &args.cfg)
        }
        _ => Err(USAGE.into()),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match main_inner(&argv) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run of every target, as `cargo test` can afford: the seeds and ~200 mutants each.
    #[test]
    fn every_target_survives_a_short_run() {
        let cfg = Config {
            runs: 200,
            seed: 1,
            timeout: Duration::from_secs(5),
            corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
            out: std::env::temp_dir().join(format!("mxrs-fuzz-test-{}", std::process::id())),
            save_new: false,
            record_current: false,
            progress: false,
            show_kinds: false,
        };
        for t in TARGETS {
            let s = runner::fuzz(t, &cfg).unwrap();
            assert!(s.failures.is_empty(), "{}", s.line());
            assert_eq!(s.runs, 200);
            assert!(s.ok >= s.seeds as u64 / 2, "most seeds must load: {}", s.line());
        }
        let _ = std::fs::remove_dir_all(&cfg.out);
    }

    #[test]
    fn arguments() {
        let a = parse_args(&["all".into(), "--runs".into(), "5".into(), "--seed".into(), "9".into()]).unwrap();
        assert_eq!((a.positional.as_slice(), a.cfg.runs, a.cfg.seed), (&["all".to_string()][..], 5, 9));
        assert!(parse_args(&["--runs".into()]).is_err());
        assert!(parse_args(&["--bogus".into()]).is_err());
    }
}
