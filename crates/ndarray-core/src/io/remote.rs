//! Remote files: `s3://bucket/key` and HDFS over WebHDFS (`hdfs://`, `webhdfs://`,
//! `swebhdfs://`), through the `opendal` crate.
//!
//! This is the only file that uses `opendal`, which is pinned to one exact version (its minor
//! releases change its API), so an upgrade touches nothing else. Calls are synchronous: each
//! one runs opendal's async API to completion on one process-wide tokio runtime
//! ([`Runtime::block_on`]); a process forked from one that used it builds its own.
//!
//! # Configuration (read from the environment at every open, so changes apply at once)
//!
//! * S3 credentials: the AWS chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`; `~/.aws/credentials` and `~/.aws/config` with `AWS_PROFILE`; web
//!   identity, ECS and EC2 instance metadata unless `AWS_EC2_METADATA_DISABLED=true`).
//! * S3 region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in the config file,
//!   else `us-east-1`. Endpoint: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (MinIO and other
//!   S3-compatible servers; path-style requests), else AWS.
//! * HDFS: `webhdfs://host:port/path` (`swebhdfs://` for HTTPS) names the WebHDFS endpoint.
//!   `hdfs://host[:rpc-port]/path` uses `http://host:$MXRS_WEBHDFS_PORT` (default 9870; the RPC
//!   port is ignored) and `hdfs:///path` uses `MXRS_WEBHDFS_ENDPOINT`. The user is
//!   `HADOOP_USER_NAME`, else `USER`. HDFS native RPC and Kerberos are not supported.
//!
//! Requests that fail for a passing reason (a 5xx answer, a dropped connection) are retried
//! three times with a growing delay (`retry_layer`).
//!
//! # Writes
//!
//! Writes stream in parts of [`PART_SIZE`] bytes (up to [`UPLOAD_CONCURRENCY`] in flight),
//! so memory stays bounded whatever the file's size. A file up to one part is one request (S3
//! `PUT`, WebHDFS `CREATE` with overwrite).
//!
//! * S3: a larger object is a multipart upload. The object appears whole when the writer
//!   finishes, and a failed or abandoned write is aborted, leaving the old object.
//! * WebHDFS: each part of a larger file is written as a hidden file beside the target
//!   (`dir/.NAME.mxrs-TAG-part-UUID`, TAG naming this write); at the end they are joined (`CONCAT`), the old file is
//!   deleted and the joined one renamed onto its name. The old file stays whole until every
//!   part is written; a failed or abandoned write deletes its parts (found by listing the
//!   directory). HDFS has no atomic replace,
//!   so a client killed between the delete and the rename leaves the new data in the part file
//!   and no file at the target.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opendal::layers::RetryLayer;
use opendal::options::{ReadOptions, WriteOptions};
use opendal::{ErrorKind, HttpTransporter, OperationContext, Operator, services};
use opendal_http_transport_reqwest::ReqwestTransport;

use crate::error::{Error, Result};
use crate::io::store::{Store, StoreReader, StoreWriter, split_scheme};

/// The URI schemes served here.
pub const SCHEMES: [&str; 4] = ["s3://", "hdfs://", "webhdfs://", "swebhdfs://"];

/// Bytes per part of an S3 multipart upload (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one upload in flight at once.
pub const UPLOAD_CONCURRENCY: usize = 4;
/// First range a reader fetches after opening or a seek, and the largest one: sequential reads
/// double the range up to [`MAX_FETCH`], so streaming a `.rec` takes few requests while random
/// access (shuffled records) fetches little more than each record.
const MIN_FETCH: u64 = 64 << 10;
const MAX_FETCH: u64 = 8 << 20;
/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The store of every remote scheme ([`SCHEMES`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct RemoteStore;

/// The remote store when `scheme` (without `://`, any case) is one of [`SCHEMES`].
pub(crate) fn store(scheme: &str) -> Option<&'static dyn Store> {
    static REMOTE: RemoteStore = RemoteStore;
    let known = SCHEMES.iter().any(|s| s.trim_end_matches("://").eq_ignore_ascii_case(scheme));
    known.then_some(&REMOTE as &'static dyn Store)
}

/// The runtime and HTTP client of this process.
struct Shared {
    pid: u32,
    rt: Arc<tokio::runtime::Runtime>,
    http: HttpTransporter,
}

/// The runtime and HTTP client, made on first use and again in a forked child (whose copy of
/// the parent's has no threads).
fn shared(uri: &str) -> Result<(Arc<tokio::runtime::Runtime>, HttpTransporter)> {
    static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
    let mut guard = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some(s) = guard.as_ref()
        && s.pid == pid
    {
        return Ok((s.rt.clone(), s.http.clone()));
    }
    // Dropping the parent's runtime would wait for worker threads that do not exist here.
    std::mem::forget(guard.take());
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::io(uri, format!("cannot start {what}: {e}"));
    // Only this one provider is built in; an application may have installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mxrs-storage")
        .enable_all()
        .build()
        .map_err(|e| fail("the storage runtime", &e))?;
    let client =
        reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(|e| fail("the HTTP client", &e))?;
    let http = HttpTransporter::new(ReqwestTransport::new(client));
    let s = Shared { pid, rt: Arc::new(rt), http };
    let out = (s.rt.clone(), s.http.clone());
    *guard = Some(s);
    Ok(out)
}

/// A remote file: the operator of its bucket or name node and its path there.
#[derive(Debug)]
struct Target {
    uri: String,
    op: Operator,
    path: String,
    rt: Arc<tokio::runtime::Runtime>,
    hdfs: bool,
    /// WebHDFS: the name prefix of this target's part files (see "Writes" above).
    parts: Option<String>,
}

impl Target {
    fn new(uri: &str) -> Result<Self> {
        let bad = |msg: &str| Error::io(uri, msg);
        let (scheme, rest) = split_scheme(uri).ok_or_else(|| bad("not a URI"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_start_matches('/');
        let hdfs = scheme != "s3";
        let parts = hdfs.then(|| part_prefix(path));
        let op = if let Some(parts) = &parts {
            if path.is_empty() || path.ends_with('/') {
                return Err(bad("expected a file path after the name node, as in hdfs://namenode/dir/file"));
            }
            webhdfs_operator(&hdfs_endpoint(&scheme, authority, &EnvVars).map_err(|m| bad(&m))?, parts)
        } else {
            if authority.is_empty() || path.is_empty() || path.ends_with('/') {
                return Err(bad("expected s3://bucket/key"));
            }
            s3_operator(authority)
        };
        let op = op.map_err(|e| Error::io(uri, describe(&e)))?.layer(retry_layer());
        let (rt, http) = shared(uri)?;
        let op = op.with_context(OperationContext::new().with_http_transport(http));
        Ok(Self { uri: uri.to_owned(), op, path: path.to_owned(), rt, hdfs, parts })
    }

    fn err(&self, what: &str, e: &opendal::Error) -> Error {
        Error::io(&self.uri, format!("{what}: {}", describe(e)))
    }

    /// The size of the file; for a missing S3 object, the error of a GET, whose body says
    /// whether the key or the bucket is missing (a HEAD response has no body).
    fn size(&self) -> Result<u64> {
        match self.rt.block_on(self.op.stat(&self.path)) {
            Ok(meta) => Ok(meta.content_length()),
            Err(e) if e.kind() == ErrorKind::NotFound && !self.hdfs => {
                let opts = ReadOptions { range: (0..1).into(), ..Default::default() };
                let get = self.rt.block_on(self.op.read_options(&self.path, opts));
                Err(self.err("cannot open for reading", &get.err().unwrap_or(e)))
            }
            Err(e) => Err(self.err("cannot open for reading", &e)),
        }
    }
}

/// Where environment variables come from (a map in tests).
trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment; empty values count as unset.
struct EnvVars;

impl Env for EnvVars {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

fn s3_operator(bucket: &str) -> opendal::Result<Operator> {
    let mut b = services::S3::default().bucket(bucket).root("/").region(&s3_region(&EnvVars));
    if let Some(ep) = EnvVars.var("AWS_ENDPOINT_URL_S3").or_else(|| EnvVars.var("AWS_ENDPOINT_URL")) {
        b = b.endpoint(ep.trim_end_matches('/'));
    }
    Operator::new(b)
}

/// The operator of a WebHDFS name node, set to write the parts of a large file as files named
/// `parts` + a UUID (see "Writes" above). Listings use plain `LISTSTATUS`, which every HDFS
/// version serves.
fn webhdfs_operator(endpoint: &str, parts: &str) -> opendal::Result<Operator> {
    let mut b = services::Webhdfs::default().endpoint(endpoint).root("/").atomic_write_dir(parts).disable_list_batch();
    if let Some(user) = EnvVars.var("HADOOP_USER_NAME").or_else(|| EnvVars.var("USER")) {
        b = b.user_name(&user);
    }
    Operator::new(b)
}

/// The name prefix of the part files of one large WebHDFS write of `path`: hidden files in the
/// same directory (so they need no other directory and the final rename stays inside one),
/// with a tag of their own so that an aborted write deletes its parts and no one else's.
fn part_prefix(path: &str) -> String {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tag = format!("{:x}{nanos:x}{:x}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed));
    let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
    let dir = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    format!("{dir}.{name}.mxrs-{tag}-part-")
}

/// Retries of requests that failed for a passing reason (a 5xx answer such as S3's
/// `503 SlowDown`, a dropped connection): three more tries, 0.1 s apart and growing, with
/// jitter, as the AWS SDKs do. An error that says something about the request (no such key,
/// access denied) is never retried.
fn retry_layer() -> RetryLayer {
    RetryLayer::new().with_jitter().with_min_delay(Duration::from_millis(100)).with_max_times(3)
}

/// The S3 region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in the AWS config
/// file (`AWS_CONFIG_FILE`, else `~/.aws/config`; profile `AWS_PROFILE`, else `default`), else
/// `us-east-1` (what AWS tools use for a custom endpoint).
fn s3_region(env: &dyn Env) -> String {
    env.var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| {
            let file = env
                .var("AWS_CONFIG_FILE")
                .map(PathBuf::from)
                .or_else(|| env.var("HOME").map(|h| PathBuf::from(h).join(".aws").join("config")))?;
            let text = std::fs::read_to_string(file).ok()?;
            profile_region(&text, &env.var("AWS_PROFILE").unwrap_or_else(|| "default".into()))
        })
        .unwrap_or_else(|| "us-east-1".into())
}

/// The `region` of `profile` in the text of an AWS config file (`[default]` or
/// `[profile name]` sections of `key = value` lines).
fn profile_region(text: &str, profile: &str) -> Option<String> {
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            let name = section.strip_prefix("profile ").map(str::trim).unwrap_or(section);
            inside = name == profile;
        } else if inside
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "region"
            && !v.trim().is_empty()
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// The WebHDFS endpoint for a URI's scheme and authority (see the module docs).
fn hdfs_endpoint(scheme: &str, authority: &str, env: &dyn Env) -> std::result::Result<String, String> {
    let configured = || {
        env.var("MXRS_WEBHDFS_ENDPOINT").map(|e| e.trim_end_matches('/').to_owned()).ok_or_else(|| {
            format!(
                "{scheme}:/// names no name node: set MXRS_WEBHDFS_ENDPOINT (such as http://namenode:9870) \
                 or write {scheme}://namenode/path"
            )
        })
    };
    if authority.is_empty() {
        return configured();
    }
    if scheme == "hdfs" {
        // The port of an hdfs:// URI is the RPC port; WebHDFS listens on the HTTP port.
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
            _ => authority,
        };
        let port = env.var("MXRS_WEBHDFS_PORT").unwrap_or_else(|| "9870".into());
        return Ok(format!("http://{host}:{port}"));
    }
    let http = if scheme == "swebhdfs" { "https" } else { "http" };
    Ok(format!("{http}://{authority}"))
}

/// A readable account of an opendal error: what kind of failure, then the server's reason
/// (S3's error code and message, HDFS's exception and message) or the local one.
fn describe(e: &opendal::Error) -> String {
    let msg = e.message();
    // S3 and WebHDFS errors arrive as the Debug text of the parsed error body.
    let field = |name: &str| -> Option<&str> {
        let tag = format!("{name}: \"");
        let start = msg.find(&tag)? + tag.len();
        let len = msg[start..].find('"')?;
        Some(&msg[start..start + len])
    };
    let code = field("code").or_else(|| field("exception")).filter(|c| !c.is_empty());
    let reason = match (code, field("message")) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.to_owned(),
        _ if msg.is_empty() => String::new(),
        _ => msg.to_owned(),
    };
    let mut sources = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        sources = format!("{sources}: {s}");
        source = s.source();
    }
    let lower = format!("{msg}{sources}").to_ascii_lowercase();
    let kind = match e.kind() {
        _ if lower.contains("credential") => {
            "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials)"
        }
        ErrorKind::NotFound => "not found",
        ErrorKind::PermissionDenied => "access denied",
        ErrorKind::ConfigInvalid if code == Some("NoSuchBucket") => "no such bucket",
        ErrorKind::ConfigInvalid => "invalid configuration",
        ErrorKind::RateLimited => "rate limited",
        ErrorKind::Unsupported => "not supported",
        _ => "request failed",
    };
    if reason.is_empty() { format!("{kind}{sources}") } else { format!("{kind}: {reason}{sources}") }
}

impl Store for RemoteStore {
    fn read(&self, uri: &str) -> Result<Vec<u8>> {
        let t = Target::new(uri)?;
        let data = t.rt.block_on(t.op.read(&t.path)).map_err(|e| t.err("cannot read", &e))?;
        Ok(data.to_vec())
    }

    fn write_atomic(&self, uri: &str, data: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        let mut w = RemoteWriter::new(Target::new(uri)?)?;
        // On an error (or a panic) `w` is dropped unfinished, which aborts the upload.
        data(&mut w).map_err(|e| Error::io(uri, e))?;
        w.finish()
    }

    fn open(&self, uri: &str) -> Result<Box<dyn StoreReader>> {
        let t = Target::new(uri)?;
        let size = t.size()?;
        Ok(Box::new(RemoteReader { t, size, pos: 0, buf: Vec::new(), buf_start: 0, fetch: MIN_FETCH }))
    }

    fn create(&self, uri: &str) -> Result<Box<dyn StoreWriter>> {
        Ok(Box::new(RemoteWriter::new(Target::new(uri)?)?))
    }
}

/// A remote file read in ranges, as the reader moves through it.
#[derive(Debug)]
struct RemoteReader {
    t: Target,
    size: u64,
    pos: u64,
    /// Bytes `buf_start..buf_start + buf.len()` of the file.
    buf: Vec<u8>,
    buf_start: u64,
    /// Length of the next range to fetch.
    fetch: u64,
}

impl RemoteReader {
    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Fetch the range that starts at `pos`.
    fn refill(&mut self) -> io::Result<()> {
        let sequential = !self.buf.is_empty() && self.pos == self.buf_end();
        self.fetch = if sequential { (self.fetch * 2).min(MAX_FETCH) } else { MIN_FETCH };
        let end = (self.pos + self.fetch).min(self.size);
        let opts = ReadOptions { range: (self.pos..end).into(), ..Default::default() };
        let data = self
            .t
            .rt
            .block_on(self.t.op.read_options(&self.t.path, opts))
            .map_err(|e| io::Error::other(format!("range {}..{}: {}", self.pos, end, describe(&e))))?;
        self.buf = data.to_vec();
        self.buf_start = self.pos;
        if self.buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("no data at byte {}", self.pos)));
        }
        Ok(())
    }
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.size {
            return Ok(0);
        }
        if self.pos < self.buf_start || self.pos >= self.buf_end() {
            self.refill()?;
        }
        let at = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - at);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RemoteReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(p) => (p, 0),
            SeekFrom::End(d) => (self.size, d),
            SeekFrom::Current(d) => (self.pos, d),
        };
        self.pos = base
            .checked_add_signed(delta)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek to a negative offset"))?;
        Ok(self.pos)
    }
}

impl StoreReader for RemoteReader {
    fn size(&self) -> u64 {
        self.size
    }
}

/// A remote file being written: parts go out as they fill (see "Writes" above).
struct RemoteWriter {
    t: Target,
    /// The open upload; None once finished or aborted.
    upload: Option<opendal::Writer>,
    buf: Vec<u8>,
    finished: bool,
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("uri", &self.t.uri)
            .field("buffered", &self.buf.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl RemoteWriter {
    fn new(t: Target) -> Result<Self> {
        let opts = WriteOptions { chunk: Some(PART_SIZE), concurrent: UPLOAD_CONCURRENCY, ..Default::default() };
        let w = t.rt.block_on(t.op.writer_options(&t.path, opts)).map_err(|e| t.err("cannot write", &e))?;
        Ok(Self { t, upload: Some(w), buf: Vec::new(), finished: false })
    }

    /// Hand the buffered bytes to the upload.
    fn send(&mut self) -> io::Result<()> {
        let Some(w) = self.upload.as_mut() else { return Ok(()) };
        let part = std::mem::take(&mut self.buf);
        self.t.rt.block_on(w.write(part)).map_err(|e| io::Error::other(describe(&e)))
    }

    /// Abandon the upload: S3 aborts the multipart upload; for WebHDFS, whose abort in opendal
    /// does not know the parts still being written, this writer's part files are found by
    /// their prefix and deleted.
    fn abort(&mut self) {
        if let Some(w) = self.upload.take() {
            self.abort_upload(w);
        }
    }

    fn abort_upload(&self, mut w: opendal::Writer) {
        let _ = self.t.rt.block_on(w.abort());
        if let Some(prefix) = &self.t.parts {
            let dir = prefix.rsplit_once('/').map_or_else(|| "/".to_owned(), |(d, _)| format!("{d}/"));
            if let Ok(entries) = self.t.rt.block_on(self.t.op.list(&dir)) {
                for e in entries.iter().filter(|e| e.path().trim_start_matches('/').starts_with(prefix.as_str())) {
                    let _ = self.t.rt.block_on(self.t.op.delete(e.path()));
                }
            }
        }
    }
}

impl Write for RemoteWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other("the file was already finished"));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART_SIZE {
            self.send()?;
        }
        Ok(data.len())
    }

    /// Nothing to do: a remote file appears only at [`StoreWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StoreWriter for RemoteWriter {
    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let sent = self.send().map_err(|e| Error::io(&self.t.uri, format!("cannot write: {e}")));
        if let Err(e) = sent {
            self.abort();
            return Err(e);
        }
        let Some(mut w) = self.upload.take() else {
            return Err(Error::io(&self.t.uri, "cannot write: the upload was already aborted"));
        };
        let r = self.t.rt.block_on(w.close()).map(drop);
        if r.is_err() {
            self.abort_upload(w);
        }
        r.map_err(|e| self.t.err("cannot write", &e))
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl Env for Map {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> Map {
        Map(pairs.iter().copied().collect())
    }

    #[test]
    fn part_files_sit_beside_the_target() {
        let (a, b) = (part_prefix("user/me/x.params"), part_prefix("user/me/x.params"));
        assert!(a.starts_with("user/me/.x.params.mxrs-") && a.ends_with("-part-"), "{a}");
        assert_ne!(a, b, "each write has parts of its own");
        assert!(part_prefix("x.params").starts_with(".x.params.mxrs-"));
    }

    #[test]
    fn hdfs_endpoints() {
        let none = env(&[]);
        assert_eq!(hdfs_endpoint("webhdfs", "nn:50070", &none).unwrap(), "http://nn:50070");
        assert_eq!(hdfs_endpoint("swebhdfs", "nn:9871", &none).unwrap(), "https://nn:9871");
        assert_eq!(hdfs_endpoint("hdfs", "nn:8020", &none).unwrap(), "http://nn:9870");
        assert_eq!(hdfs_endpoint("hdfs", "nn", &none).unwrap(), "http://nn:9870");
        let port = env(&[("MXRS_WEBHDFS_PORT", "50070")]);
        assert_eq!(hdfs_endpoint("hdfs", "nn:8020", &port).unwrap(), "http://nn:50070");
        let e = hdfs_endpoint("hdfs", "", &none).unwrap_err();
        assert!(e.contains("MXRS_WEBHDFS_ENDPOINT"), "{e}");
        let set = env(&[("MXRS_WEBHDFS_ENDPOINT", "http://127.0.0.1:1234/")]);
        assert_eq!(hdfs_endpoint("hdfs", "", &set).unwrap(), "http://127.0.0.1:1234");
    }

    #[test]
    fn regions() {
        assert_eq!(s3_region(&env(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "x")])), "eu-west-1");
        assert_eq!(s3_region(&env(&[("AWS_DEFAULT_REGION", "ap-south-1")])), "ap-south-1");
        assert_eq!(s3_region(&env(&[("AWS_CONFIG_FILE", "/no/such/file")])), "us-east-1");
        let text = "[default]\nregion = us-west-2\n\n[profile dev]\noutput=json\nregion=eu-central-1\n[other]\n";
        assert_eq!(profile_region(text, "default").as_deref(), Some("us-west-2"));
        assert_eq!(profile_region(text, "dev").as_deref(), Some("eu-central-1"));
        assert_eq!(profile_region(text, "other"), None);
        assert_eq!(profile_region(text, "missing"), None);
    }

    #[test]
    fn bad_uris_name_the_uri() {
        for uri in ["s3://bucket", "s3:///key", "s3://bucket/dir/", "hdfs://nn", "webhdfs://nn:1/"] {
            let e = Target::new(uri).unwrap_err().to_string();
            assert!(e.starts_with(uri) && e.contains("expected"), "{e}");
        }
    }

    #[test]
    fn server_reasons() {
        let s3 = opendal::Error::new(
            ErrorKind::ConfigInvalid,
            r#"S3Error { code: "NoSuchBucket", message: "The specified bucket does not exist", resource: "" }"#,
        );
        assert_eq!(describe(&s3), "no such bucket: NoSuchBucket: The specified bucket does not exist");
        let hdfs = opendal::Error::new(
            ErrorKind::NotFound,
            r#"WebHdfsError { exception: "FileNotFoundException", message: "File /x does not exist." }"#,
        );
        assert_eq!(describe(&hdfs), "not found: FileNotFoundException: File /x does not exist.");
        let denied = opendal::Error::new(ErrorKind::PermissionDenied, "");
        assert_eq!(describe(&denied), "access denied");
    }
}
