//! Image decode/encode (JPEG and PNG through the `image` crate) and the pixel operations the
//! iterator needs, on interleaved (HWC) `u8` images in RGB(A) order.
//!
//! `resize` follows OpenCV's `INTER_LINEAR` for 8-bit images: pixel centres aligned
//! (`src = (dst + 0.5) * scale - 0.5`), 11-bit fixed-point weights, OpenCV's border handling
//! and the rounding of its vectorised vertical pass, and the 2x2 mean for an exact halving, so
//! results equal `cv2.resize`'s (and MXNet 1.9.1's) in the golden tests.

use std::io::Cursor;
use std::panic::AssertUnwindSafe;

use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader};

use crate::{Error, Result};

/// An interleaved 8-bit image: `h * w * c` bytes, row-major, channels RGB(A) or gray.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Height in pixels.
    pub h: usize,
    /// Width in pixels.
    pub w: usize,
    /// Channels: 1 (gray), 3 (RGB) or 4 (RGBA).
    pub c: usize,
    /// The pixels.
    pub data: Vec<u8>,
}

/// How to decode (OpenCV's `imdecode` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// `-1`: keep gray as 1 channel, colour as 3, alpha as 4.
    Unchanged,
    /// `0`: one gray channel.
    Gray,
    /// `1`: three colour channels.
    Color,
}

impl DecodeMode {
    /// From OpenCV's flag (-1, 0, 1).
    pub fn from_flag(flag: i32) -> Self {
        match flag {
            f if f < 0 => DecodeMode::Unchanged,
            0 => DecodeMode::Gray,
            _ => DecodeMode::Color,
        }
    }
}

fn decode_err(e: impl std::fmt::Display) -> Error {
    Error::msg(format!("cannot decode image: {e}"))
}

/// OpenCV's RGB to gray weights (0.299, 0.587, 0.114) in 14-bit fixed point.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 4899 + g as u32 * 9617 + b as u32 * 1868 + 8192) >> 14) as u8
}

/// Deflate (PNG's compression) expands its input at most 1032 times.
const DEFLATE_MAX_RATIO: u128 = 1032;
/// A Huffman-coded JPEG spends at least one bit on each 8×8 block of a scan's component, so a
/// byte covers at most 512 pixels (doubled here as a margin).
const JPEG_MAX_PIXELS_PER_BYTE: u128 = 1024;
/// A margin on both bounds (4 Ki pixels, 4 KiB of PNG scanlines), which no real file needs.
const SLACK_PIXELS: u128 = 1 << 12;
const SLACK_PNG_BYTES: u128 = 1 << 12;

/// Bits per pixel of a PNG's scanlines, from its IHDR (bit depth × samples per colour type).
fn png_bits_per_pixel(buf: &[u8]) -> u128 {
    let samples = match buf.get(25) {
        Some(2) => 3,
        Some(4) => 2,
        Some(6) => 4,
        _ => 1,
    };
    u128::from(*buf.get(24).unwrap_or(&1)).max(1) * samples
}

/// Refuse an image whose declared size its bytes cannot encode, before the decoder allocates
/// its output: such a file is truncated or forged, and a few bytes must not make a decoder
/// allocate gigabytes.
fn check_size_is_justified(buf: &[u8], format: Option<ImageFormat>, w: u32, h: u32) -> Result<()> {
    let (w, h, len) = (u128::from(w), u128::from(h), buf.len() as u128);
    let fits = match format {
        // Filtered scanlines: a filter byte and ceil(w × bits / 8) bytes per row.
        Some(ImageFormat::Png) => {
            h * (1 + (w * png_bits_per_pixel(buf)).div_ceil(8)) <= DEFLATE_MAX_RATIO * len + SLACK_PNG_BYTES
        }
        _ => w * h <= JPEG_MAX_PIXELS_PER_BYTE * len + SLACK_PIXELS,
    };
    if fits {
        Ok(())
    } else {
        let name = format.map(|f| format!("{f:?}")).unwrap_or_else(|| "image".into());
        Err(decode_err(format!(
            "the {name} header declares {w}x{h} pixels, more than {len} bytes can encode (truncated or corrupt file)"
        )))
    }
}

/// Refuse a PNG palette (PLTE) whose length is not a whole number of RGB entries: png 0.18.1
/// panics on one (image-rs/image-png#694; found by crates/fuzz, target image). Chunks are
/// walked up to the first IDAT, which a palette must precede.
fn check_png_palette(buf: &[u8]) -> Result<()> {
    let mut pos = 8;
    while let Some(head) = buf.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"PLTE" if !len.is_multiple_of(3) => {
                return Err(decode_err(format!("the PNG palette has {len} bytes, not a whole number of RGB entries")));
            }
            b"IDAT" => break,
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    Ok(())
}

/// Decode a JPEG or PNG buffer to RGB(A) or gray.
///
/// The declared size is checked against the buffer's length before anything is allocated (see
/// `check_size_is_justified`), so a short forged header is an error, not a huge allocation. A
/// panic inside a decoder on malformed data is an error too.
pub fn decode(buf: &[u8], mode: DecodeMode) -> Result<Image> {
    let reader = ImageReader::new(Cursor::new(buf)).with_guessed_format().map_err(decode_err)?;
    let format = reader.format();
    if format == Some(ImageFormat::Png) {
        check_png_palette(buf)?;
    }
    // The decoders only read `buf` and build new values, so nothing is left half-changed if
    // one panics.
    let img = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let decoder = reader.into_decoder().map_err(decode_err)?;
        let (w, h) = decoder.dimensions();
        check_size_is_justified(buf, format, w, h)?;
        DynamicImage::from_decoder(decoder).map_err(decode_err)
    }))
    .map_err(|_| decode_err("the decoder failed on malformed data"))??;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let gray_src = matches!(img, DynamicImage::ImageLuma8(_) | DynamicImage::ImageLuma16(_));
    let alpha = img.color().has_alpha();
    let out = match mode {
        DecodeMode::Color => Image { h, w, c: 3, data: img.into_rgb8().into_raw() },
        DecodeMode::Gray if gray_src => Image { h, w, c: 1, data: img.into_luma8().into_raw() },
        DecodeMode::Gray => {
            let rgb = img.into_rgb8().into_raw();
            Image { h, w, c: 1, data: rgb.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect() }
        }
        DecodeMode::Unchanged if alpha => Image { h, w, c: 4, data: img.into_rgba8().into_raw() },
        DecodeMode::Unchanged if gray_src => Image { h, w, c: 1, data: img.into_luma8().into_raw() },
        DecodeMode::Unchanged => Image { h, w, c: 3, data: img.into_rgb8().into_raw() },
    };
    Ok(out)
}

/// Encoding format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JPEG; quality 1..=100.
    Jpeg,
    /// PNG; "quality" is the compression level 0..=9 as in OpenCV.
    Png,
}

impl Format {
    /// From an extension such as `.jpg`, `jpeg` or `.png`.
    pub fn from_ext(ext: &str) -> Result<Self> {
        match ext.trim_start_matches('.').to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Ok(Format::Jpeg),
            "png" => Ok(Format::Png),
            other => Err(Error::msg(format!("unsupported image format '{other}' (use .jpg or .png)"))),
        }
    }
}

/// Encode an RGB(A)/gray image.
pub fn encode(img: &Image, fmt: Format, quality: i32) -> Result<Vec<u8>> {
    let color = match img.c {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        4 => ExtendedColorType::Rgba8,
        c => return Err(Error::msg(format!("cannot encode an image with {c} channels"))),
    };
    if img.data.len() != img.h * img.w * img.c {
        return Err(Error::msg("image buffer size does not match its shape"));
    }
    let mut out = Vec::new();
    let (w, h) = (img.w as u32, img.h as u32);
    let enc_err = |e: image::ImageError| Error::msg(format!("cannot encode image: {e}"));
    match fmt {
        Format::Jpeg => {
            let q = quality.clamp(1, 100) as u8;
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
            if img.c == 4 {
                let rgb: Vec<u8> = img.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
                enc.write_image(&rgb, w, h, ExtendedColorType::Rgb8).map_err(enc_err)?;
            } else {
                enc.write_image(&img.data, w, h, color).map_err(enc_err)?;
            }
        }
        Format::Png => {
            use image::codecs::png::{CompressionType, FilterType, PngEncoder};
            let comp = match quality {
                i32::MIN..=1 => CompressionType::Fast,
                2..=6 => CompressionType::Default,
                _ => CompressionType::Best,
            };
            PngEncoder::new_with_quality(&mut out, comp, FilterType::Adaptive)
                .write_image(&img.data, w, h, color)
                .map_err(enc_err)?;
        }
    }
    Ok(out)
}

impl Image {
    /// Swap the first and third channels (RGB <-> BGR) in place; no-op for gray.
    pub fn swap_rb(&mut self) {
        if self.c >= 3 {
            for p in self.data.chunks_exact_mut(self.c) {
                p.swap(0, 2);
            }
        }
    }
}

/// Source indices and 11-bit weights along one axis, as OpenCV computes them. Along x
/// (`rows == false`) a tap that falls off the image moves onto the edge with weight 1; along y
/// OpenCV keeps the weights and only clamps the row indices (which rounds differently).
fn axis_coeffs(src: usize, dst: usize, rows: bool) -> Vec<(usize, usize, i32, i32)> {
    const ONE: f32 = 2048.0;
    let scale = 1.0 / (dst as f64 / src as f64);
    let last = (src - 1) as i64;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut frac = f - s as f32;
            if !rows && s < 0 {
                s = 0;
                frac = 0.0;
            }
            if !rows && s >= last {
                s = last;
                frac = 0.0;
            }
            let a1 = (frac * ONE).round_ties_even() as i32;
            let a0 = ((1.0 - frac) * ONE).round_ties_even() as i32;
            (s.clamp(0, last) as usize, (s + 1).clamp(0, last) as usize, a0, a1)
        })
        .collect()
}

/// OpenCV's `INTER_AREA` for an exact 2x reduction (what `cv::resize` runs for `INTER_LINEAR`
/// when both sides halve): the rounded mean of each 2x2 block.
fn halve(img: &Image) -> Image {
    let (w, h, c) = (img.w / 2, img.h / 2, img.c);
    let mut data = Vec::with_capacity(w * h * c);
    let px = |y: usize, x: usize, k: usize| u32::from(img.data[(y * img.w + x) * c + k]);
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                let sum = px(2 * y, 2 * x, k)
                    + px(2 * y, 2 * x + 1, k)
                    + px(2 * y + 1, 2 * x, k)
                    + px(2 * y + 1, 2 * x + 1, k);
                data.push(((sum + 2) >> 2) as u8);
            }
        }
    }
    Image { h, w, c, data }
}

/// Bilinear resize to `new_w` x `new_h` as OpenCV's `cv::resize` with `INTER_LINEAR` on 8-bit
/// images (its weights, border handling and vectorised rounding).
pub fn resize(img: &Image, new_w: usize, new_h: usize) -> Image {
    if new_w == img.w && new_h == img.h {
        return img.clone();
    }
    if new_w * 2 == img.w && new_h * 2 == img.h {
        return halve(img);
    }
    let c = img.c;
    let xs = axis_coeffs(img.w, new_w, false);
    let ys = axis_coeffs(img.h, new_h, true);
    // Horizontal pass on the source rows that are used, cached by source row.
    let row_len = new_w * c;
    let hrow = |sy: usize, out: &mut [i32]| {
        let src = &img.data[sy * img.w * c..(sy + 1) * img.w * c];
        for (o, &(s0, s1, a0, a1)) in out.chunks_exact_mut(c).zip(&xs) {
            let (p0, p1) = (&src[s0 * c..s0 * c + c], &src[s1 * c..s1 * c + c]);
            for ((o, &v0), &v1) in o.iter_mut().zip(p0).zip(p1) {
                *o = v0 as i32 * a0 + v1 as i32 * a1;
            }
        }
    };
    let mut data = vec![0u8; new_h * row_len];
    let (mut r0, mut r1) = (vec![0i32; row_len], vec![0i32; row_len]);
    let (mut have0, mut have1) = (usize::MAX, usize::MAX);
    for (dy, &(s0, s1, b0, b1)) in ys.iter().enumerate() {
        if have0 != s0 {
            if have1 == s0 {
                std::mem::swap(&mut r0, &mut r1);
                have1 = usize::MAX;
            } else {
                hrow(s0, &mut r0);
            }
            have0 = s0;
        }
        if have1 != s1 {
            hrow(s1, &mut r1);
            have1 = s1;
        }
        let out = &mut data[dy * row_len..(dy + 1) * row_len];
        for ((o, &v0), &v1) in out.iter_mut().zip(&r0).zip(&r1) {
            // OpenCV's SIMD rounding: ((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16), then (+2) >> 2.
            let v = ((b0 * (v0 >> 4)) >> 16) + ((b1 * (v1 >> 4)) >> 16);
            *o = ((v + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    Image { h: new_h, w: new_w, c, data }
}

/// The size after resizing the shorter edge to `short` (the other edge scales with integer
/// division, as MXNet does): `(new_w, new_h)`.
pub fn shorter_edge_size(w: usize, h: usize, short: usize) -> (usize, usize) {
    if h > w { (short, h * short / w) } else { (w * short / h, short) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures' synthetic image 0 in RGB: R = 3x + 5y, G = 40y, B = 30x (6 x 8).
    fn synth(i: usize) -> Image {
        let (h, w) = (6, 8);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.push(((80 * i + 3 * x + 5 * y) % 256) as u8);
                data.push(((40 * y + 11 * i) % 256) as u8);
                data.push(((30 * x + 7 * i) % 256) as u8);
            }
        }
        Image { h, w, c: 3, data }
    }

    #[test]
    fn resize_matches_opencv_on_the_fixture() {
        // cv2.resize(img, (4, 3)) R channel of image 0 (from imagerecorditer_expected C_data).
        let r = resize(&synth(0), 4, 3);
        let red: Vec<u8> = r.data.chunks_exact(3).map(|p| p[0]).collect();
        assert_eq!(red, vec![4, 10, 16, 22, 14, 20, 26, 32, 24, 30, 36, 42]);
    }

    #[test]
    fn resize_identity_and_upscale_edges() {
        let img = synth(1);
        assert_eq!(resize(&img, 8, 6), img);
        let up = resize(&img, 16, 12);
        assert_eq!((up.w, up.h, up.data.len()), (16, 12, 16 * 12 * 3));
        // Corners replicate the border pixels.
        assert_eq!(&up.data[..3], &img.data[..3]);
        assert_eq!(shorter_edge_size(8, 6, 3), (4, 3));
        assert_eq!(shorter_edge_size(6, 8, 3), (3, 4));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// A forged header must not make the decoder allocate for the size it declares: a few
    /// hundred bytes cannot encode 30000x30000 pixels (checked by crates/fuzz, target image).
    #[test]
    fn forged_dimensions_are_errors_before_allocating() {
        let img = synth(0);
        let mut png = encode(&img, Format::Png, 3).unwrap();
        // IHDR body at 16..29: width, height (big-endian), then its CRC.
        png[16..20].copy_from_slice(&30000u32.to_be_bytes());
        png[20..24].copy_from_slice(&30000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = decode(&png, DecodeMode::Color).unwrap_err().to_string();
        assert!(e.contains("declares 30000x30000 pixels, more than"), "{e}");

        let mut jpg = encode(&img, Format::Jpeg, 90).unwrap();
        let sof = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        let e = decode(&jpg, DecodeMode::Color).unwrap_err().to_string();
        assert!(e.contains("declares 65535x65535 pixels"), "{e}");

        // The bounds leave real images alone: 1-bit-like content compresses ~1000x in a PNG.
        let flat = Image { h: 600, w: 800, c: 1, data: vec![7; 600 * 800] };
        let png = encode(&flat, Format::Png, 9).unwrap();
        assert!(png.len() < 2000, "{}", png.len());
        assert_eq!(decode(&png, DecodeMode::Gray).unwrap(), flat);
    }

    /// Found by crates/fuzz (target image): a palette PNG whose PLTE chunk claims 26 bytes made
    /// png 0.18.1 panic (slice index out of range in its palette expansion).
    #[test]
    fn palette_of_partial_entries_is_an_error() {
        const PNG: &[u8] = &[
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
            0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x02, 0x03, 0x00, 0x00, 0x00, 0x02, 0xc6, 0x95, 0xf0, 0x00, 0x00, 0x00,
            0x1a, 0x50, 0x4c, 0x54, 0x45, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x13, 0x08, 0x09, 0x0a, 0x0b, 0xdc,
            0x4c, 0x38, 0x9c, 0x00, 0x00, 0x00, 0x02, 0x74, 0x52, 0x4e, 0x53, 0x00, 0x80, 0x5c, 0x17, 0xf3, 0x3a, 0x52,
            0x4e, 0x53, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x90, 0x66, 0x78, 0x02, 0x00, 0x01, 0x39, 0x01,
            0x00, 0x7b, 0x99, 0x42, 0x37, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
        ];
        for mode in [DecodeMode::Color, DecodeMode::Gray, DecodeMode::Unchanged] {
            let e = decode(PNG, mode).unwrap_err().to_string();
            assert!(e.contains("palette has 26 bytes"), "{e}");
        }
    }

    #[test]
    fn png_round_trip_is_exact_and_jpeg_close() {
        let img = synth(2);
        let png = encode(&img, Format::Png, 3).unwrap();
        assert_eq!(decode(&png, DecodeMode::Color).unwrap(), img);
        assert_eq!(decode(&png, DecodeMode::Unchanged).unwrap().c, 3);
        let g = decode(&png, DecodeMode::Gray).unwrap();
        assert_eq!((g.c, g.data[0]), (1, luma(img.data[0], img.data[1], img.data[2])));
        let jpg = encode(&img, Format::Jpeg, 95).unwrap();
        let back = decode(&jpg, DecodeMode::Color).unwrap();
        let max = back.data.iter().zip(&img.data).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(max < 40, "{max}");
        assert!(decode(b"not an image", DecodeMode::Color).is_err());
        assert!(Format::from_ext(".bmp").is_err());
    }
}
