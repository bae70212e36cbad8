//! Byte-level mutations, in the style of AFL/libFuzzer's havoc stage: bit and byte flips,
//! interesting integers (above all in length fields), arithmetic, inserting, deleting,
//! duplicating and overwriting ranges, dictionary tokens and splicing two inputs.

use crate::rng::Rng;

/// Values that break size arithmetic: 0, 1, powers of two and their neighbours, the signed and
/// unsigned limits of each width, and RecordIO's 29-bit length limit.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    31,
    32,
    33,
    63,
    64,
    127,
    128,
    255,
    256,
    1023,
    1024,
    4096,
    32767,
    32768,
    65535,
    65536,
    1 << 20,
    (1 << 29) - 1,
    1 << 29,
    1 << 30,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    1 << 32,
    1 << 40,
    1 << 48,
    0x7FFF_FFFF_FFFF_FFFF,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

/// Write the low `width` bytes of `v` at `at` (little-endian, or big-endian when `be`).
fn put_int(data: &mut [u8], at: usize, width: usize, v: u64, be: bool) {
    let le = v.to_le_bytes();
    for k in 0..width {
        data[at + k] = if be { le[width - 1 - k] } else { le[k] };
    }
}

fn get_int(data: &[u8], at: usize, width: usize, be: bool) -> u64 {
    (0..width).fold(0u64, |acc, k| {
        let byte = if be { data[at + width - 1 - k] } else { data[at + k] };
        acc | u64::from(byte) << (8 * k)
    })
}

/// A random offset for a `width`-byte integer, aligned to `width` half of the time; None when
/// the input is shorter than `width`.
fn int_offset(rng: &mut Rng, len: usize, width: usize) -> Option<usize> {
    if len < width {
        return None;
    }
    let at = rng.below(len - width + 1);
    Some(if rng.one_in(2) { at - at % width } else { at })
}

fn random_range(rng: &mut Rng, len: usize, max: usize) -> (usize, usize) {
    let n = 1 + rng.below(len.min(max));
    let start = rng.below(len - n + 1);
    (start, n)
}

/// One integer mutation: an interesting value (or its negation), a guessed length (what
/// remains after the field, plus or minus a little), or a small addition to the value there.
fn mutate_int(rng: &mut Rng, data: &mut [u8]) {
    let width = *rng.pick(&[1usize, 2, 4, 4, 8, 8]);
    let Some(at) = int_offset(rng, data.len(), width) else { return };
    let be = rng.one_in(8);
    let old = get_int(data, at, width, be);
    let v = match rng.below(4) {
        0 | 1 => {
            let v = *rng.pick(INTERESTING);
            if rng.one_in(4) { v.wrapping_neg() } else { v }
        }
        2 => {
            let rest = (data.len() - at - width) as u64;
            rest.wrapping_add(rng.below(9) as u64).wrapping_sub(4)
        }
        _ => {
            let d = 1 + rng.below(35) as u64;
            if rng.one_in(2) { old.wrapping_add(d) } else { old.wrapping_sub(d) }
        }
    };
    put_int(data, at, width, v, be);
}

/// Apply one, two or four stacked mutations to `data`; `other` is a second corpus input to splice
/// with, `dict` the target's tokens (magic numbers, markers, keywords). The result is at most
/// `max_len` bytes.
pub fn havoc(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], dict: &[&[u8]], max_len: usize) {
    let rounds = 1 << rng.below(3);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(12) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let d = 1 + rng.below(16) as u8;
                data[i] = if rng.one_in(2) { data[i].wrapping_add(d) } else { data[i].wrapping_sub(d) };
            }
            3 | 4 => mutate_int(rng, data),
            5 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let fill: Vec<u8> = if rng.one_in(2) {
                    vec![rng.next_u64() as u8; n]
                } else {
                    (0..n).map(|_| rng.next_u64() as u8).collect()
                };
                data.splice(at..at, fill);
            }
            6 if len > 0 => {
                let (start, n) = random_range(rng, len, 64);
                data.drain(start..start + n);
            }
            7 if len > 0 => {
                let (start, n) = random_range(rng, len, 256);
                let piece = data[start..start + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, piece);
            }
            8 if len > 1 => {
                let (start, n) = random_range(rng, len, 64);
                let to = rng.below(len - n + 1);
                data.copy_within(start..start + n, to);
            }
            9 if !dict.is_empty() => {
                let tok = *rng.pick(dict);
                let at = rng.below(len + 1);
                if rng.one_in(2) || at + tok.len() > len {
                    data.splice(at..at, tok.iter().copied());
                } else {
                    data[at..at + tok.len()].copy_from_slice(tok);
                }
            }
            10 if !other.is_empty() => {
                // Splice: our head, the other input's tail.
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            11 if len > 0 => {
                data.truncate(rng.below(len));
            }
            _ => mutate_int(rng, data),
        }
        data.truncate(max_len);
    }
}

/// CRC-32 (IEEE, as PNG uses it), bitwise: inputs are small.
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

/// Recompute the CRC of every whole chunk of a PNG, so mutations of the header and chunk
/// bodies reach the decoder instead of stopping at the checksum. Other inputs are untouched.
pub fn fix_png_crcs(data: &mut [u8]) {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !data.starts_with(SIGNATURE) {
        return;
    }
    let mut pos = SIGNATURE.len();
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let Some(end) = pos.checked_add(8).and_then(|p| p.checked_add(len)).filter(|&e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crc32(&data[pos + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end + 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn havoc_respects_max_len_and_changes_inputs() {
        let mut rng = Rng::new(1);
        let seed: Vec<u8> = (0..100).collect();
        let mut changed = 0;
        for _ in 0..500 {
            let mut d = seed.clone();
            havoc(&mut rng, &mut d, &seed[..50], &[b"TOKEN"], 120);
            assert!(d.len() <= 120);
            changed += usize::from(d != seed);
        }
        assert!(changed > 450, "{changed}");
    }

    #[test]
    fn png_crcs_are_recomputed() {
        // IEND's CRC is the CRC of the bytes "IEND".
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0".to_vec();
        fix_png_crcs(&mut png);
        assert_eq!(&png[16..], &[0xAE, 0x42, 0x60, 0x82]);
        let mut not_png = b"IEND\0\0\0\0".to_vec();
        fix_png_crcs(&mut not_png);
        assert_eq!(not_png, b"IEND\0\0\0\0");
    }
}
