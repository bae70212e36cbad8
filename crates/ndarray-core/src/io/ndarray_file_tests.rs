//! Tests of the NDArray file format: every fixture written by real MXNet, byte-exact round
//! trips, and hostile input.

use super::*;
use std::path::PathBuf;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/mxnet_fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: fixtures folder {} is missing; skipping", dir.display());
        None
    }
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = fixtures_dir()?;
    Some(std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn f32s(a: &RawArray) -> Vec<f32> {
    assert_eq!(a.dtype, DType::F32);
    a.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn i64s(a: &RawArray) -> Vec<i64> {
    assert_eq!(a.dtype, DType::I64);
    a.data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn load_dict(name: &str) -> Option<Vec<(String, RawArray)>> {
    let bytes = fixture(name)?;
    let (arrays, names) = read_list(&bytes, name).unwrap();
    assert_eq!(names.len(), arrays.len(), "{name} is a dict save");
    Some(names.into_iter().zip(arrays).collect())
}

fn get<'a>(d: &'a [(String, RawArray)], key: &str) -> &'a RawArray {
    &d.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no key {key}")).1
}

fn check_f32(d: &[(String, RawArray)], key: &str, shape: &[usize], want: &[f32]) {
    let a = get(d, key);
    assert_eq!(a.shape, shape, "{key}");
    assert_eq!(f32s(a), want, "{key}");
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{what}: got {got:?}, want {want:?}");
    }
}

fn write_to_vec(arrays: &[ArrayRef<'_>], names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    write_list(&mut out, arrays, names).unwrap();
    out
}

fn rewrite(arrays: &[RawArray], names: &[String]) -> Vec<u8> {
    let refs: Vec<_> = arrays.iter().map(RawArray::as_array_ref).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    write_to_vec(&refs, &names)
}

fn assert_format_err<T: fmt::Debug>(r: Result<T>, needle: &str) {
    match r {
        Err(Error::Format { msg, .. }) => {
            assert!(msg.contains("at byte"), "no offset in {msg:?}");
            assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
        }
        other => panic!("expected a format error mentioning {needle:?}, got {other:?}"),
    }
}

// ------------------------------------------------------------------ fixtures

#[test]
fn nd_dict_and_list_values_and_byte_exact_round_trip() {
    let (Some(dict), Some(list)) = (fixture("nd_dict.params"), fixture("nd_list.params")) else {
        return;
    };
    assert_eq!((dict.len(), list.len()), (170, 152));
    let (arrays, names) = read_list(&dict, "nd_dict.params").unwrap();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(arrays[0].shape, [2, 3]);
    assert_eq!(f32s(&arrays[0]), [2.0; 6]);
    assert_eq!(arrays[1].shape, [3]);
    assert_eq!(i64s(&arrays[1]), [0, 1, 2]);
    assert_eq!(rewrite(&arrays, &names), dict);

    let (larrays, lnames) = read_list(&list, "nd_list.params").unwrap();
    assert!(lnames.is_empty());
    assert_eq!(larrays, arrays);
    assert_eq!(rewrite(&larrays, &[]), list);
}

#[test]
fn nd_single_and_empty() {
    let (Some(single), Some(empty)) = (fixture("nd_single.params"), fixture("nd_empty.params")) else {
        return;
    };
    let (arrays, names) = read_list(&single, "nd_single.params").unwrap();
    assert!(names.is_empty());
    assert_eq!(arrays.len(), 1);
    assert_eq!(arrays[0].shape, [2, 2]);
    assert_eq!(f32s(&arrays[0]), [1.5, -2.0, 0.25, 3.0]);
    assert_eq!(rewrite(&arrays, &names), single);

    assert_eq!(empty.len(), 32);
    let (arrays, names) = read_list(&empty, "nd_empty.params").unwrap();
    assert!(arrays.is_empty() && names.is_empty());
    assert_eq!(write_to_vec(&[], &[]), empty);
}

#[test]
fn nd_dtypes_values() {
    let Some(bytes) = fixture("nd_dtypes.params") else { return };
    // Parse below the DType mapping so every value is checked, bfloat16 included.
    let (recs, names) = parse_list(&bytes, "nd_dtypes.params", MAX_DENSIFIED_BYTES).unwrap();
    let keys = ["f32", "f64", "f16", "u8", "i32", "i8", "i64", "bool", "bf16", "f32_2x2x2"];
    assert_eq!(names, keys);
    let flags: Vec<i32> = recs.iter().map(|r| r.flag).collect();
    assert_eq!(flags, [0, 1, 2, 3, 4, 5, 6, 7, 12, 0]);
    for r in &recs[..9] {
        assert_eq!(r.shape, [3]);
    }
    assert_eq!(recs[9].shape, [2, 2, 2]);
    let words = |r: &Record, n: usize| -> Vec<Vec<u8>> { r.data.chunks_exact(n).map(<[u8]>::to_vec).collect() };
    assert_eq!(recs[0].data, f32_bytes(&[1.0, -2.5, 3.140625]));
    let f64s: Vec<u8> = [1.0f64, -2.5, 1e-300].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(recs[1].data, f64s);
    let f16s: Vec<u8> = [1.0f32, -2.5, 65504.0].iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
    assert_eq!(recs[2].data, f16s);
    assert_eq!(recs[3].data, [0, 1, 255]);
    let i32s: Vec<u8> = [-1i32, 0, i32::MAX].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(recs[4].data, i32s);
    assert_eq!(recs[5].data, [0x80, 0, 127]);
    let i64b: Vec<u8> = [-1i64, 0, 1 << 40].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(recs[6].data, i64b);
    assert_eq!(recs[7].data, [1, 0, 1]);
    let bf16: Vec<u16> = words(&recs[8], 2).iter().map(|w| u16::from_le_bytes([w[0], w[1]])).collect();
    assert_eq!(bf16, [16256, 49184, 16457]);
    assert_eq!(recs[9].data, f32_bytes(&[0., 1., 2., 3., 4., 5., 6., 7.]));

    // The public reader maps flags to DType: bfloat16 works once DType has it, and until
    // then the error names the array and the flag.
    match DType::from_flag(12) {
        Ok(_) => {
            let (arrays, names) = read_list(&bytes, "nd_dtypes.params").unwrap();
            assert_eq!(rewrite(&arrays, &names), bytes);
        }
        Err(_) => assert_format_err(read_list(&bytes, "nd_dtypes.params"), "array 8"),
    }
}

#[test]
fn nd_sparse_densified() {
    let Some(d) = load_dict("nd_sparse.params") else { return };
    assert_eq!(d[0].0, "rsp");
    assert_eq!(d[1].0, "csr");
    check_f32(&d, "rsp", &[4, 2], &[0., 0., 1., 2., 0., 0., 3., 4.]);
    check_f32(&d, "csr", &[3, 3], &[5., 0., 6., 0., 0., 0., 0., 7., 0.]);
}

#[test]
fn nd_npshape_v3_round_trip() {
    let Some(bytes) = fixture("nd_npshape_v3.params") else { return };
    assert_eq!(bytes.len(), 100);
    let (arrays, names) = read_list(&bytes, "nd_npshape_v3.params").unwrap();
    assert!(names.is_empty());
    assert_eq!(arrays.len(), 2);
    assert_eq!(arrays[0].shape, Vec::<usize>::new());
    assert_eq!(f32s(&arrays[0]), [5.0]);
    assert_eq!(arrays[1].shape, [2, 0]);
    assert_eq!(arrays[1].dtype, DType::F32);
    assert!(arrays[1].data.is_empty());
    assert_eq!(rewrite(&arrays, &names), bytes);
}

#[test]
fn nd_rawbytes_record() {
    let Some(bytes) = fixture("nd_rawbytes.bin") else { return };
    assert_eq!(bytes.len(), 56);
    let a = read_record(&bytes, "nd_rawbytes.bin").unwrap();
    assert_eq!(a.shape, [2, 2]);
    assert_eq!(f32s(&a), [1., 2., 3., 4.]);
    let mut out = Vec::new();
    write_record(&mut out, &a.as_array_ref()).unwrap();
    assert_eq!(out, bytes);
    // A record is not a list file, and a list file is not a record.
    assert_format_err(read_list(&bytes, "nd_rawbytes.bin"), "list magic");
    for n in 0..bytes.len() {
        assert_format_err(read_record(&bytes[..n], "cut"), "truncated");
    }
}

#[test]
fn checkpoint_and_gluon_files() {
    let Some(d) = load_dict("ckpt-0001.params") else { return };
    let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "arg:fc1_weight",
            "arg:fc1_bias",
            "arg:bn1_gamma",
            "arg:bn1_beta",
            "arg:fc2_weight",
            "arg:fc2_bias",
            "aux:bn1_moving_mean",
            "aux:bn1_moving_var"
        ]
    );
    let w = f32s(get(&d, "arg:fc1_weight"));
    let want: Vec<f32> = (0..12).map(|i| i as f32 / 10.0 - 0.5).collect();
    assert_eq!(get(&d, "arg:fc1_weight").shape, [4, 3]);
    assert_close(&w, &want, 1e-6, "arg:fc1_weight");
    check_f32(&d, "arg:fc1_bias", &[4], &[0.1, -0.1, 0.2, -0.2]);
    check_f32(&d, "arg:bn1_gamma", &[4], &[1., 0.5, 2., 1.5]);
    check_f32(&d, "arg:bn1_beta", &[4], &[0., 0.1, -0.1, 0.2]);
    check_f32(&d, "arg:fc2_weight", &[2, 4], &[1., -1., 0.5, 0.25, -0.5, 0.75, 1., -1.]);
    check_f32(&d, "arg:fc2_bias", &[2], &[0.05, -0.05]);
    check_f32(&d, "aux:bn1_moving_mean", &[4], &[0.1, 0.2, -0.3, 0.]);
    check_f32(&d, "aux:bn1_moving_var", &[4], &[1., 0.5, 2., 0.25]);
    let bytes = fixture("ckpt-0001.params").unwrap();
    let (arrays, names) = read_list(&bytes, "ckpt").unwrap();
    assert_eq!(rewrite(&arrays, &names), bytes);

    let Some(e) = load_dict("ckpt_expected.params") else { return };
    check_f32(&e, "data", &[2, 3], &[1., 2., 3., -1., 0.5, 0.]);
    check_f32(&e, "label", &[2], &[1., 0.]);
    let approx = [
        ("prob_inference", vec![0.999966, 3.4e-05, 0.561268, 0.438732]),
        ("prob_train", vec![0.781714, 0.218286, 0.635352, 0.364648]),
        ("bn1_moving_mean_after_train_fwd", vec![0.005, 0.1575, -0.18, 0.1325]),
        ("bn1_moving_var_after_train_fwd", vec![1.05625, 0.457562, 1.849, 0.505562]),
    ];
    for (k, want) in approx {
        assert_close(&f32s(get(&e, k)), &want, 2e-6, k);
    }
    for (k, p) in &d {
        if let Some(name) = k.strip_prefix("arg:") {
            assert_eq!(get(&e, &format!("grad:{name}")).shape, p.shape, "grad:{name}");
        }
    }

    let Some(g) = load_dict("gluon_save_parameters.params") else { return };
    let keys: Vec<&str> = g.iter().map(|(k, _)| k.as_str()).collect();
    let gk = ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean", "1.running_var"];
    assert_eq!(keys, gk);
    let Some(x) = load_dict("gluon_export-0000.params") else { return };
    let xk = [
        "arg:net_dense0_weight",
        "arg:net_dense0_bias",
        "arg:net_batchnorm0_gamma",
        "arg:net_batchnorm0_beta",
        "aux:net_batchnorm0_running_mean",
        "aux:net_batchnorm0_running_var",
    ];
    let values: [(&[usize], &[f32]); 6] = [
        (&[2, 3], &[0.5; 6]),
        (&[2], &[0., 0.]),
        (&[2], &[1., 1.]),
        (&[2], &[0., 0.]),
        (&[2], &[0., 0.]),
        (&[2], &[1., 1.]),
    ];
    for ((k, key), (shape, want)) in gk.iter().zip(xk).zip(values) {
        check_f32(&g, k, shape, want);
        check_f32(&x, key, shape, want);
    }
}

#[test]
fn image_iter_expected_and_source_pixels() {
    let Some(src) = load_dict("img3_source_pixels.params") else { return };
    let bgr = get(&src, "bgr_hwc");
    let rgb = get(&src, "rgb_chw");
    assert_eq!((bgr.dtype, bgr.shape.as_slice()), (DType::U8, &[3, 6, 8, 3][..]));
    assert_eq!((rgb.dtype, rgb.shape.as_slice()), (DType::U8, &[3, 3, 6, 8][..]));
    let pixel = |i: usize, y: usize, x: usize| -> [u8; 3] {
        // [R, G, B] as the README's generating formula says.
        [((80 * i + 3 * x + 5 * y) % 256) as u8, ((40 * y + 11 * i) % 256) as u8, ((30 * x + 7 * i) % 256) as u8]
    };
    for i in 0..3 {
        for y in 0..6 {
            for x in 0..8 {
                let p = pixel(i, y, x);
                for c in 0..3 {
                    assert_eq!(bgr.data[((i * 6 + y) * 8 + x) * 3 + c], p[2 - c]);
                    assert_eq!(rgb.data[((i * 3 + c) * 6 + y) * 8 + x], p[c]);
                }
            }
        }
    }

    // These records carry dev_type 3 (cpu_pinned).
    let Some(bytes) = fixture("imagerecorditer_expected.params") else { return };
    let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    // First record: list header (24), magic, stype, ndim at 32, dims, then dev_type.
    let ndim = word(32) as usize;
    assert_eq!(word(36 + 8 * ndim), 3);
    let Some(d) = load_dict("imagerecorditer_expected.params") else { return };
    let a = get(&d, "A_data");
    assert_eq!(a.shape, [3, 3, 4, 6]);
    let (mean, std) = ([10.0f32, 20.0, 30.0], [2.0f32, 4.0, 8.0]);
    let mut want = Vec::new();
    for i in 0..3 {
        for c in 0..3 {
            for y in 1..5 {
                for x in 1..7 {
                    want.push((f32::from(pixel(i, y, x)[c]) - mean[c]) * 0.5 / std[c]);
                }
            }
        }
    }
    assert_close(&f32s(a), &want, 1e-6, "A_data");
    assert_close(&f32s(a)[..6], &[-0.5, 0.25, 1.0, 1.75, 2.5, 3.25], 1e-6, "A_data[0,0,0]");
    check_f32(&d, "A_label", &[3], &[0., 1., 2.]);
    let c = get(&d, "C_data");
    assert_eq!(c.shape, [3, 3, 3, 4]);
    let c00 = [4., 10., 16., 22., 14., 20., 26., 32., 24., 30., 36., 42.];
    assert_eq!(f32s(c)[..12], c00);
    check_f32(&d, "D_label", &[2, 3], &[0.5, 1.5, -1., 1.5, 2.5, -1.]);
    assert_eq!(get(&d, "F_data").shape, [3, 3, 6, 8]);
}

/// Every `.params` fixture loads, and writing it back gives a file that loads identically.
#[test]
fn every_params_fixture_loads() {
    let Some(dir) = fixtures_dir() else { return };
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "params") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let (arrays, names) = match read_list(&bytes, &name) {
            Ok(x) => x,
            // bfloat16 is checked in nd_dtypes_values.
            Err(e) if name == "nd_dtypes.params" && DType::from_flag(12).is_err() => {
                assert!(e.to_string().contains("bfloat16"), "{e}");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let again = rewrite(&arrays, &names);
        assert_eq!(read_list(&again, &name).unwrap(), (arrays, names), "{name}");
        count += 1;
    }
    assert!(count >= 12, "only {count} .params fixtures found");
}

// ------------------------------------------------------------------ synthetic records

/// A record writer for tests, for layouts `write_record` never produces.
struct Rec(Vec<u8>);
impl Rec {
    fn new() -> Self {
        Rec(Vec::new())
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn shape(mut self, dims: &[i64]) -> Self {
        self = self.i32(dims.len() as i32);
        for d in dims {
            self.0.extend_from_slice(&d.to_le_bytes());
        }
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

fn list_of(records: &[&[u8]], names: &[&str]) -> Vec<u8> {
    let mut f = Rec::new().u64(LIST_MAGIC).u64(0).u64(records.len() as u64);
    for r in records {
        f = f.bytes(r);
    }
    f = f.u64(names.len() as u64);
    for n in names {
        f = f.u64(n.len() as u64).bytes(n.as_bytes());
    }
    f.0
}

fn v2_header(dims: &[i64], flag: i32) -> Rec {
    Rec::new().u32(V2_MAGIC).i32(0).shape(dims).i32(1).i32(0).i32(flag)
}

/// A file using every record kind the reader knows, for the fuzz loops.
fn corpus() -> Vec<u8> {
    let a = f32_bytes(&[1., 2., 3., 4., 5., 6.]);
    let scalar = f32_bytes(&[7.0]);
    let mut v2 = Vec::new();
    write_record(&mut v2, &ArrayRef { dtype: DType::F32, shape: &[2, 3], data: &a }).unwrap();
    let mut v3 = Vec::new();
    let s = ArrayRef { dtype: DType::F32, shape: &[], data: &scalar };
    write_record(&mut v3, &s).unwrap();
    let v1 = Rec::new().u32(V1_MAGIC).shape(&[2]).i32(2).i32(1).i32(4).bytes(&[9; 8]).0;
    let legacy = Rec::new().u32(2).u32(1).u32(2).i32(1).i32(0).i32(3).bytes(&[5, 6]).0;
    let rsp = Rec::new()
        .u32(V2_MAGIC)
        .i32(1)
        .shape(&[1, 2])
        .shape(&[3, 2])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(6)
        .shape(&[1])
        .bytes(&f32_bytes(&[1., 2.]))
        .bytes(&2i64.to_le_bytes())
        .0;
    let csr = Rec::new()
        .u32(V2_MAGIC)
        .i32(2)
        .shape(&[2])
        .shape(&[2, 3])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(4)
        .shape(&[3])
        .i32(4)
        .shape(&[2])
        .bytes(&f32_bytes(&[8., 9.]))
        .bytes(&[0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
        .bytes(&[2, 0, 0, 0, 0, 0, 0, 0])
        .0;
    list_of(&[&v2, &v3, &v1, &legacy, &rsp, &csr], &["a", "s", "v1", "leg", "rsp", "csr"])
}

#[test]
fn all_record_versions_and_sparse_kinds() {
    let bytes = corpus();
    let (arrays, names) = read_list(&bytes, "corpus").unwrap();
    assert_eq!(names, ["a", "s", "v1", "leg", "rsp", "csr"]);
    assert_eq!(f32s(&arrays[0]), [1., 2., 3., 4., 5., 6.]);
    assert_eq!((arrays[1].shape.len(), f32s(&arrays[1])), (0, vec![7.0]));
    assert_eq!((arrays[2].dtype, &arrays[2].shape[..]), (DType::I32, &[2][..]));
    assert_eq!(arrays[2].data, [9; 8]);
    assert_eq!((arrays[3].dtype, &arrays[3].shape[..]), (DType::U8, &[1, 2][..]));
    assert_eq!(arrays[3].data, [5, 6]);
    assert_eq!(arrays[4].shape, [3, 2]);
    assert_eq!(f32s(&arrays[4]), [0., 0., 0., 0., 1., 2.]);
    assert_eq!(arrays[5].shape, [2, 3]);
    assert_eq!(f32s(&arrays[5]), [0., 0., 8., 9., 0., 0.]);
}

#[test]
fn none_arrays_and_zero_size_writes() {
    // Legacy ndim 0 (pre-V1 and V2): a "none" array that ends after its shape.
    let legacy = Rec::new().u32(0).0;
    let v2 = Rec::new().u32(V2_MAGIC).i32(0).shape(&[]).0;
    let v1 = Rec::new().u32(V1_MAGIC).shape(&[3, 0]).0;
    let f = list_of(&[&legacy, &v2, &v1], &[]);
    let (arrays, _) = read_list(&f, "none").unwrap();
    assert_eq!(arrays[0], RawArray { dtype: DType::F32, shape: vec![0], data: vec![] });
    assert_eq!(arrays[1], arrays[0]);
    assert_eq!(arrays[2].shape, [3, 0]);
    // Writing zero-size arrays uses V3.
    let mut out = Vec::new();
    write_record(&mut out, &ArrayRef { dtype: DType::I64, shape: &[0], data: &[] }).unwrap();
    assert_eq!(out[..4], V3_MAGIC.to_le_bytes());
    let back = read_record(&out, "zero").unwrap();
    assert_eq!((back.dtype, back.shape, back.data.len()), (DType::I64, vec![0], 0));
}

#[test]
fn writer_rejects_bad_input() {
    let mut out = Vec::new();
    let a = ArrayRef { dtype: DType::F32, shape: &[2], data: &[0; 4] };
    let e = write_list(&mut out, &[a], &[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(out.is_empty(), "nothing written before validation");
    let ok = ArrayRef { dtype: DType::F32, shape: &[1], data: &[0; 4] };
    let e = write_list(&mut out, &[ok, ok], &["x"]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let huge = ArrayRef { dtype: DType::F64, shape: &[usize::MAX, 2], data: &[] };
    assert!(write_record(&mut out, &huge).is_err());
}

#[test]
fn malicious_headers_are_format_errors() {
    let path = "evil.params";
    // 2^60 float32 elements with 4 data bytes behind them.
    let rec = v2_header(&[1 << 60], 0).bytes(&[0; 4]).0;
    assert_format_err(read_list(&list_of(&[&rec], &[]), path), "truncated");
    // An element count that overflows usize.
    let rec = v2_header(&[1 << 62, 1 << 62], 0).0;
    assert_format_err(read_list(&list_of(&[&rec], &[]), path), "more elements than fit in memory");
    // ... also beside a zero dim (a zero-size array, but sizes and strides of the other dims
    // would overflow), in a V3 record and in a V2 "none" record.
    let v3 = Rec::new().u32(V3_MAGIC).i32(0).shape(&[0, 1 << 40, 1 << 40]).i32(1).i32(0).i32(0).0;
    assert_format_err(read_list(&list_of(&[&v3], &[]), path), "more elements than fit in memory");
    let none = v2_header(&[1 << 40, 1 << 40, 0], 0).0;
    assert_format_err(read_list(&list_of(&[&none], &[]), path), "more elements than fit in memory");
    let legacy = Rec::new().u32(3).u32(u32::MAX).u32(u32::MAX).u32(u32::MAX).0;
    assert_format_err(read_list(&list_of(&[&legacy], &[]), path), "more elements than fit in memory");
    // Zero-size arrays whose other dims are large but representable still load.
    let ok = Rec::new().u32(V3_MAGIC).i32(0).shape(&[0, 1 << 30]).i32(1).i32(0).i32(0).0;
    assert_eq!(read_list(&list_of(&[&ok], &[]), path).unwrap().0[0].shape, vec![0, 1 << 30]);
    let rec = v2_header(&[1 << 61], 1).0;
    assert_format_err(read_list(&list_of(&[&rec], &[]), path), "overflows");
    // Array count and name length far beyond the input.
    let f = Rec::new().u64(LIST_MAGIC).u64(0).u64(1 << 60).0;
    assert_format_err(read_list(&f, path), "claims");
    let rec = v2_header(&[1], 0).bytes(&[0; 4]).0;
    let mut f = list_of(&[&rec], &["a"]);
    let len_at = f.len() - 9;
    f[len_at..len_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert_format_err(read_list(&f, path), "name 0 claims");
    // Name count neither 0 nor N.
    let f = list_of(&[&rec, &rec], &["a"]);
    assert_format_err(read_list(&f, path), "name count is 1");
    // Wrong list magic, absurd ndim, negative dim, unknown flags and storage types.
    let mut f = list_of(&[&rec], &[]);
    f[0] = 0x13;
    assert_format_err(read_list(&f, path), "list magic");
    let bad_ndim = Rec::new().u32(V2_MAGIC).i32(0).i32(33).0;
    assert_format_err(read_list(&list_of(&[&bad_ndim], &[]), path), "ndim 33");
    let neg_ndim = Rec::new().u32(V2_MAGIC).i32(0).i32(-1).0;
    assert_format_err(read_list(&list_of(&[&neg_ndim], &[]), path), "ndim -1");
    let neg = v2_header(&[2, -3], 0).0;
    assert_format_err(read_list(&list_of(&[&neg], &[]), path), "invalid dimension -3");
    let flag = v2_header(&[1], 99).bytes(&[0; 8]).0;
    assert_format_err(read_list(&list_of(&[&flag], &[]), path), "dtype flag 99");
    let stype = Rec::new().u32(V2_MAGIC).i32(5).0;
    assert_format_err(read_list(&list_of(&[&stype], &[]), path), "storage type 5");
    let magic = Rec::new().u32(0xDEAD_BEEF).0;
    assert_format_err(read_list(&list_of(&[&magic], &[]), path), "0xDEADBEEF");
    // Invalid UTF-8 in a name.
    let f = list_of(&[&rec], &["\u{e9}"]);
    let mut f2 = f.clone();
    let last = f2.len() - 1;
    f2[last] = 0xFF;
    assert_format_err(read_list(&f2, path), "UTF-8");
    // A sparse record that would densify beyond the cap.
    let rsp = Rec::new()
        .u32(V2_MAGIC)
        .i32(1)
        .shape(&[0, 1 << 20])
        .shape(&[1 << 20, 1 << 20])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(6)
        .shape(&[0])
        .0;
    assert_format_err(read_list(&list_of(&[&rsp], &[]), path), "densify");
    // Messages carry the path and the array index.
    let e = read_list(&list_of(&[&rec, &neg], &[]), path).unwrap_err().to_string();
    assert!(e.starts_with("evil.params: invalid file: at byte") && e.contains("(array 1)"));
}

#[test]
fn sparse_index_errors() {
    // row_sparse index out of range.
    let rsp = Rec::new()
        .u32(V2_MAGIC)
        .i32(1)
        .shape(&[1, 1])
        .shape(&[2, 1])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(6)
        .shape(&[1])
        .bytes(&[0; 4])
        .bytes(&5i64.to_le_bytes())
        .0;
    assert_format_err(read_list(&list_of(&[&rsp], &[]), "x"), "row index 5");
    // csr with a decreasing indptr.
    let csr = Rec::new()
        .u32(V2_MAGIC)
        .i32(2)
        .shape(&[1])
        .shape(&[2, 2])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(3)
        .shape(&[3])
        .i32(3)
        .shape(&[1])
        .bytes(&[0; 4])
        .bytes(&[0, 2, 1])
        .bytes(&[0])
        .0;
    assert_format_err(read_list(&list_of(&[&csr], &[]), "x"), "indptr");
}

/// Truncating a valid file at any length is an error; flipping any byte never panics, and
/// never yields more array bytes than the cap allows.
#[test]
fn fuzz_truncation_and_bit_flips() {
    let mut files = vec![corpus()];
    for name in ["nd_dict.params", "nd_sparse.params", "nd_npshape_v3.params"] {
        if let Some(b) = fixture(name) {
            files.push(b);
        }
    }
    let max_dense = 1 << 16;
    for file in &files {
        assert!(parse_list(file, "f", max_dense).is_ok());
        for n in 0..file.len() {
            match parse_list(&file[..n], "cut", max_dense) {
                Err(Error::Format { msg, .. }) => assert!(msg.contains("at byte"), "{msg}"),
                other => panic!("truncated at {n}: {other:?}"),
            }
        }
        let mut buf = file.clone();
        for i in 0..buf.len() {
            for mask in [0x01u8, 0x10, 0x80, 0xFF] {
                buf[i] ^= mask;
                match parse_list(&buf, "flip", max_dense) {
                    Ok((recs, _)) => {
                        let total: usize = recs.iter().map(|r| r.data.len()).sum();
                        assert!(total <= buf.len() + recs.len() * max_dense);
                        for r in &recs {
                            let n = byte_len(&r.shape, flag_item_size(r.flag).unwrap());
                            assert_eq!(n, Some(r.data.len()), "flip {i}^{mask:#x}");
                        }
                    }
                    Err(Error::Format { msg, .. }) => assert!(msg.contains("at byte")),
                    Err(e) => panic!("unexpected error kind {e:?}"),
                }
                buf[i] ^= mask;
            }
        }
    }
    // Random garbage, with and without a valid list header in front.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..4000 {
        let len = (next() % 160) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && buf.len() >= 24 {
            buf[..8].copy_from_slice(&LIST_MAGIC.to_le_bytes());
            buf[16..24].copy_from_slice(&(next() % 4).to_le_bytes());
            if round % 4 == 0 && buf.len() >= 28 {
                buf[24..28].copy_from_slice(&V2_MAGIC.to_le_bytes());
            }
        }
        let _ = parse_list(&buf, "garbage", max_dense);
        let _ = read_list(&buf, "garbage");
        let _ = read_record(&buf, "garbage");
    }
}

#[test]
fn read_list_sparse_keeps_parts() {
    let (arrays, names) = read_list_sparse(&corpus(), "corpus").unwrap();
    assert_eq!(names.len(), 6);
    assert!(arrays[..4].iter().all(|(_, p)| p.is_none()));
    let (vals, parts) = &arrays[4];
    let parts = parts.as_ref().unwrap();
    assert_eq!((parts.stype, &parts.shape[..]), (1, &[3, 2][..]));
    assert_eq!((&vals.shape[..], f32s(vals)), (&[1, 2][..], vec![1., 2.]));
    assert_eq!((parts.aux[0].dtype, &parts.aux[0].data[..]), (DType::I64, &2i64.to_le_bytes()[..]));
    let (vals, parts) = &arrays[5];
    let parts = parts.as_ref().unwrap();
    assert_eq!((parts.stype, &parts.shape[..], f32s(vals)), (2, &[2, 3][..], vec![8., 9.]));
    assert_eq!(parts.aux.iter().map(|a| a.shape.clone()).collect::<Vec<_>>(), [vec![3], vec![2]]);
}

#[test]
fn stale_storage_shape_is_ignored_as_mxnet_does() {
    // MXNet can write a row_sparse record whose storage shape says 0 rows while its indices
    // and values hold 2: the values' shape comes from the indices' shape.
    let rsp = Rec::new()
        .u32(V2_MAGIC)
        .i32(1)
        .shape(&[0, 1])
        .shape(&[3, 1])
        .i32(1)
        .i32(0)
        .i32(0)
        .i32(6)
        .shape(&[2])
        .bytes(&f32_bytes(&[4., 5.]))
        .bytes(&0i64.to_le_bytes())
        .bytes(&2i64.to_le_bytes())
        .0;
    let file = list_of(&[&rsp], &[]);
    let (arrays, _) = read_list(&file, "x").unwrap();
    assert_eq!(f32s(&arrays[0]), [4., 0., 5.]);
    let (arrays, _) = read_list_sparse(&file, "x").unwrap();
    assert_eq!(arrays[0].0.shape, [2, 1]);
}
