//! The fuzz targets: each takes raw bytes and calls one reader the way mxrs calls it, then
//! checks properties of what it returned (a loaded value written back loads to the same value,
//! a decoded image has as many bytes as its shape says). A broken property panics, which the
//! runner reports like any other panic.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use mxrs_io::image::{self, DecodeMode};
use mxrs_io::{header, recordio::RecordReader};
use mxrs_ndarray_core::io::ndarray_file::{self, RawArray};
use mxrs_ndarray_core::{Context, CpuStorage, NDArray};

use crate::rng::Rng;
use crate::{json_mutate, mutate};

/// What one input did: the features it reached (`Ok`), or the reader's error message.
pub type Outcome = Result<Vec<String>, String>;

/// A structure-aware mutation: a mutant of the input, or None if the input does not parse.
pub type StructuredMutator = fn(&mut Rng, &[u8]) -> Option<Vec<u8>>;

/// One fuzz target.
#[derive(Debug)]
pub struct Target {
    /// Name, also the corpus directory under `corpus/`.
    pub name: &'static str,
    /// What it calls.
    pub about: &'static str,
    /// Longest input tried.
    pub max_len: usize,
    /// Tokens the mutator inserts (magic numbers, markers, keywords).
    pub dict: &'static [&'static [u8]],
    /// Run one input.
    pub run: fn(&[u8]) -> Outcome,
    /// A structure-aware mutation, tried for half of the inputs (None: bytes only, or the
    /// input did not parse).
    pub structured: Option<StructuredMutator>,
    /// Repair applied after mutating (checksums), so mutants get past integrity checks.
    pub fixup: Option<fn(&mut [u8])>,
}

/// Sparse arrays are densified on load; in the fuzz run the dense size is capped at this, so
/// that the run checks every other allocation against the input size (the readers' own cap,
/// `MAX_DENSIFIED_BYTES`, is 1 GiB: the one allocation a small file may legitimately ask for).
pub const FUZZ_DENSE_CAP: usize = 1 << 20;

const ND_DICT: &[&[u8]] = &[
    &0x112u64.to_le_bytes(),
    &ndarray_file::V1_MAGIC.to_le_bytes(),
    &ndarray_file::V2_MAGIC.to_le_bytes(),
    &ndarray_file::V3_MAGIC.to_le_bytes(),
    &1i32.to_le_bytes(),
    &2i32.to_le_bytes(),
    &12i32.to_le_bytes(),
    &(-1i64).to_le_bytes(),
];

const REC_DICT: &[&[u8]] = &[
    &mxrs_io::recordio::MAGIC.to_le_bytes(),
    &[0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0x20],
    &[0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0x40],
    &[0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0x60],
    &[0xff, 0xff, 0xff, 0x1f],
];

const IMG_DICT: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"IHDR",
    b"IDAT",
    b"IEND",
    b"PLTE",
    b"tRNS",
    b"iCCP",
    b"zTXt",
    b"acTL",
    &[0xff, 0xd8],
    &[0xff, 0xc0],
    &[0xff, 0xc2],
    &[0xff, 0xc4],
    &[0xff, 0xda],
    &[0xff, 0xdb],
    &[0xff, 0xdd],
    &[0xff, 0xd9],
    &[0xff, 0xe1],
    &[0xff, 0xff],
];

const JSON_DICT: &[&[u8]] = &[
    b"\"op\"",
    b"\"null\"",
    b"\"inputs\"",
    b"\"heads\"",
    b"\"attrs\"",
    b"\"param\"",
    b"[0, 0, 0]",
    b"[99, 0]",
    b"{}",
    b"[]",
    b"\"mxnet_version\": [\"int\", 10901]",
];

/// Every target, in the order `all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ndarray_file",
        about: "mx.nd.load / load_frombuffer: a whole NDArray file, then each array as an NDArray",
        max_len: 16 << 10,
        dict: ND_DICT,
        run: ndarray_file_target,
        structured: None,
        fixup: None,
    },
    Target {
        name: "ndarray_raw",
        about: "one array record without a list header: the bytes NDArray.__setstate__ unpickles",
        max_len: 4 << 10,
        dict: ND_DICT,
        run: ndarray_raw_target,
        structured: None,
        fixup: None,
    },
    Target {
        name: "recordio",
        about: "RecordReader over a .rec file (sequential read, offset scan, seeks) and IRHeader",
        max_len: 16 << 10,
        dict: REC_DICT,
        run: recordio_target,
        structured: None,
        fixup: None,
    },
    Target {
        name: "symbol_json",
        about: "mx.sym.load_json: Symbol JSON to a graph, then tojson and load again",
        max_len: 32 << 10,
        dict: JSON_DICT,
        run: symbol_json_target,
        structured: Some(json_mutate::mutate),
        fixup: None,
    },
    Target {
        name: "image",
        about: "imdecode: JPEG/PNG decode in colour, gray and unchanged modes, then a resize",
        // A valid 2 KiB PNG may decode to 50 MB (deflate expands 1032x, 1-bit pixels to RGB 24x),
        // still under the allocation limit; longer inputs could legitimately exceed it.
        max_len: 2 << 10,
        dict: IMG_DICT,
        run: image_target,
        structured: None,
        fixup: Some(mutate::fix_png_crcs),
    },
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn to_ndarray(a: &RawArray) -> Result<NDArray, String> {
    let data = CpuStorage::from_le_bytes(a.dtype, &a.data).map_err(|e| e.to_string())?;
    NDArray::from_cpu(data, &a.shape, Context::cpu(0)).map_err(|e| e.to_string())
}

fn ndarray_file_target(data: &[u8]) -> Outcome {
    let (arrays, names) =
        ndarray_file::read_list_with_limit(data, "<fuzz>", FUZZ_DENSE_CAP).map_err(|e| e.to_string())?;
    for a in &arrays {
        let nd = to_ndarray(a)?;
        assert_eq!(nd.shape(), a.shape.as_slice());
    }
    // What loaded can be saved, and loads back the same.
    let refs: Vec<_> = arrays.iter().map(RawArray::as_array_ref).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    ndarray_file::write_list(&mut out, &refs, &name_refs).expect("a loaded list can be saved");
    let (again, names_again) =
        ndarray_file::read_list_with_limit(&out, "<rewritten>", FUZZ_DENSE_CAP).expect("a saved list loads");
    assert!(again == arrays && names_again == names, "save then load changed the arrays");
    let kind = match (arrays.len(), names.len()) {
        (0, _) => "ok: empty",
        (_, 0) => "ok: list",
        _ => "ok: dict",
    };
    let mut features = vec![kind.to_string()];
    features.extend(arrays.iter().map(|a| format!("ok: {} ndim {}", a.dtype, a.shape.len())));
    Ok(features)
}

fn ndarray_raw_target(data: &[u8]) -> Outcome {
    let a = ndarray_file::read_record_with_limit(data, "<pickle>", FUZZ_DENSE_CAP).map_err(|e| e.to_string())?;
    to_ndarray(&a)?;
    let mut out = Vec::new();
    ndarray_file::write_record(&mut out, &a.as_array_ref()).expect("a loaded record can be saved");
    let again =
        ndarray_file::read_record_with_limit(&out, "<rewritten>", FUZZ_DENSE_CAP).expect("a saved record loads");
    assert!(again == a, "save then load changed the array");
    Ok(vec![format!("ok: {} ndim {}", a.dtype, a.shape.len())])
}

/// A scratch `.rec` file per worker thread, kept open (rewritten in place: truncating a file to
/// zero makes ext4 flush it on close, 3 ms per input), removed when the thread ends.
struct Scratch {
    path: PathBuf,
    file: File,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Make this thread's scratch file hold exactly `data`; returns its path.
fn scratch_file(data: &[u8]) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("harness: cannot write the scratch file: {e}");
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            let id = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_digit(), "");
            let path = std::env::temp_dir().join(format!("mxrs-fuzz-{}-{id}.rec", std::process::id()));
            let file = File::create(&path).map_err(fail)?;
            *s = Some(Scratch { path, file });
        }
        let sc = s.as_ref().expect("just created");
        sc.file.set_len(data.len() as u64).map_err(fail)?;
        sc.file.write_all_at(data, 0).map_err(fail)?;
        Ok(sc.path.to_string_lossy().into_owned())
    })
}

fn header_kind(rec: &[u8]) -> String {
    match header::unpack(rec) {
        Ok((h, labels, payload)) => {
            assert_eq!(labels.len(), if h.flag == 0 { 1 } else { h.flag as usize });
            assert!(payload.len() <= rec.len());
            format!("ok: header flag {}", h.flag.min(4))
        }
        Err(e) => format!("header error: {}", crate::kinds::normalize(&e.to_string())),
    }
}

fn recordio_target(data: &[u8]) -> Outcome {
    let path = scratch_file(data)?;
    let mut r = RecordReader::open(&path).map_err(|e| e.to_string())?;
    let mut features = Vec::new();
    let (mut offsets, mut records) = (Vec::new(), Vec::new());
    let failed = loop {
        let at = r.tell();
        match r.read() {
            Ok(Some(rec)) => {
                features.push(header_kind(&rec));
                offsets.push(at);
                records.push(rec);
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    let mut r = RecordReader::open(&path).map_err(|e| e.to_string())?;
    let scanned = r.scan_offsets();
    if let Some(e) = failed {
        return Err(e);
    }
    // A file that reads cleanly scans to the same record offsets, and seeking to each offset
    // reads the same record again.
    let scanned = scanned.expect("a file that reads cleanly scans cleanly");
    assert_eq!(scanned, offsets, "scan_offsets disagrees with sequential reading");
    for (&at, rec) in offsets.iter().zip(&records).rev() {
        r.seek(at).expect("seek to a record offset");
        assert_eq!(r.read().expect("record reads after seek").as_ref(), Some(rec));
    }
    features.push(format!("ok: {} records", records.len().min(3)));
    Ok(features)
}

fn image_target(data: &[u8]) -> Outcome {
    let mut features = Vec::new();
    for mode in [DecodeMode::Color, DecodeMode::Gray, DecodeMode::Unchanged] {
        let img = image::decode(data, mode).map_err(|e| e.to_string())?;
        assert_eq!(img.data.len(), img.h * img.w * img.c, "decoded size does not match the shape");
        assert!(img.h > 0 && img.w > 0, "empty image decoded");
        let want_c: &[usize] = match mode {
            DecodeMode::Color => &[3],
            DecodeMode::Gray => &[1],
            DecodeMode::Unchanged => &[1, 3, 4],
        };
        assert!(want_c.contains(&img.c), "{mode:?} gave {} channels", img.c);
        let small = image::resize(&img, 3, 2);
        assert_eq!(small.data.len(), 3 * 2 * img.c);
        features.push(format!("ok: {mode:?} {} channels", img.c));
    }
    Ok(features)
}

fn symbol_json_target(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let sym = mxrs_symbol::from_json(&text).map_err(|e| e.to_string())?;
    // What users do next: list the inputs and outputs, look at the internals.
    let (args, aux) = (sym.list_arguments(), sym.list_auxiliary_states());
    assert_eq!(args.len() + aux.len(), sym.list_inputs().len());
    assert_eq!(sym.list_outputs().len(), sym.outputs.len());
    sym.get_internals().list_outputs();
    // Its own JSON loads again and prints the same.
    let json = mxrs_symbol::to_json(&sym);
    let again = mxrs_symbol::from_json(&json).unwrap_or_else(|e| panic!("tojson output does not load: {e}\n{json}"));
    assert_eq!(mxrs_symbol::to_json(&again), json, "tojson -> load_json -> tojson changed the JSON");
    let mut features: Vec<String> = sym.topo_nodes().iter().map(|n| format!("ok: op {}", n.op_name())).collect();
    features.sort_unstable();
    features.dedup();
    Ok(features)
}
