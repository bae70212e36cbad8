//! dmlc RecordIO framing and `.idx` index files.
//!
//! A record is stored as one or more chunks, each on a 4-byte boundary:
//! `magic u32 LE | lrec u32 LE (cflag << 29 | length) | payload | zero padding to 4 bytes`.
//! cflag 0 is a whole record; a record whose payload holds the magic word at a 4-byte-aligned
//! offset is cut there (the 4 magic bytes are dropped) into a cflag 1 chunk, cflag 2 middle
//! chunks and a cflag 3 last chunk. The reader joins the chunks and puts the magic back.
//! Invariant: in a well-formed file every aligned magic word starts a chunk header.

use std::io::{BufReader, BufWriter, Read, Write};

use mxrs_ndarray_core::io::storage::{self, StoreReader, StoreWriter};

use crate::{Error, Result};

/// The chunk header's magic word (`0a 23 d7 ce` in the file).
pub const MAGIC: u32 = 0xCED7_230A;
const MAGIC_BYTES: [u8; 4] = MAGIC.to_le_bytes();
/// Largest payload of one chunk (29 bits of length).
const MAX_CHUNK: usize = (1 << 29) - 1;

fn io_err(path: &str, what: &str, e: std::io::Error) -> Error {
    Error::Io { path: path.to_string(), msg: format!("{what}: {e}") }
}

fn corrupt(path: &str, offset: u64, msg: impl std::fmt::Display) -> Error {
    Error::Format { path: path.to_string(), msg: format!("corrupted RecordIO record at byte offset {offset}: {msg}") }
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn push_chunk(out: &mut Vec<u8>, cflag: u32, data: &[u8]) {
    out.extend_from_slice(&MAGIC_BYTES);
    out.extend_from_slice(&((cflag << 29) | data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + pad4(data.len()), 0);
}

/// Append the chunks of one record to `out` (splitting at aligned magic words).
pub fn encode_record(buf: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if buf.len() > MAX_CHUNK {
        return Err(Error::msg(format!("RecordIO: a record must be smaller than 2^29 bytes, got {}", buf.len())));
    }
    let mut start = 0;
    let mut split = false;
    let mut i = 0;
    while i + 4 <= buf.len() {
        if buf[i..i + 4] == MAGIC_BYTES {
            push_chunk(out, if split { 2 } else { 1 }, &buf[start..i]);
            split = true;
            start = i + 4;
        }
        i += 4;
    }
    push_chunk(out, if split { 3 } else { 0 }, &buf[start..]);
    Ok(())
}

/// Sequential writer of a `.rec` file.
#[derive(Debug)]
pub struct RecordWriter {
    path: String,
    file: BufWriter<Box<dyn StoreWriter>>,
    pos: u64,
    scratch: Vec<u8>,
}

impl RecordWriter {
    /// Create (truncate) `path`: a local path or a URI of the storage layer (`s3://`,
    /// `hdfs://`...). A local file is written in place; a remote one appears whole when the
    /// writer is finished (or dropped).
    pub fn create(path: &str) -> Result<Self> {
        let f = storage::create(path)?;
        Ok(Self { path: path.to_string(), file: BufWriter::with_capacity(1 << 16, f), pos: 0, scratch: Vec::new() })
    }

    /// Write one record; returns the offset of its first chunk.
    pub fn write(&mut self, buf: &[u8]) -> Result<u64> {
        let at = self.pos;
        self.scratch.clear();
        encode_record(buf, &mut self.scratch)?;
        self.file.write_all(&self.scratch).map_err(|e| io_err(&self.path, "write failed", e))?;
        self.pos += self.scratch.len() as u64;
        Ok(at)
    }

    /// Offset where the next record goes.
    pub fn tell(&self) -> u64 {
        self.pos
    }

    /// Flush buffered bytes to the file (a remote file still appears only at [`Self::finish`]).
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| io_err(&self.path, "flush failed", e))
    }

    /// Flush and complete the file: a remote file appears now. Writing afterwards fails.
    pub fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.file.get_mut().finish()
    }
}

impl Drop for RecordWriter {
    /// Finish the file, ignoring errors (call [`RecordWriter::finish`] to see them).
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Reader of a `.rec` file, sequential or by offset.
#[derive(Debug)]
pub struct RecordReader {
    path: String,
    file: BufReader<Box<dyn StoreReader>>,
    pos: u64,
    len: u64,
}

impl RecordReader {
    /// Open `path` (a local path or a URI of the storage layer) for reading. A remote file is
    /// fetched in ranges as records are read, never whole.
    pub fn open(path: &str) -> Result<Self> {
        let f = storage::open(path)?;
        let len = f.size();
        Ok(Self { path: path.to_string(), file: BufReader::with_capacity(1 << 16, f), pos: 0, len })
    }

    /// The file's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// File size in bytes.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Current offset (the next record's header).
    pub fn tell(&self) -> u64 {
        self.pos
    }

    /// Move to byte offset `pos` (the start of a record).
    pub fn seek(&mut self, pos: u64) -> Result<()> {
        if pos != self.pos {
            let delta = pos as i64 - self.pos as i64;
            self.file.seek_relative(delta).map_err(|e| io_err(&self.path, "seek failed", e))?;
            self.pos = pos;
        }
        Ok(())
    }

    /// Read `n` bytes; false at a clean end of file (no byte read).
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(&self.path, "read failed", e)),
            }
        }
        self.pos += got as u64;
        if got == 0 {
            return Ok(false);
        }
        if got < buf.len() {
            let at = self.pos - got as u64;
            return Err(corrupt(&self.path, at, format!("truncated: {} of {} bytes present", got, buf.len())));
        }
        Ok(true)
    }

    /// Read one chunk header: `(cflag, length)`, or None at end of file.
    fn chunk_header(&mut self) -> Result<Option<(u32, usize)>> {
        let at = self.pos;
        let mut h = [0u8; 8];
        if !self.read_exact_or_eof(&mut h)? {
            return Ok(None);
        }
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if magic != MAGIC {
            return Err(corrupt(&self.path, at, format!("bad magic 0x{magic:08X} (expected 0x{MAGIC:08X})")));
        }
        let lrec = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let (cflag, len) = (lrec >> 29, (lrec & ((1 << 29) - 1)) as usize);
        if at + 8 + len as u64 > self.len {
            return Err(corrupt(&self.path, at, format!("chunk of {len} bytes runs past the end of the file")));
        }
        Ok(Some((cflag, len)))
    }

    fn chunk_payload(&mut self, len: usize, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.resize(start + len, 0);
        let at = self.pos;
        if len > 0 && !self.read_exact_or_eof(&mut out[start..])? {
            return Err(corrupt(&self.path, at, "truncated payload"));
        }
        let pad = pad4(len);
        if pad > 0 {
            let mut p = [0u8; 3];
            // Padding may be missing at the very end of a file written by other tools.
            let _ = self.read_exact_or_eof(&mut p[..pad.min((self.len - self.pos) as usize)])?;
        }
        Ok(())
    }

    /// Read the next record into `out` (cleared first); false at end of file.
    pub fn read_into(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        out.clear();
        let at = self.pos;
        let Some((cflag, len)) = self.chunk_header()? else { return Ok(false) };
        match cflag {
            0 => self.chunk_payload(len, out)?,
            1 => {
                self.chunk_payload(len, out)?;
                loop {
                    let here = self.pos;
                    let Some((c, l)) = self.chunk_header()? else {
                        return Err(corrupt(&self.path, at, "split record ends before its last chunk"));
                    };
                    if c != 2 && c != 3 {
                        return Err(corrupt(&self.path, here, format!("chunk flag {c} inside a split record")));
                    }
                    out.extend_from_slice(&MAGIC_BYTES);
                    self.chunk_payload(l, out)?;
                    if c == 3 {
                        break;
                    }
                }
            }
            c => return Err(corrupt(&self.path, at, format!("record starts with chunk flag {c}"))),
        }
        Ok(true)
    }

    /// Read the next record, or None at end of file.
    pub fn read(&mut self) -> Result<Option<Vec<u8>>> {
        let mut v = Vec::new();
        Ok(if self.read_into(&mut v)? { Some(v) } else { None })
    }

    /// Offsets of every record (chunks with cflag 0 or 1) from the current position to the end.
    /// Only headers are read; payloads are skipped.
    pub fn scan_offsets(&mut self) -> Result<Vec<u64>> {
        let mut v = Vec::new();
        loop {
            let at = self.pos;
            let Some((cflag, len)) = self.chunk_header()? else { break };
            if cflag == 0 || cflag == 1 {
                v.push(at);
            }
            let skip = (len + pad4(len)) as u64;
            let to = (self.pos + skip).min(self.len);
            self.seek(to)?;
        }
        Ok(v)
    }
}

/// Parse an `.idx` file as the C++ iterator does: whitespace-separated `key offset` pairs;
/// returns the offsets sorted and deduplicated.
pub fn read_idx_offsets(path: &str) -> Result<Vec<u64>> {
    let bytes = storage::read(path)?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Format { path: path.into(), msg: format!("index: {e}") })?;
    let mut offs = Vec::new();
    let mut it = text.split_whitespace();
    while let Some(_key) = it.next() {
        let Some(o) = it.next() else {
            return Err(Error::Format { path: path.into(), msg: "odd number of fields in index".into() });
        };
        let o = o.parse::<u64>().map_err(|_| Error::Format { path: path.into(), msg: format!("bad offset '{o}'") })?;
        offs.push(o);
    }
    offs.sort_unstable();
    offs.dedup();
    Ok(offs)
}

/// The records of part `part_index` of `num_parts` given all record offsets (sorted) and the
/// file size. With an index, parts are `ceil(n / num_parts)` records each; without one, the file
/// is cut into byte ranges of `ceil(size / num_parts)` rounded up to 4, and a part owns the
/// records that start in its range.
pub fn partition(offsets: &[u64], file_len: u64, from_index: bool, num_parts: usize, part_index: usize) -> Vec<u64> {
    if num_parts <= 1 {
        return offsets.to_vec();
    }
    if from_index {
        let n = offsets.len();
        let step = n.div_ceil(num_parts);
        let lo = (part_index * step).min(n);
        let hi = ((part_index + 1) * step).min(n);
        offsets[lo..hi].to_vec()
    } else {
        let step = file_len.div_ceil(num_parts as u64).div_ceil(4) * 4;
        let lo = step * part_index as u64;
        let hi = step * (part_index as u64 + 1);
        offsets.iter().copied().filter(|&o| o >= lo && o < hi).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        std::env::temp_dir().join(format!("mxrs_io_{}_{name}", std::process::id())).to_str().unwrap().to_string()
    }

    const FIXTURE: &[u8] = &[
        0x0a, 0x23, 0xd7, 0xce, 5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0, //
        0x0a, 0x23, 0xd7, 0xce, 4, 0, 0, 0, b'a', b'b', b'c', b'd', //
        0x0a, 0x23, 0xd7, 0xce, 4, 0, 0, 0x20, b'X', b'X', b'X', b'X', //
        0x0a, 0x23, 0xd7, 0xce, 2, 0, 0, 0x60, b'Y', b'Y', 0, 0, //
        0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0,
    ];

    fn records() -> Vec<Vec<u8>> {
        vec![b"hello".to_vec(), b"abcd".to_vec(), b"XXXX\x0a\x23\xd7\xceYY".to_vec(), vec![]]
    }

    #[test]
    fn writes_the_dmlc_bytes() {
        let p = tmp("w.rec");
        let mut w = RecordWriter::create(&p).unwrap();
        let offs: Vec<u64> = records().iter().map(|r| w.write(r).unwrap()).collect();
        w.flush().unwrap();
        assert_eq!(offs, vec![0, 16, 28, 52]);
        assert_eq!(std::fs::read(&p).unwrap(), FIXTURE);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn reads_split_records_and_seeks() {
        let p = tmp("r.rec");
        std::fs::write(&p, FIXTURE).unwrap();
        let mut r = RecordReader::open(&p).unwrap();
        for want in records() {
            assert_eq!(r.read().unwrap().unwrap(), want);
        }
        assert_eq!(r.read().unwrap(), None);
        r.seek(28).unwrap();
        assert_eq!(r.read().unwrap().unwrap(), records()[2]);
        r.seek(0).unwrap();
        assert_eq!(r.scan_offsets().unwrap(), vec![0, 16, 28, 52]);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn magic_at_start_and_end() {
        let mut out = Vec::new();
        let rec = [MAGIC_BYTES.to_vec(), b"ab".to_vec(), vec![0, 0], MAGIC_BYTES.to_vec()].concat();
        encode_record(&rec, &mut out).unwrap();
        let p = tmp("m.rec");
        std::fs::write(&p, &out).unwrap();
        let mut r = RecordReader::open(&p).unwrap();
        assert_eq!(r.read().unwrap().unwrap(), rec);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn corrupted_records_name_file_and_offset() {
        let p = tmp("bad.rec");
        let mut bad = FIXTURE.to_vec();
        bad[16] = 0xff;
        std::fs::write(&p, &bad).unwrap();
        let mut r = RecordReader::open(&p).unwrap();
        r.read().unwrap();
        let e = r.read().unwrap_err().to_string();
        assert!(e.contains(&p) && e.contains("offset 16"), "{e}");
        // Truncated payload.
        std::fs::write(&p, &FIXTURE[..10]).unwrap();
        let e = RecordReader::open(&p).unwrap().read().unwrap_err().to_string();
        assert!(e.contains("offset 0"), "{e}");
        // A continuation chunk where a record should start.
        std::fs::write(&p, &FIXTURE[40..]).unwrap();
        let e = RecordReader::open(&p).unwrap().read().unwrap_err().to_string();
        assert!(e.contains("chunk flag 3"), "{e}");
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn partitions() {
        let offs = [0, 16, 28];
        assert_eq!(partition(&offs, 60, true, 2, 0), vec![0, 16]);
        assert_eq!(partition(&offs, 60, true, 2, 1), vec![28]);
        assert_eq!(partition(&offs, 60, false, 2, 0), vec![0, 16, 28]);
        assert_eq!(partition(&offs, 60, false, 2, 1), Vec::<u64>::new());
    }
}
