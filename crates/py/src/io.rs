//! Bindings of `mxrs-io`: RecordIO handles, image codecs and the image record iterator.
//! Everything that reads, decodes or waits runs with the GIL released.

use mxrs_io::image::{self, DecodeMode, Format, Image};
use mxrs_io::iter::{ImageIterConfig, ImageRecordIter, OutDType};
use mxrs_io::recordio::{RecordReader, RecordWriter};
use mxrs_ndarray_core::{Context, DevType, Error, NDArray};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::PyMxError;
use crate::guard::enter_detached;
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
    fn new(py: Python<'_>, path: &str) -> PyResult<Self> {
        enter_detached(py, "MXRecordIO.open", || Ok::<_, PyMxError>(Self(Mutex::new(Some(RecordReader::open(path)?)))))
    }
    /// The next record, or None at the end of the file.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let r = enter_detached(py, "MXRecordIO.read", || {
            self.0.lock().as_mut().ok_or_else(closed)?.read().map_err(PyMxError)
        })?;
        Ok(r.map(|v| PyBytes::new(py, &v)))
    }
    /// Move to a record's byte offset.
    fn seek(&self, py: Python<'_>, pos: u64) -> PyResult<()> {
        enter_detached(py, "MXRecordIO.seek", || {
            self.0.lock().as_mut().ok_or_else(closed)?.seek(pos).map_err(PyMxError)
        })
    }
    /// Offset of the next record.
    fn tell(&self, py: Python<'_>) -> PyResult<u64> {
        enter_detached(py, "MXRecordIO.tell", || Ok::<_, PyMxError>(self.0.lock().as_ref().ok_or_else(closed)?.tell()))
    }
    /// Close the file.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        enter_detached(py, "MXRecordIO.close", || {
            self.0.lock().take();
            Ok::<_, PyMxError>(())
        })
    }
}

/// Writer of a `.rec` file.
#[pyclass(module = "mxrs._native", name = "RecordWriter")]
#[derive(Debug)]
pub struct PyRecordWriter(Mutex<Option<RecordWriter>>);

#[pymethods]
impl PyRecordWriter {
    #[new]
    fn new(py: Python<'_>, path: &str) -> PyResult<Self> {
        enter_detached(py, "MXRecordIO.open", || {
            Ok::<_, PyMxError>(Self(Mutex::new(Some(RecordWriter::create(path)?))))
        })
    }
    /// Append a record; returns its offset.
    fn write(&self, py: Python<'_>, buf: &[u8]) -> PyResult<u64> {
        enter_detached(py, "MXRecordIO.write", || {
            self.0.lock().as_mut().ok_or_else(closed)?.write(buf).map_err(PyMxError)
        })
    }
    /// Offset of the next record.
    fn tell(&self, py: Python<'_>) -> PyResult<u64> {
        enter_detached(py, "MXRecordIO.tell", || Ok::<_, PyMxError>(self.0.lock().as_ref().ok_or_else(closed)?.tell()))
    }
    /// Flush buffered records.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        enter_detached(py, "MXRecordIO.flush", || self.0.lock().as_mut().ok_or_else(closed)?.flush().map_err(PyMxError))
    }
    /// Flush and close the file (a remote file appears now).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        // Finishing uploads a remote file, so a failed upload is raised here.
        enter_detached(py, "MXRecordIO.close", || match self.0.lock().take() {
            Some(mut w) => w.finish().map_err(PyMxError),
            None => Ok(()),
        })
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
) -> PyResult<(Bound<'py, PyBytes>, usize, usize, usize)> {
    let img = enter_detached(py, "imdecode", || {
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
) -> PyResult<Bound<'py, PyBytes>> {
    let out = enter_detached(py, "imencode", || {
        let fmt = Format::from_ext(fmt)?;
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
) -> PyResult<Bound<'py, PyBytes>> {
    let out = enter_detached(py, "imresize", || {
        if h.checked_mul(w).and_then(|n| n.checked_mul(c)) != Some(data.len()) || new_w == 0 || new_h == 0 {
            return Err(Error::msg("imresize: buffer size does not match the shape, or empty target"));
        }
        Ok(image::resize(&Image { h, w, c, data: data.to_vec() }, new_w, new_h).data)
    })?;
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
    ) -> PyResult<Self> {
        let dtype = match dtype {
            "float32" => OutDType::F32,
            "uint8" => OutDType::U8,
            "int8" => OutDType::I8,
            d => {
                let msg = format!("dtype must be float32, uint8 or int8, got {d}");
                return Err(PyMxError(Error::param("ImageRecordIter", msg)).into());
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
        let it = enter_detached(py, "ImageRecordIter", || ImageRecordIter::new(cfg))?;
        Ok(Self { it: Mutex::new(it), data_shape, batch_size, label_width })
    }

    /// The next batch `(data, label, pad, index)`, or None at the end of the epoch.
    #[allow(clippy::type_complexity)]
    fn next(&self, py: Python<'_>) -> PyResult<Option<(PyNDArray, PyNDArray, usize, Vec<u64>)>> {
        enter_detached(py, "ImageRecordIter.next", || {
            let Some(b) = self.it.lock().next_batch()? else {
                return Ok(None);
            };
            let ctx = Context { dev_type: DevType::CpuPinned, dev_id: 0 };
            let [c, h, w] = self.data_shape;
            let data = NDArray::from_cpu(b.data, &[self.batch_size, c, h, w], ctx)?;
            let lshape: Vec<usize> =
                if self.label_width == 1 { vec![self.batch_size] } else { vec![self.batch_size, self.label_width] };
            let label = NDArray::from_cpu(mxrs_ndarray_core::CpuStorage::F32(b.label.into()), &lshape, ctx)?;
            Ok::<_, Error>(Some((PyNDArray(data), PyNDArray(label), b.pad, b.index)))
        })
    }

    /// Start the next epoch.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        enter_detached(py, "ImageRecordIter.reset", || {
            self.it.lock().reset();
            Ok::<_, Error>(())
        })
    }

    /// Number of records this iterator reads per epoch.
    fn num_records(&self, py: Python<'_>) -> PyResult<usize> {
        enter_detached(py, "ImageRecordIter.num_records", || Ok::<_, Error>(self.it.lock().num_records()))
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
