//! The storage layer: reading and writing files by path or URI.
//!
//! Every file that mxrs reads or writes by name goes through a [`Store`] picked by
//! [`store_for`] from the URI's scheme. Format code only sees bytes, a reader or a writer.
//!
//! * Plain paths and `file://` URIs go to [`LocalStore`]. [`write_atomic`] writes a temporary
//!   file in the target's folder, flushes and fsyncs it and renames it over the target, so a
//!   failed or killed write never leaves a half-written file and keeps the old one intact.
//! * `s3://bucket/key`, `hdfs://`, `webhdfs://` and `swebhdfs://` go to the remote store of
//!   [`super::remote`] (opendal over S3 and WebHDFS). An S3 object is replaced atomically by
//!   nature: a single PUT or a multipart upload appears whole when it completes.
//!
//! Whole-file reads and atomic writes ([`read`], [`write_atomic`]) serve the small formats
//! (NDArray files, Symbol JSON, optimizer states, `.idx`). Large sequential files (`.rec`) use
//! [`open`] (a seekable reader; remote files are fetched in ranges as they are read) and
//! [`create`] (a writer; remote files are uploaded in parts and appear at [`StoreWriter::finish`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::io::remote;
use crate::io::store::split_scheme;
pub use crate::io::store::{Store, StoreReader, StoreWriter};

/// The local file system: plain paths and `file://` URIs.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalStore;

/// The one [`LocalStore`] that [`store_for`] hands out.
static LOCAL: LocalStore = LocalStore;

/// The store for `uri`, chosen by its scheme.
///
/// Plain paths and `file://` URIs give [`LocalStore`]; `s3`, `hdfs`, `webhdfs` and `swebhdfs`
/// give the remote store; any other scheme gives [`Error::NotSupported`] naming the scheme, the
/// URI and the schemes that work.
pub fn store_for(uri: &str) -> Result<&'static dyn Store> {
    match split_scheme(uri) {
        None => Ok(&LOCAL),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("file") => Ok(&LOCAL),
        Some((scheme, _)) => remote::store(scheme).ok_or_else(|| not_supported(scheme, uri)),
    }
}

/// Read the whole file at `uri` through the store for its scheme.
pub fn read(uri: &str) -> Result<Vec<u8>> {
    store_for(uri)?.read(uri)
}

/// Atomically replace the file at `uri` through the store for its scheme
/// (see [`Store::write_atomic`]).
pub fn write_atomic(uri: &str, data: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    store_for(uri)?.write_atomic(uri, data)
}

/// Open the file at `uri` for reading through the store for its scheme (see [`Store::open`]).
pub fn open(uri: &str) -> Result<Box<dyn StoreReader>> {
    store_for(uri)?.open(uri)
}

/// Create the file at `uri` through the store for its scheme (see [`Store::create`]).
pub fn create(uri: &str) -> Result<Box<dyn StoreWriter>> {
    store_for(uri)?.create(uri)
}

fn not_supported(scheme: &str, uri: &str) -> Error {
    Error::NotSupported(format!(
        "cannot open '{uri}': no storage backend for '{scheme}://' (supported: local paths, file://, {})",
        remote::SCHEMES.join(", ")
    ))
}

/// The local path that `uri` names: a plain path as is, `file://rest` as `rest`
/// (`file:///abs` is `/abs`, `file://localhost/abs` is `/abs`).
fn local_path(uri: &str) -> Result<PathBuf> {
    let path = match split_scheme(uri) {
        None => uri,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => {
            rest.strip_prefix("localhost").filter(|r| r.starts_with('/')).unwrap_or(rest)
        }
        Some((scheme, _)) => return Err(not_supported(scheme, uri)),
    };
    if path.is_empty() {
        return Err(Error::io(uri, "empty path"));
    }
    Ok(PathBuf::from(path))
}

/// A local file opened by [`LocalStore::open`].
#[derive(Debug)]
struct LocalReader {
    file: File,
    size: u64,
}

impl Read for LocalReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for LocalReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl StoreReader for LocalReader {
    fn size(&self) -> u64 {
        self.size
    }
}

/// A local file created by [`LocalStore::create`] (written in place, as `File::create` does).
#[derive(Debug)]
struct LocalWriter {
    uri: String,
    file: Option<File>,
}

impl LocalWriter {
    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("the file was already finished"))
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl StoreWriter for LocalWriter {
    fn finish(&mut self) -> Result<()> {
        match self.file.take() {
            Some(mut f) => f.flush().map_err(|e| Error::io(&self.uri, e)),
            None => Ok(()),
        }
    }
}

impl Store for LocalStore {
    fn read(&self, uri: &str) -> Result<Vec<u8>> {
        let path = local_path(uri)?;
        fs::read(&path).map_err(|e| Error::io(uri, e))
    }

    fn write_atomic(&self, uri: &str, data: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        let path = local_path(uri)?;
        let name = path.file_name().ok_or_else(|| Error::io(uri, "not a file name"))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let (tmp, file) = create_temp(dir, &name.to_string_lossy())
            .map_err(|e| Error::io(uri, format!("cannot create a temporary file: {e}")))?;
        // Removes the temporary file on every early return, and if `data` panics.
        let mut guard = TempGuard(Some(tmp));
        let tmp = guard.0.as_deref().unwrap_or(Path::new(""));
        // Keep the permissions of the file being replaced.
        if let Ok(meta) = fs::metadata(&path) {
            let _ = file.set_permissions(meta.permissions());
        }
        let mut w = BufWriter::new(file);
        data(&mut w).map_err(|e| Error::io(uri, e))?;
        let file = w.into_inner().map_err(|e| Error::io(uri, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(uri, e))?;
        drop(file);
        fs::rename(tmp, &path).map_err(|e| Error::io(uri, e))?;
        guard.0 = None;
        sync_dir(dir);
        Ok(())
    }

    fn open(&self, uri: &str) -> Result<Box<dyn StoreReader>> {
        let path = local_path(uri)?;
        let file = File::open(&path).map_err(|e| Error::io(uri, format!("cannot open for reading: {e}")))?;
        let size = file.metadata().map_err(|e| Error::io(uri, format!("cannot stat: {e}")))?.len();
        Ok(Box::new(LocalReader { file, size }))
    }

    fn create(&self, uri: &str) -> Result<Box<dyn StoreWriter>> {
        let path = local_path(uri)?;
        let file = File::create(&path).map_err(|e| Error::io(uri, format!("cannot open for writing: {e}")))?;
        Ok(Box::new(LocalWriter { uri: uri.to_owned(), file: Some(file) }))
    }
}

/// Deletes the temporary file it holds when dropped.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A new, exclusively created temporary file next to the target.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{pid}-{n}"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n % 1000 != 999 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Make the rename durable (best effort; not every platform can fsync a folder).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty folder for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mxrs-storage-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_and_read_plain_and_file_uri() {
        let dir = scratch("roundtrip");
        let path = dir.join("a.bin");
        let uri = path.to_str().unwrap().to_owned();
        write_atomic(&uri, &|w| w.write_all(b"first")).unwrap();
        assert_eq!(read(&uri).unwrap(), b"first");
        let file_uri = format!("file://{uri}");
        write_atomic(&file_uri, &|w| w.write_all(b"second, longer")).unwrap();
        assert_eq!(read(&file_uri).unwrap(), b"second, longer");
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(entries(&dir), ["a.bin"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ndarray_file_through_the_store() {
        use crate::dtype::DType;
        use crate::io::ndarray_file::{ArrayRef, read_list, write_list};
        let dir = scratch("ndfile");
        let uri = dir.join("x.params").to_str().unwrap().to_owned();
        let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let a = ArrayRef { dtype: DType::F32, shape: &[2], data: &data };
        store_for(&uri).unwrap().write_atomic(&uri, &|w| write_list(w, &[a], &["w"])).unwrap();
        let (arrays, names) = read_list(&read(&uri).unwrap(), &uri).unwrap();
        assert_eq!((arrays[0].as_array_ref(), names), (a, vec!["w".to_owned()]));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = scratch("atomic");
        let uri = dir.join("model.params").to_str().unwrap().to_owned();
        write_atomic(&uri, &|w| w.write_all(b"old contents")).unwrap();

        let failing = |w: &mut dyn Write| -> io::Result<()> {
            w.write_all(&[7u8; 100_000])?; // more than the buffer: reaches the temp file
            Err(io::Error::other("disk on fire"))
        };
        match LocalStore.write_atomic(&uri, &failing) {
            Err(Error::Io { path, msg }) => {
                assert_eq!(path, uri);
                assert!(msg.contains("disk on fire"), "{msg}");
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
        assert_eq!(fs::read(&uri).unwrap(), b"old contents");
        assert_eq!(entries(&dir), ["model.params"], "temporary file left behind");

        // A panicking writer leaves no temporary file either.
        let panicking = |w: &mut dyn Write| -> io::Result<()> {
            w.write_all(b"partial")?;
            panic!("writer panicked");
        };
        let r = std::panic::catch_unwind(|| LocalStore.write_atomic(&uri, &panicking));
        assert!(r.is_err());
        assert_eq!(fs::read(&uri).unwrap(), b"old contents");
        assert_eq!(entries(&dir), ["model.params"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_errors_name_the_path() {
        let dir = scratch("missing");
        let missing = dir.join("nope.params").to_str().unwrap().to_owned();
        match read(&missing) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("{other:?}"),
        }
        let in_missing_dir = dir.join("no/such/dir/x.params").to_str().unwrap().to_owned();
        match write_atomic(&in_missing_dir, &|w| w.write_all(b"x")) {
            Err(Error::Io { path, .. }) => assert_eq!(path, in_missing_dir),
            other => panic!("{other:?}"),
        }
        // Renaming over a folder fails and cleans up.
        let sub = dir.join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(write_atomic(sub.to_str().unwrap(), &|w| w.write_all(b"x")).is_err());
        assert_eq!(entries(&dir), ["sub"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_schemes_are_not_supported() {
        for uri in ["http://host/x", "gs://bucket/x", "ftp://host/x"] {
            let scheme = uri.split("://").next().unwrap();
            let check = |r: Result<()>| match r {
                Err(Error::NotSupported(msg)) => {
                    assert!(msg.contains(uri), "{msg}");
                    assert!(msg.contains(&format!("'{scheme}://'")), "{msg}");
                    assert!(msg.contains("s3://") && msg.contains("hdfs://"), "{msg}");
                }
                other => panic!("{uri}: {other:?}"),
            };
            check(store_for(uri).map(|_| ()));
            check(read(uri).map(|_| ()));
            check(open(uri).map(|_| ()));
            check(create(uri).map(|_| ()));
            check(write_atomic(uri, &|w| w.write_all(b"x")));
            check(LocalStore.read(uri).map(|_| ()));
        }
        for uri in ["s3://bucket/model.params", "hdfs://namenode:9000/x", "webhdfs://nn:9870/x", "S3://b/k"] {
            assert!(store_for(uri).is_ok(), "{uri}");
        }
        assert!(store_for("relative/path.params").is_ok());
        assert!(store_for("file:///abs/path.params").is_ok());
        assert!(store_for("FILE://x").is_ok());
        assert!(store_for("dir/a://b").is_ok(), "not a scheme: contains '/'");
        assert_eq!(local_path("file://localhost/tmp/a").unwrap(), Path::new("/tmp/a"));
        assert_eq!(local_path("file:///tmp/a").unwrap(), Path::new("/tmp/a"));
        assert_eq!(local_path("file://rel/a").unwrap(), Path::new("rel/a"));
        assert!(matches!(local_path("file://"), Err(Error::Io { .. })));
    }

    #[test]
    fn local_open_and_create() {
        let dir = scratch("stream");
        let uri = dir.join("r.rec").to_str().unwrap().to_owned();
        let mut w = create(&uri).unwrap();
        w.write_all(b"0123456789").unwrap();
        w.flush().unwrap();
        assert_eq!(fs::read(&uri).unwrap(), b"0123456789", "a local file is written in place");
        w.finish().unwrap();
        assert!(w.write_all(b"x").is_err(), "writing after finish");
        w.flush().unwrap();
        w.finish().unwrap();
        let mut r = open(&uri).unwrap();
        assert_eq!(r.size(), 10);
        r.seek(io::SeekFrom::Start(4)).unwrap();
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "456789");
        let missing = dir.join("nope.rec").to_str().unwrap().to_owned();
        let e = open(&missing).unwrap_err().to_string();
        assert!(e.contains(&missing) && e.contains("cannot open for reading"), "{e}");
        let e = create(dir.join("no/dir/x.rec").to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("no/dir/x.rec") && e.contains("cannot open for writing"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
