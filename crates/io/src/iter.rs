//! The image record iterator behind `mx.io.ImageRecordIter`.
//!
//! A background thread (one per epoch) reads the raw records of each batch, then decodes and
//! augments them on a pool of `preprocess_threads` rayon workers straight into the batch's
//! NCHW buffer, and hands finished batches over a channel of `prefetch_buffer` slots. The
//! Python side only waits on that channel, with the GIL released.
//!
//! Epochs: the records of this part (see [`crate::recordio::partition`]) in file order, or a
//! new permutation per epoch when shuffling (seeded: epoch `e` always gets the same order).
//! With `round_batch`, a last partial batch is filled from the start of the next epoch's order
//! and `pad` counts those records; the next epoch then starts after them (MXNet's behaviour).
//! Without it, the last batch is zero-filled and `pad` is the true number of missing records.
//! Random crops and mirrors use a generator seeded per (seed, epoch, record position), so the
//! output does not depend on the thread count.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use mxrs_ndarray_core::CpuStorage;
use rayon::prelude::*;

use crate::header;
use crate::image::{self, DecodeMode, Image};
use crate::recordio::{self, RecordReader};
use crate::{Error, Result};

/// Element type of the data batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutDType {
    /// Normalised float32 (the default).
    F32,
    /// Raw pixels.
    U8,
    /// Pixels minus the rounded means, saturated.
    I8,
}

/// The iterator's parameters (MXNet's names).
#[derive(Debug, Clone)]
pub struct ImageIterConfig {
    /// The `.rec` file.
    pub path_imgrec: String,
    /// Its `.idx` file, if any.
    pub path_imgidx: Option<String>,
    /// A `.lst` file whose labels replace the records' labels (by image id).
    pub path_imglist: Option<String>,
    /// (C, H, W) of each output image; C in {1, 3, 4}.
    pub data_shape: [usize; 3],
    /// Images per batch.
    pub batch_size: usize,
    /// Labels per image.
    pub label_width: usize,
    /// Shuffle the records every epoch.
    pub shuffle: bool,
    /// Seed of the shuffle and of the random augmentations.
    pub seed: u64,
    /// Resize the shorter edge to this size first (<= 0: no resize).
    pub resize: i64,
    /// Random crop position instead of the centre.
    pub rand_crop: bool,
    /// Mirror with probability 0.5.
    pub rand_mirror: bool,
    /// Always mirror.
    pub mirror: bool,
    /// Per-channel means (r, g, b, a).
    pub mean: [f32; 4],
    /// Per-channel standard deviations (r, g, b, a).
    pub std: [f32; 4],
    /// Multiplier applied after subtracting the mean.
    pub scale: f32,
    /// Decoding threads.
    pub preprocess_threads: usize,
    /// Batches prepared ahead.
    pub prefetch_buffer: usize,
    /// Number of parts the data is split into.
    pub num_parts: usize,
    /// Which part this iterator reads.
    pub part_index: usize,
    /// Fill the last batch from the next epoch.
    pub round_batch: bool,
    /// Output element type.
    pub dtype: OutDType,
}

impl Default for ImageIterConfig {
    fn default() -> Self {
        Self {
            path_imgrec: String::new(),
            path_imgidx: None,
            path_imglist: None,
            data_shape: [3, 224, 224],
            batch_size: 1,
            label_width: 1,
            shuffle: false,
            seed: 0,
            resize: -1,
            rand_crop: false,
            rand_mirror: false,
            mirror: false,
            mean: [0.0; 4],
            std: [1.0; 4],
            scale: 1.0,
            preprocess_threads: 4,
            prefetch_buffer: 4,
            num_parts: 1,
            part_index: 0,
            round_batch: true,
            dtype: OutDType::F32,
        }
    }
}

/// One batch: data `(batch, C, H, W)`, labels `(batch, label_width)` row-major.
#[derive(Debug)]
pub struct Batch {
    /// The images, NCHW.
    pub data: CpuStorage,
    /// The labels.
    pub label: Vec<f32>,
    /// Records at the end that do not belong to this epoch (or are missing).
    pub pad: usize,
    /// Image ids from the record headers (0 for missing slots).
    pub index: Vec<u64>,
}

/// A small, fast generator (SplitMix64) for shuffles and augmentations.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Self {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for &p in parts {
            r.0 ^= p;
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 11) as u128 * n as u128) >> 53) as usize
    }
}

struct Shared {
    cfg: ImageIterConfig,
    offsets: Vec<u64>,
    labels: Option<HashMap<u64, Vec<f32>>>,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("cfg", &self.cfg).field("records", &self.offsets.len()).finish()
    }
}

fn param(msg: impl Into<String>) -> Error {
    Error::Param { op: "ImageRecordIter".into(), msg: msg.into() }
}

fn read_imglist(path: &str) -> Result<HashMap<u64, Vec<f32>>> {
    let bytes = mxrs_ndarray_core::io::storage::read(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| Error::Format { path: path.into(), msg: format!("not UTF-8: {e}") })?;
    let mut map = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty() {
            continue;
        }
        let bad =
            || Error::Format { path: path.into(), msg: format!("line {}: expected index\\tlabel...\\tpath", n + 1) };
        if f.len() < 3 {
            return Err(bad());
        }
        let id = f[0].trim().parse::<f64>().map_err(|_| bad())? as u64;
        let labels =
            f[1..f.len() - 1].iter().map(|s| s.trim().parse::<f32>().map_err(|_| bad())).collect::<Result<_>>()?;
        map.insert(id, labels);
    }
    Ok(map)
}

/// The prefetching image record iterator.
#[derive(Debug)]
pub struct ImageRecordIter {
    shared: Arc<Shared>,
    rx: Option<Receiver<Result<Batch>>>,
    epoch: u64,
    start: usize,
    consumed: bool,
}

impl ImageRecordIter {
    /// Check the parameters, index the records of this part and start prefetching epoch 0.
    pub fn new(cfg: ImageIterConfig) -> Result<Self> {
        let [c, h, w] = cfg.data_shape;
        if ![1, 3, 4].contains(&c) || h == 0 || w == 0 {
            return Err(param(format!("data_shape must be (C, H, W) with C in 1, 3, 4, got ({c}, {h}, {w})")));
        }
        if cfg.batch_size == 0 || cfg.label_width == 0 {
            return Err(param("batch_size and label_width must be positive"));
        }
        if cfg.num_parts == 0 || cfg.part_index >= cfg.num_parts {
            return Err(param(format!("part_index {} out of range for num_parts {}", cfg.part_index, cfg.num_parts)));
        }
        if cfg.std.contains(&0.0) {
            return Err(param("std_r/g/b/a must not be zero"));
        }
        let mut reader = RecordReader::open(&cfg.path_imgrec)?;
        let (all, from_index) = match &cfg.path_imgidx {
            Some(idx) if !idx.is_empty() => (recordio::read_idx_offsets(idx)?, true),
            _ => (reader.scan_offsets()?, false),
        };
        let offsets = recordio::partition(&all, reader.file_len(), from_index, cfg.num_parts, cfg.part_index);
        if offsets.is_empty() {
            return Err(param(format!(
                "{}: no records in part {} of {}",
                cfg.path_imgrec, cfg.part_index, cfg.num_parts
            )));
        }
        let labels = match &cfg.path_imglist {
            Some(p) if !p.is_empty() => Some(read_imglist(p)?),
            _ => None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.preprocess_threads.max(1))
            .thread_name(|i| format!("mxrs-imgdec-{i}"))
            .build()
            .map_err(|e| Error::msg(format!("cannot start decoding threads: {e}")))?;
        let mut it = Self {
            shared: Arc::new(Shared { cfg, offsets, labels, pool }),
            rx: None,
            epoch: 0,
            start: 0,
            consumed: false,
        };
        it.spawn();
        Ok(it)
    }

    /// Number of records in this part.
    pub fn num_records(&self) -> usize {
        self.shared.offsets.len()
    }

    fn spawn(&mut self) {
        let (tx, rx) = sync_channel(self.shared.cfg.prefetch_buffer.max(1));
        let (shared, epoch, start) = (self.shared.clone(), self.epoch, self.start);
        std::thread::Builder::new()
            .name("mxrs-imgiter".into())
            .spawn(move || produce(&shared, epoch, start, &tx))
            .expect("spawn the prefetch thread");
        self.rx = Some(rx);
        self.consumed = false;
    }

    /// The next batch of this epoch (blocks), or None at its end.
    pub fn next_batch(&mut self) -> Result<Option<Batch>> {
        let Some(rx) = &self.rx else { return Ok(None) };
        match rx.recv() {
            Ok(b) => {
                self.consumed = true;
                b.map(Some)
            }
            Err(_) => {
                self.consumed = true;
                Ok(None)
            }
        }
    }

    /// Start the next epoch. A reset before any batch of the current epoch was taken keeps it.
    pub fn reset(&mut self) {
        if !self.consumed && self.rx.is_some() {
            return;
        }
        self.rx = None; // the producer stops at its next send
        let cfg = &self.shared.cfg;
        let n = self.shared.offsets.len();
        let rem = (n - self.start) % cfg.batch_size;
        self.start = if cfg.round_batch && rem != 0 { (cfg.batch_size - rem) % n } else { 0 };
        self.epoch += 1;
        self.spawn();
    }
}

fn epoch_order(shared: &Shared, epoch: u64) -> Vec<usize> {
    let n = shared.offsets.len();
    let mut order: Vec<usize> = (0..n).collect();
    if shared.cfg.shuffle {
        let mut rng = Rng::new(&[shared.cfg.seed, epoch, 0x5348_5546]);
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
    }
    order
}

fn produce(shared: &Shared, epoch: u64, start: usize, tx: &SyncSender<Result<Batch>>) {
    let cfg = &shared.cfg;
    let n = shared.offsets.len();
    let bs = cfg.batch_size;
    let order = epoch_order(shared, epoch);
    let mut reader = match RecordReader::open(&cfg.path_imgrec) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    let mut pos = start;
    while pos < n {
        let take = bs.min(n - pos);
        let mut slots: Vec<usize> = order[pos..pos + take].to_vec();
        pos += take;
        // Wrapped records (round_batch) or missing ones: either way they are padding.
        let pad = bs - take;
        if pad > 0 && cfg.round_batch {
            let next = epoch_order(shared, epoch + 1);
            slots.extend((0..pad).map(|j| next[j % n]));
        }
        let batch = make_batch(shared, &mut reader, &slots, pad, epoch, pos);
        let failed = batch.is_err();
        if tx.send(batch).is_err() || failed {
            return;
        }
    }
}

fn make_batch(
    shared: &Shared,
    reader: &mut RecordReader,
    slots: &[usize],
    pad: usize,
    epoch: u64,
    pos: usize,
) -> Result<Batch> {
    let cfg = &shared.cfg;
    let mut raws = Vec::with_capacity(slots.len());
    for &i in slots {
        let off = shared.offsets[i];
        reader.seek(off)?;
        let mut buf = Vec::new();
        if !reader.read_into(&mut buf)? {
            return Err(Error::Format {
                path: cfg.path_imgrec.clone(),
                msg: format!("no record at byte offset {off} (index points past the end)"),
            });
        }
        raws.push((off, buf));
    }
    let [c, h, w] = cfg.data_shape;
    let img_size = c * h * w;
    let bs = cfg.batch_size;
    let lw = cfg.label_width;
    let mut label = vec![0f32; bs * lw];
    let mut index = vec![0u64; bs];
    let seeds: Vec<Rng> = (0..raws.len()).map(|j| Rng::new(&[cfg.seed, epoch, pos as u64, j as u64])).collect();
    let data = match cfg.dtype {
        OutDType::F32 => {
            let mut d = vec![0f32; bs * img_size];
            fill(shared, &raws, &seeds, &mut d, &mut label, &mut index)?;
            CpuStorage::F32(d.into())
        }
        OutDType::U8 => {
            let mut d = vec![0u8; bs * img_size];
            fill(shared, &raws, &seeds, &mut d, &mut label, &mut index)?;
            CpuStorage::U8(d.into())
        }
        OutDType::I8 => {
            let mut d = vec![0i8; bs * img_size];
            fill(shared, &raws, &seeds, &mut d, &mut label, &mut index)?;
            CpuStorage::I8(d.into())
        }
    };
    Ok(Batch { data, label, pad, index })
}

/// An output element made from a pixel, the channel mean and `scale / std`.
trait Pixel: Send + Copy {
    fn make(p: u8, mean: f32, mult: f32) -> Self;
}
impl Pixel for f32 {
    #[inline]
    fn make(p: u8, mean: f32, mult: f32) -> Self {
        (p as f32 - mean) * mult
    }
}
impl Pixel for u8 {
    #[inline]
    fn make(p: u8, _: f32, _: f32) -> Self {
        p
    }
}
impl Pixel for i8 {
    #[inline]
    fn make(p: u8, mean: f32, _: f32) -> Self {
        (p as i32 - mean.round() as i32).clamp(-128, 127) as i8
    }
}

fn fill<T: Pixel>(
    shared: &Shared,
    raws: &[(u64, Vec<u8>)],
    seeds: &[Rng],
    data: &mut [T],
    label: &mut [f32],
    index: &mut [u64],
) -> Result<()> {
    let cfg = &shared.cfg;
    let [c, h, w] = cfg.data_shape;
    shared.pool.install(|| {
        data.par_chunks_mut(c * h * w)
            .zip(label.par_chunks_mut(cfg.label_width))
            .zip(index.par_iter_mut())
            .zip(raws.par_iter().zip(seeds.par_iter()))
            .try_for_each(|(((out, lab), id), ((off, raw), rng))| {
                process(shared, raw, &mut rng.clone(), out, lab, id).map_err(|e| match e {
                    Error::Format { .. } | Error::Io { .. } => e,
                    e => Error::Format {
                        path: cfg.path_imgrec.clone(),
                        msg: format!("record at byte offset {off}: {e}"),
                    },
                })
            })
    })
}

fn process<T: Pixel>(
    shared: &Shared,
    raw: &[u8],
    rng: &mut Rng,
    out: &mut [T],
    lab: &mut [f32],
    id: &mut u64,
) -> Result<()> {
    let cfg = &shared.cfg;
    let [c, h, w] = cfg.data_shape;
    let (hdr, mut labels, payload) = header::unpack(raw)?;
    if let Some(l) = shared.labels.as_ref().and_then(|m| m.get(&hdr.id)) {
        labels = l.clone();
    }
    if labels.len() != cfg.label_width {
        return Err(Error::msg(format!(
            "the record has {} label(s) but label_width is {}",
            labels.len(),
            cfg.label_width
        )));
    }
    lab.copy_from_slice(&labels);
    *id = hdr.id;
    let mode = match c {
        1 => DecodeMode::Gray,
        3 => DecodeMode::Color,
        _ => DecodeMode::Unchanged,
    };
    let mut img = image::decode(payload, mode)?;
    if c == 4 && img.c != 4 {
        img = to_rgba(&img);
    }
    if cfg.resize > 0 {
        let (nw, nh) = image::shorter_edge_size(img.w, img.h, cfg.resize as usize);
        img = image::resize(&img, nw.max(1), nh.max(1));
    }
    if img.h < h || img.w < w {
        let s = (h as f64 / img.h as f64).max(w as f64 / img.w as f64);
        let nw = ((img.w as f64 * s).ceil() as usize).max(w);
        let nh = ((img.h as f64 * s).ceil() as usize).max(h);
        img = image::resize(&img, nw, nh);
    }
    let (y0, x0) = if cfg.rand_crop {
        (rng.below(img.h - h + 1), rng.below(img.w - w + 1))
    } else {
        ((img.h - h) / 2, (img.w - w) / 2)
    };
    let mirror = cfg.mirror || (cfg.rand_mirror && rng.next() >> 63 == 1);
    for k in 0..c {
        let mean = cfg.mean[k];
        let mult = cfg.scale / cfg.std[k];
        let plane = &mut out[k * h * w..(k + 1) * h * w];
        for y in 0..h {
            let row = &img.data[((y0 + y) * img.w + x0) * c..((y0 + y) * img.w + x0 + w) * c];
            let dst = &mut plane[y * w..(y + 1) * w];
            if mirror {
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = T::make(row[(w - 1 - x) * c + k], mean, mult);
                }
            } else {
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = T::make(row[x * c + k], mean, mult);
                }
            }
        }
    }
    Ok(())
}

fn to_rgba(img: &Image) -> Image {
    let data = match img.c {
        1 => img.data.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        _ => img.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
    };
    Image { h: img.h, w: img.w, c: 4, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Format, encode};
    use crate::recordio::RecordWriter;

    fn make_rec(name: &str, n: usize) -> (String, String) {
        let dir = std::env::temp_dir();
        let rec = dir.join(format!("mxrs_iter_{}_{name}.rec", std::process::id())).to_str().unwrap().to_string();
        let idx = rec.replace(".rec", ".idx");
        let mut wr = RecordWriter::create(&rec).unwrap();
        let mut lines = String::new();
        for i in 0..n {
            let data: Vec<u8> = (0..6 * 8 * 3).map(|k| ((k * 7 + i * 31) % 256) as u8).collect();
            let png = encode(&Image { h: 6, w: 8, c: 3, data }, Format::Png, 3).unwrap();
            let off = wr.write(&header::pack(i as u64, 0, &[i as f32], false, &png)).unwrap();
            lines += &format!("{i}\t{off}\n");
        }
        wr.flush().unwrap();
        std::fs::write(&idx, lines).unwrap();
        (rec, idx)
    }

    fn cfg(rec: &str, idx: Option<&str>, bs: usize) -> ImageIterConfig {
        ImageIterConfig {
            path_imgrec: rec.into(),
            path_imgidx: idx.map(Into::into),
            data_shape: [3, 6, 8],
            batch_size: bs,
            preprocess_threads: 2,
            ..Default::default()
        }
    }

    fn epoch(it: &mut ImageRecordIter) -> Vec<(Vec<f32>, usize)> {
        let mut v = Vec::new();
        while let Some(b) = it.next_batch().unwrap() {
            v.push((b.label, b.pad));
        }
        it.reset();
        v
    }

    #[test]
    fn round_batch_carries_into_the_next_epoch() {
        let (rec, idx) = make_rec("round", 3);
        let mut it = ImageRecordIter::new(cfg(&rec, Some(&idx), 2)).unwrap();
        it.reset(); // a reset before the first batch keeps epoch 0
        assert_eq!(epoch(&mut it), vec![(vec![0., 1.], 0), (vec![2., 0.], 1)]);
        assert_eq!(epoch(&mut it), vec![(vec![1., 2.], 0)]);
        assert_eq!(epoch(&mut it), vec![(vec![0., 1.], 0), (vec![2., 0.], 1)]);
        let mut c = cfg(&rec, None, 2);
        c.round_batch = false;
        let mut it = ImageRecordIter::new(c).unwrap();
        assert_eq!(epoch(&mut it), vec![(vec![0., 1.], 0), (vec![2., 0.], 1)]);
        assert_eq!(epoch(&mut it), vec![(vec![0., 1.], 0), (vec![2., 0.], 1)]);
    }

    #[test]
    fn shuffle_parts_and_threads() {
        let (rec, idx) = make_rec("shuffle", 10);
        let mut c = cfg(&rec, Some(&idx), 5);
        c.shuffle = true;
        c.seed = 3;
        let mut it = ImageRecordIter::new(c.clone()).unwrap();
        let e0: Vec<f32> = epoch(&mut it).into_iter().flat_map(|b| b.0).collect();
        let e1: Vec<f32> = epoch(&mut it).into_iter().flat_map(|b| b.0).collect();
        let mut s = e0.clone();
        s.sort_by(f32::total_cmp);
        assert_eq!(s, (0..10).map(|i| i as f32).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        let again: Vec<f32> = epoch(&mut ImageRecordIter::new(c).unwrap()).into_iter().flat_map(|b| b.0).collect();
        assert_eq!(e0, again);
        let mut p = cfg(&rec, Some(&idx), 2);
        p.num_parts = 3;
        p.part_index = 2;
        assert_eq!(ImageRecordIter::new(p).unwrap().num_records(), 2);
    }

    #[test]
    fn random_augmentation_does_not_depend_on_threads() {
        let (rec, _) = make_rec("aug", 4);
        let mut c = cfg(&rec, None, 4);
        c.data_shape = [3, 4, 5];
        c.rand_crop = true;
        c.rand_mirror = true;
        c.seed = 9;
        let run = |t: usize| {
            let mut c = c.clone();
            c.preprocess_threads = t;
            match ImageRecordIter::new(c).unwrap().next_batch().unwrap().unwrap().data {
                CpuStorage::F32(v) => v,
                _ => unreachable!(),
            }
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn errors_name_the_file_and_offset() {
        let (rec, _) = make_rec("err", 2);
        let mut c = cfg(&rec, None, 2);
        c.label_width = 2;
        let e = ImageRecordIter::new(c).unwrap().next_batch().unwrap_err().to_string();
        assert!(e.contains(&rec) && e.contains("offset 0") && e.contains("label_width"), "{e}");
        let mut bytes = std::fs::read(&rec).unwrap();
        let n = bytes.len();
        bytes[n / 2..].fill(0x11);
        std::fs::write(&rec, bytes).unwrap();
        assert!(ImageRecordIter::new(cfg(&rec, None, 2)).is_err());
        let mut c = cfg(&rec, None, 2);
        c.data_shape = [2, 6, 8];
        assert!(ImageRecordIter::new(c).is_err());
    }
}
