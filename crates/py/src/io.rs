//! Bindings of `mxrs-io`: RecordIO handles, image codecs and the image record iterator.
//! Everything that reads, decodes or waits runs with the GIL released.

use std::sync::Mutex;

use mxrs_io::image::{self, DecodeMode, Format, Image};
use mxrs_io::iter::{ImageIterConfig, ImageRecordIter, OutDType};
use mxrs_io::recordio::{RecordReader, RecordWriter};
use mxrs_ndarray_core::{Context, DevType, Error, NDArray};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::{PyMxError, PyMxResult};
use crate::ndarray::PyNDArray;

fn closed() -> PyMxError {
    PyMxError(Error::msg("the RecordIO handle is closed"))
}

/// Sequential/random-access reader of a `.rec` file.
#[pyclass(module = "mxrs._native", name = "RecordReader")]
#[derive(Debug)]
pub struct PyRecordReader(Mutex<Option<RecordReader>>);

#[pymethods]
impl PyRecordReader {
    #[new]
    fn new(py: Python<'_>, path: &str) -> PyMxResult<Self> {
        Ok(Self(Mutex::new(Some(py.detach(|| RecordReader::open(path))?))))
    }
    /// The next record, or None at the end of the file.
    fn read<'py>(&self, py: Python<'py>) -> PyMxResult<Option<Bound<'py, PyBytes>>> {
        let r = py.detach(|| {
            let mut g = self.0.lock().expect("reader lock");
            g.as_mut().ok_or_else(closed)?.read().map_err(PyMxError)
        })?;
        Ok(r.map(|v| PyBytes::new(py, &v)))
    }
    /// Move to a record's byte offset.
    fn seek(&self, pos: u64) -> PyMxResult<()> {
        let mut g = self.0.lock().expect("reader lock");
        Ok(g.as_mut().ok_or_else(closed)?.seek(pos)?)
    }
    /// Offset of the next record.
    fn tell(&self) -> PyMxResult<u64> {
        Ok(self.0.lock().expect("reader lock").as_ref().ok_or_else(closed)?.tell())
    }
    /// Close the file.
    fn close(&self) {
        self.0.lock().expect("reader lock").take();
    }
}

/// Writer of a `.rec` file.
#[pyclass(module = "mxrs._native", name = "RecordWriter")]
#[derive(Debug)]
pub struct PyRecordWriter(Mutex<Option<RecordWriter>>);

#[pymethods]
impl PyRecordWriter {
    #[new]
    fn new(py: Python<'_>, path: &str) -> PyMxResult<Self> {
        Ok(Self(Mutex::new(Some(py.detach(|| RecordWriter::create(path))?))))
    }
    /// Append a record; returns its offset.
    fn write(&self, py: Python<'_>, buf: &[u8]) -> PyMxResult<u64> {
        py.detach(|| {
            let mut g = self.0.lock().expect("writer lock");
            g.as_mut().ok_or_else(closed)?.write(buf).map_err(PyMxError)
        })
    }
    /// Offset of the next record.
    fn tell(&self) -> PyMxResult<u64> {
        Ok(self.0.lock().expect("writer lock").as_ref().ok_or_else(closed)?.tell())
    }
    /// Flush buffered records.
    fn flush(&self, py: Python<'_>) -> PyMxResult<()> {
        py.detach(|| Ok(self.0.lock().expect("writer lock").as_mut().ok_or_else(closed)?.flush()?))
    }
    /// Flush and close the file (a remote file appears now).
    fn close(&self, py: Python<'_>) -> PyMxResult<()> {
        if let Some(mut w) = self.0.lock().expect("writer lock").take() {
            py.detach(|| w.finish())?;
        }
        Ok(())
    }
}

/// Decode JPEG/PNG bytes: `(pixels, h, w, c)`, HWC, BGR(A) when `bgr` else RGB(A).
/// `flag` is OpenCV's: -1 unchanged, 0 gray, 1 colour.
#[pyfunction]
#[pyo3(signature = (buf, flag=1, bgr=true))]
fn imdecode<'py>(
    py: Python<'py>,
    buf: &[u8],
    flag: i32,
    bgr: bool,
) -> PyMxResult<(Bound<'py, PyBytes>, usize, usize, usize)> {
    let img = py.detach(|| {
        let mut img = image::decode(buf, DecodeMode::from_flag(flag))?;
        if bgr {
            img.swap_rb();
        }
        Ok::<_, Error>(img)
    })?;
    Ok((PyBytes::new(py, &img.data), img.h, img.w, img.c))
}

/// Encode HWC pixels (BGR(A) when `bgr`) as `.jpg` (quality) or `.png` (compression level).
#[pyfunction]
#[pyo3(signature = (data, h, w, c, fmt, quality, bgr=true))]
#[allow(clippy::too_many_arguments)]
fn imencode<'py>(
    py: Python<'py>,
    data: &[u8],
    h: usize,
    w: usize,
    c: usize,
    fmt: &str,
    quality: i32,
    bgr: bool,
) -> PyMxResult<Bound<'py, PyBytes>> {
    let fmt = Format::from_ext(fmt)?;
    let out = py.detach(|| {
        let mut img = Image { h, w, c, data: data.to_vec() };
        if bgr {
            img.swap_rb();
        }
        image::encode(&img, fmt, quality)
    })?;
    Ok(PyBytes::new(py, &out))
}

/// Bilinear resize (OpenCV `INTER_LINEAR` rounding) of HWC `u8` pixels.
#[pyfunction]
fn imresize<'py>(
    py: Python<'py>,
    data: &[u8],
    h: usize,
    w: usize,
    c: usize,
    new_w: usize,
    new_h: usize,
) -> PyMxResult<Bound<'py, PyBytes>> {
    if data.len() != h * w * c || new_w == 0 || new_h == 0 {
        return Err(PyMxError(Error::msg("imresize: buffer size does not match the shape, or empty target")));
    }
    let out = py.detach(|| image::resize(&Image { h, w, c, data: data.to_vec() }, new_w, new_h).data);
    Ok(PyBytes::new(py, &out))
}

/// The native image record iterator.
#[pyclass(module = "mxrs._native", name = "ImageRecordIter")]
#[derive(Debug)]
pub struct PyImageRecordIter {
    it: Mutex<ImageRecordIter>,
    data_shape: [usize; 3],
    batch_size: usize,
    label_width: usize,
}

#[pymethods]
impl PyImageRecordIter {
    #[new]
    #[pyo3(signature = (path_imgrec, data_shape, batch_size, path_imgidx=None, path_imglist=None,
        label_width=1, shuffle=false, seed=0, resize=-1, rand_crop=false, rand_mirror=false,
        mirror=false, mean=(0.0, 0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0, 1.0), scale=1.0,
        preprocess_threads=4, prefetch_buffer=4, num_parts=1, part_index=0, round_batch=true,
        dtype="float32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path_imgrec: String,
        data_shape: (usize, usize, usize),
        batch_size: usize,
        path_imgidx: Option<String>,
        path_imglist: Option<String>,
        label_width: usize,
        shuffle: bool,
        seed: u64,
        resize: i64,
        rand_crop: bool,
        rand_mirror: bool,
        mirror: bool,
        mean: (f32, f32, f32, f32),
        std: (f32, f32, f32, f32),
        scale: f32,
        preprocess_threads: usize,
        prefetch_buffer: usize,
        num_parts: usize,
        part_index: usize,
        round_batch: bool,
        dtype: &str,
    ) -> PyMxResult<Self> {
        let dtype = match dtype {
            "float32" => OutDType::F32,
            "uint8" => OutDType::U8,
            "int8" => OutDType::I8,
            d => {
                return Err(PyMxError(Error::Param {
                    op: "ImageRecordIter".into(),
                    msg: format!("dtype must be float32, uint8 or int8, got {d}"),
                }));
            }
        };
        let cfg = ImageIterConfig {
            path_imgrec,
            path_imgidx,
            path_imglist,
            data_shape: [data_shape.0, data_shape.1, data_shape.2],
            batch_size,
            label_width,
            shuffle,
            seed,
            resize,
            rand_crop,
            rand_mirror,
            mirror,
            mean: [mean.0, mean.1, mean.2, mean.3],
            std: [std.0, std.1, std.2, std.3],
            scale,
            preprocess_threads,
            prefetch_buffer,
            num_parts,
            part_index,
            round_batch,
            dtype,
        };
        let data_shape = cfg.data_shape;
        let it = py.detach(|| ImageRecordIter::new(cfg))?;
        Ok(Self { it: Mutex::new(it), data_shape, batch_size, label_width })
    }

    /// The next batch `(data, label, pad, index)`, or None at the end of the epoch.
    #[allow(clippy::type_complexity)]
    fn next(&self, py: Python<'_>) -> PyMxResult<Option<(PyNDArray, PyNDArray, usize, Vec<u64>)>> {
        let Some(b) = py.detach(|| self.it.lock().expect("iterator lock").next_batch())? else {
            return Ok(None);
        };
        let ctx = Context { dev_type: DevType::CpuPinned, dev_id: 0 };
        let [c, h, w] = self.data_shape;
        let data = NDArray::from_cpu(b.data, &[self.batch_size, c, h, w], ctx)?;
        let lshape: Vec<usize> =
            if self.label_width == 1 { vec![self.batch_size] } else { vec![self.batch_size, self.label_width] };
        let label = NDArray::from_cpu(mxrs_ndarray_core::CpuStorage::F32(b.label), &lshape, ctx)?;
        Ok(Some((PyNDArray(data), PyNDArray(label), b.pad, b.index)))
    }

    /// Start the next epoch.
    fn reset(&self, py: Python<'_>) {
        py.detach(|| self.it.lock().expect("iterator lock").reset());
    }

    /// Number of records this iterator reads per epoch.
    fn num_records(&self) -> usize {
        self.it.lock().expect("iterator lock").num_records()
    }
}

/// Add the classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecordReader>()?;
    m.add_class::<PyRecordWriter>()?;
    m.add_class::<PyImageRecordIter>()?;
    m.add_function(wrap_pyfunction!(imdecode, m)?)?;
    m.add_function(wrap_pyfunction!(imencode, m)?)?;
    m.add_function(wrap_pyfunction!(imresize, m)?)?;
    Ok(())
}
