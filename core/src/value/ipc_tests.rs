//! Tests of the Arrow IPC checks: valid files and streams decode, every truncation and
//! byte flip is an error or a value (never a panic), and the fuzz crashes stay fixed.

use super::*;
use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow_ipc::writer::{FileWriter, StreamWriter};
use arrow_schema::{DataType, Field, Schema};

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("x", DataType::Float64, false),
    ]));
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..5));
    let names: ArrayRef = Arc::new(StringArray::from(vec![
        Some("a"),
        None,
        Some("ccc"),
        Some(""),
        None,
    ]));
    let xs: ArrayRef = Arc::new(Float64Array::from_iter_values((0..5).map(|i| i as f64)));
    RecordBatch::try_new(schema, vec![ids, names, xs]).unwrap()
}

fn file_bytes() -> Vec<u8> {
    let b = batch();
    let mut out = Vec::new();
    let mut w = FileWriter::try_new(&mut out, &b.schema()).unwrap();
    w.write(&b).unwrap();
    w.write(&b.slice(1, 3)).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

fn stream_bytes() -> Vec<u8> {
    let b = batch();
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &b.schema()).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

#[test]
fn valid_files_and_streams_decode() {
    let (schema, batches) = decode_file(file_bytes()).unwrap();
    assert_eq!(schema, batch().schema());
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0], batch());
    assert_eq!(batches[1], batch().slice(1, 3));
    assert_eq!(
        schema_from_stream(&stream_bytes()).unwrap(),
        batch().schema()
    );
}

#[test]
fn every_truncation_is_an_error() {
    let file = file_bytes();
    for n in 0..file.len() {
        assert!(decode_file(file[..n].to_vec()).is_err(), "{n} bytes");
    }
    let stream = stream_bytes();
    // The schema message ends before the end-of-stream marker (8 bytes).
    for n in 0..stream.len() - 8 {
        assert!(schema_from_stream(&stream[..n]).is_err(), "{n} bytes");
    }
}

#[test]
fn byte_flips_never_panic() {
    let file = file_bytes();
    for at in 0..file.len() {
        for flip in [0xffu8, 0x80, 0x01] {
            let mut f = file.clone();
            f[at] ^= flip;
            let _ = decode_file(f);
        }
    }
    let stream = stream_bytes();
    for at in 0..stream.len() {
        let mut s = stream.clone();
        s[at] ^= 0xff;
        let _ = schema_from_stream(&s);
    }
}

#[test]
fn lying_lengths_are_refused() {
    let mut file = file_bytes();
    let n = file.len();
    // A footer claiming more bytes than the file has, or a negative length.
    for len in [i32::MAX, -1, (n - 10) as i32] {
        file[n - 10..n - 6].copy_from_slice(&len.to_le_bytes());
        assert!(decode_file(file.clone()).is_err(), "footer of {len}");
    }
    let mut stream = stream_bytes();
    stream[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(schema_from_stream(&stream).is_err());
    stream[4..8].copy_from_slice(&(-8i32).to_le_bytes());
    assert!(schema_from_stream(&stream).is_err());
}

#[test]
fn batches_of_a_file_each_report_their_own_memory() {
    // Many batches: each must not count the whole file (DataFusion's memory pool sums
    // what the batches report; sharing one allocation made a spilled partition of N
    // batches count N times the file).
    let b = batch();
    let mut out = Vec::new();
    let mut w = FileWriter::try_new(&mut out, &b.schema()).unwrap();
    for _ in 0..50 {
        w.write(&b).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    let file_len = out.len();
    let (_, batches) = decode_file(out).unwrap();
    let reported: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
    // Each buffer reports its block's allocation (a few buffers per batch), never the
    // file's: sharing the file's allocation reported about 50 x 7 x the file.
    assert!(
        reported < 10 * file_len,
        "50 batches report {reported} bytes for a file of {file_len}"
    );
}
