//! The `IRHeader` prefix of image records (Python struct `'IfQQ'`, 24 bytes, little-endian),
//! followed by `flag` float32 labels when `flag > 0`, then the encoded image.

use crate::{Error, Result};

/// Size of the fixed header in bytes.
pub const HEADER_SIZE: usize = 24;

/// The fixed part of an image record header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IRHeader {
    /// 0: one scalar label in `label`; n > 0: n float32 labels follow the header.
    pub flag: u32,
    /// The scalar label (0 when `flag > 0`).
    pub label: f32,
    /// Image id.
    pub id: u64,
    /// Second id (reserved).
    pub id2: u64,
}

/// Split a record into header, labels (one value when `flag == 0`) and payload.
pub fn unpack(buf: &[u8]) -> Result<(IRHeader, Vec<f32>, &[u8])> {
    if buf.len() < HEADER_SIZE {
        return Err(Error::msg(format!("image record of {} bytes is shorter than its 24-byte header", buf.len())));
    }
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
    let h = IRHeader { flag: u32_at(0), label: f32::from_bits(u32_at(4)), id: u64_at(8), id2: u64_at(16) };
    if h.flag == 0 {
        return Ok((h, vec![h.label], &buf[HEADER_SIZE..]));
    }
    let end = HEADER_SIZE + 4 * h.flag as usize;
    if buf.len() < end {
        return Err(Error::msg(format!(
            "image record header announces {} labels but the record has {} bytes",
            h.flag,
            buf.len()
        )));
    }
    let labels =
        buf[HEADER_SIZE..end].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
    Ok((h, labels, &buf[end..]))
}

/// Build a record: header, then `labels` when there are several (flag = their count), then
/// `payload`. With exactly one label and `vector == false`, it goes in the header (flag 0).
pub fn pack(id: u64, id2: u64, labels: &[f32], vector: bool, payload: &[u8]) -> Vec<u8> {
    let scalar = !vector && labels.len() == 1;
    let mut out = Vec::with_capacity(HEADER_SIZE + 4 * labels.len() + payload.len());
    out.extend_from_slice(&(if scalar { 0 } else { labels.len() as u32 }).to_le_bytes());
    out.extend_from_slice(&(if scalar { labels[0] } else { 0.0 }).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&id2.to_le_bytes());
    if !scalar {
        for l in labels {
            out.extend_from_slice(&l.to_le_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_scalar_and_vector() {
        let r = pack(7, 0, &[2.5], false, b"img");
        assert_eq!(r.len(), 27);
        let (h, l, p) = unpack(&r).unwrap();
        assert_eq!((h.flag, h.label, h.id, l, p), (0, 2.5, 7, vec![2.5], &b"img"[..]));
        let r = pack(1, 0, &[0.5, 1.5, -1.0], true, b"x");
        assert_eq!(&r[..8], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[24..28], &[0, 0, 0, 0x3f]);
        let (h, l, p) = unpack(&r).unwrap();
        assert_eq!((h.flag, l, p), (3, vec![0.5, 1.5, -1.0], &b"x"[..]));
        assert!(unpack(&r[..30]).is_err());
        assert!(unpack(&r[..10]).is_err());
    }
}
