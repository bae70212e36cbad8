//! The fuzz loop: run the seed corpus, then mutants of the corpus, each on a worker thread
//! under `catch_unwind`, with a time limit per input and the largest single allocation checked
//! against what the input's size justifies. Inputs that reach an outcome not seen before (a new
//! error message shape, a new dtype or op loaded) join the in-memory corpus.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::kinds::normalize;
use crate::mutate;
use crate::rng::Rng;
use crate::targets::{Outcome, Target};

/// The largest single allocation an input of `len` bytes may cause: 64 MiB plus 64 bytes per
/// input byte.
pub fn alloc_limit(len: usize) -> usize {
    (64 << 20) + 64 * len
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inputs to run per target, the seeds included.
    pub runs: u64,
    /// Seed of the mutation generator.
    pub seed: u64,
    /// Time limit per input.
    pub timeout: Duration,
    /// Directory of the seed corpora (`<corpus>/<target>/`).
    pub corpus: PathBuf,
    /// Where failing inputs (and, with `save_new`, new corpus entries) are written.
    pub out: PathBuf,
    /// Also write every input that joined the corpus to `<out>/<target>/new/`.
    pub save_new: bool,
    /// Write each input to `<out>/<target>.current` before running it, so that the supervising
    /// process can save the input of a run that aborted.
    pub record_current: bool,
    /// Print progress every few seconds.
    pub progress: bool,
    /// Print every outcome kind seen, with its count, after the run.
    pub show_kinds: bool,
}

/// What a run found and how long it took.
#[derive(Debug, Default)]
pub struct Summary {
    /// Target name.
    pub target: String,
    /// Inputs run.
    pub runs: u64,
    /// Seeds among them.
    pub seeds: usize,
    /// Inputs the reader accepted.
    pub ok: u64,
    /// Inputs the reader rejected with an error.
    pub errors: u64,
    /// Distinct outcome features seen.
    pub features: usize,
    /// Inputs kept in the corpus beyond the seeds.
    pub kept: usize,
    /// Largest single allocation, and the length of the input that caused it.
    pub max_alloc: (usize, usize),
    /// Largest rise of live heap bytes during one input.
    pub peak_live: usize,
    /// Slowest input.
    pub slowest: Duration,
    /// Wall time.
    pub elapsed: Duration,
    /// One line per failure (panic, hang, oversized allocation), with the saved input's path.
    pub failures: Vec<String>,
    /// An input ran past the time limit; the run stopped there.
    pub hung: bool,
}

impl Summary {
    /// The one-line report.
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut s = format!(
            "{}: {} inputs in {:.1} s ({:.0}/s): {} ok, {} errors, {} outcome kinds, corpus {}+{}, \
             largest allocation {} (input of {} B), peak live +{}, slowest {:.1} ms",
            self.target,
            self.runs,
            secs,
            self.runs as f64 / secs.max(1e-9),
            self.ok,
            self.errors,
            self.features,
            self.seeds,
            self.kept,
            human(self.max_alloc.0),
            self.max_alloc.1,
            human(self.peak_live),
            self.slowest.as_secs_f64() * 1e3,
        );
        if self.failures.is_empty() {
            s.push_str(": no failures");
        } else {
            let _ = write!(s, ": {} FAILURES", self.failures.len());
            for f in &self.failures {
                let _ = write!(s, "\n  {f}");
            }
        }
        s
    }
}

/// Bytes in B/KiB/MiB.
pub fn human(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

// ---------------------------------------------------------------------------------------------
// Panics: messages of panics inside a target are kept, not printed.
// ---------------------------------------------------------------------------------------------

thread_local! {
    static IN_TARGET: Cell<bool> = const { Cell::new(false) };
}
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_TARGET.with(Cell::get) {
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
            } else {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// The worker thread
// ---------------------------------------------------------------------------------------------

/// The result of one input.
#[derive(Debug)]
pub struct Ran {
    /// The outcome, or the panic message.
    pub outcome: Result<Outcome, String>,
    /// Largest single allocation.
    pub max_alloc: usize,
    /// Rise of live heap bytes at peak.
    pub peak_live: usize,
    /// Time taken.
    pub elapsed: Duration,
}

/// A thread that runs one target's inputs, so that a hang can be detected by the caller.
#[derive(Debug)]
pub struct Worker {
    jobs: Sender<Vec<u8>>,
    done: Receiver<Ran>,
}

impl Worker {
    /// Start a worker for `run`.
    pub fn spawn(run: fn(&[u8]) -> Outcome) -> Worker {
        install_panic_hook();
        let (jobs, job_rx) = mpsc::channel::<Vec<u8>>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("fuzz-worker".into())
            .spawn(move || {
                for input in job_rx {
                    let live = alloc::live();
                    alloc::reset();
                    let t0 = Instant::now();
                    IN_TARGET.with(|f| f.set(true));
                    let r = panic::catch_unwind(AssertUnwindSafe(|| run(&input)));
                    IN_TARGET.with(|f| f.set(false));
                    let elapsed = t0.elapsed();
                    drop(input);
                    let (max_alloc, peak_live) = alloc::since_reset(live);
                    let outcome =
                        r.map_err(|_| std::mem::take(&mut *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())));
                    if done_tx.send(Ran { outcome, max_alloc, peak_live, elapsed }).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the fuzz worker thread");
        Worker { jobs, done }
    }

    /// Run one input; None if it did not finish within `timeout` (the worker is then stuck).
    pub fn run(&self, input: &[u8], timeout: Duration) -> Option<Ran> {
        self.jobs.send(input.to_vec()).expect("fuzz worker is alive");
        match self.done.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("fuzz worker thread died"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------------

/// The files of a corpus directory, sorted by name.
pub fn load_corpus(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read corpus {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    if seeds.is_empty() {
        return Err(format!("corpus {} is empty", dir.display()));
    }
    Ok(seeds)
}

/// FNV-1a, to name saved inputs and to derive per-target seeds.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Save a failing input under `<out>/<target>/`; returns its path.
pub fn save_input(out: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = out.join(target);
    let path = dir.join(format!("{kind}-{:016x}.bin", fnv(input)));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, input)) {
        eprintln!("cannot save {}: {e}", path.display());
    }
    path
}

/// Store the input about to run: its length (`u64` LE), then its bytes, written in place (no
/// truncation, which costs an ext4 flush per input); read back by [`read_current`].
fn record_current(f: &File, input: &[u8]) {
    let _ = f.write_all_at(&(input.len() as u64).to_le_bytes(), 0);
    let _ = f.write_all_at(input, 8);
}

/// The input a child was running, from its `.current` file.
pub fn read_current(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    bytes.get(8..8 + usize::try_from(len).ok()?).map(<[u8]>::to_vec)
}

/// A mutant of a random corpus entry.
fn next_input(rng: &mut Rng, t: &Target, corpus: &[Vec<u8>]) -> Vec<u8> {
    let parent = rng.pick(corpus);
    let other = rng.pick(corpus);
    let mut input = match t.structured {
        Some(f) if rng.one_in(2) => f(rng, parent).unwrap_or_else(|| parent.clone()),
        _ => parent.clone(),
    };
    if input == *parent || rng.one_in(4) {
        mutate::havoc(rng, &mut input, other, t.dict, t.max_len);
    }
    input.truncate(t.max_len);
    if let Some(fix) = t.fixup
        && !rng.one_in(4)
    {
        fix(&mut input);
    }
    input
}

/// Most inputs kept beyond the seeds.
const MAX_KEPT: usize = 4096;

/// Fuzz one target.
pub fn fuzz(t: &Target, cfg: &Config) -> Result<Summary, String> {
    let seeds = load_corpus(&cfg.corpus.join(t.name))?;
    let worker = Worker::spawn(t.run);
    let mut corpus = seeds.clone();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut rng = Rng::new(cfg.seed ^ fnv(t.name.as_bytes()));
    let mut s = Summary { target: t.name.to_string(), seeds: seeds.len(), ..Summary::default() };
    let current_path = cfg.out.join(format!("{}.current", t.name));
    let current = if cfg.record_current {
        std::fs::create_dir_all(&cfg.out).map_err(|e| format!("cannot create {}: {e}", cfg.out.display()))?;
        Some(File::create(&current_path).map_err(|e| format!("cannot create {}: {e}", current_path.display()))?)
    } else {
        None
    };
    let start = Instant::now();
    let mut last_report = start;
    for i in 0..cfg.runs {
        let input = match seeds.get(i as usize) {
            Some(seed) => seed.clone(),
            None => next_input(&mut rng, t, &corpus),
        };
        if let Some(f) = &current {
            record_current(f, &input);
        }
        s.runs += 1;
        let Some(ran) = worker.run(&input, cfg.timeout) else {
            let p = save_input(&cfg.out, t.name, "hang", &input);
            s.failures.push(format!("hang: no result after {:?}; input saved to {}", cfg.timeout, p.display()));
            s.hung = true;
            break;
        };
        if ran.max_alloc > s.max_alloc.0 {
            s.max_alloc = (ran.max_alloc, input.len());
        }
        s.peak_live = s.peak_live.max(ran.peak_live);
        s.slowest = s.slowest.max(ran.elapsed);
        if ran.max_alloc > alloc_limit(input.len()) {
            let p = save_input(&cfg.out, t.name, "alloc", &input);
            s.failures.push(format!(
                "allocation of {} for an input of {} B (limit {}); input saved to {}",
                human(ran.max_alloc),
                input.len(),
                human(alloc_limit(input.len())),
                p.display()
            ));
        }
        let features = match ran.outcome {
            Err(panic) => {
                let p = save_input(&cfg.out, t.name, "panic", &input);
                s.failures.push(format!("{panic}; input saved to {}", p.display()));
                vec![format!("panic: {}", normalize(&panic))]
            }
            Ok(Ok(features)) => {
                s.ok += 1;
                features
            }
            Ok(Err(msg)) => {
                s.errors += 1;
                vec![format!("error: {}", normalize(&msg))]
            }
        };
        let mut new = false;
        for f in features {
            let n = seen.entry(f).or_insert(0);
            new |= *n == 0;
            *n += 1;
        }
        if new && i as usize >= seeds.len() && s.kept < MAX_KEPT {
            if cfg.save_new {
                save_input(&cfg.out, &format!("{}/new", t.name), "new", &input);
            }
            corpus.push(input);
            s.kept += 1;
        }
        if s.failures.len() >= 20 {
            s.failures.push("stopped after 20 failures".into());
            break;
        }
        if cfg.progress && last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!("  {}: {}/{} inputs, {} failures", t.name, i + 1, cfg.runs, s.failures.len());
        }
    }
    s.features = seen.len();
    if cfg.show_kinds {
        for (kind, n) in &seen {
            println!("  {n:>8}  {kind}");
        }
    }
    s.elapsed = start.elapsed();
    if current.is_some() && !s.hung {
        let _ = std::fs::remove_file(&current_path);
    }
    Ok(s)
}
