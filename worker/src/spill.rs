//! Spill files: a stored value written to the worker's local disk as an Arrow IPC file
//! and read back on demand, inside a directory that is removed when the worker stops.

use arrow_ipc::writer::FileWriter;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_core::{Error, Result, Value};

/// The directory one worker spills into (`<parent>/tessera-spill-<pid>-<n>`), removed
/// with everything in it when dropped.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    next_file: AtomicU64,
}

impl SpillDir {
    /// Create a fresh spill directory under `parent` (the OS temp directory if `None`).
    pub fn create(parent: Option<&Path>) -> Result<SpillDir> {
        static DIRS: AtomicU64 = AtomicU64::new(0);
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("tessera-spill-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| {
            Error::Cluster(format!(
                "cannot create spill directory {}: {e}",
                path.display()
            ))
        })?;
        Ok(SpillDir {
            path,
            next_file: AtomicU64::new(0),
        })
    }

    /// Where the files are.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `value` to a new file of this directory.
    pub fn write(&self, value: &Value) -> Result<SpillFile> {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("{n}.arrow"));
        let io = |e: std::io::Error| Error::Cluster(format!("spill to {}: {e}", path.display()));
        let arrow = |e: arrow_schema::ArrowError| {
            Error::Cluster(format!("spill to {}: {e}", path.display()))
        };
        let (schema, batches) = value.to_record_batches()?;
        let file = File::create(&path).map_err(io)?;
        // From here on the file exists: a SpillFile removes it again if writing fails.
        let mut spilled = SpillFile {
            path: path.clone(),
            bytes: 0,
        };
        let mut writer = FileWriter::try_new(BufWriter::new(file), &schema).map_err(arrow)?;
        for batch in &batches {
            writer.write(batch).map_err(arrow)?;
        }
        writer.finish().map_err(arrow)?;
        let file = writer.into_inner().map_err(arrow)?;
        file.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_data()
            .map_err(io)?;
        spilled.bytes = std::fs::metadata(&path).map_err(io)?.len();
        Ok(spilled)
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), "cannot remove spill directory: {e}");
        }
    }
}

/// One spilled value on disk; the file is deleted when this is dropped.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    bytes: u64,
}

impl SpillFile {
    /// Size of the file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Read the value back. A file that is missing, truncated or not Arrow IPC is an
    /// error naming the file.
    pub fn read(&self) -> Result<Value> {
        let bad = |e: String| {
            Error::Decode(format!(
                "spill file {} cannot be read back: {e}",
                self.path.display()
            ))
        };
        let bytes = std::fs::read(&self.path).map_err(|e| bad(e.to_string()))?;
        decode_spill(bytes).map_err(|e| bad(e.to_string()))
    }
}

/// Decode the bytes of a spill file (an Arrow IPC file written by [`SpillDir::write`])
/// into the value it holds; the arrays keep pointing into `bytes` where aligned. Truncated,
/// damaged or hostile bytes are an error, never a panic and never an allocation of a size
/// the file claims: this is the entry point of the `spill_file` fuzz target.
pub fn decode_spill(bytes: Vec<u8>) -> Result<Value> {
    let (schema, batches) = tessera_core::value::ipc::decode_file(bytes)?;
    Value::from_record_batches(schema, batches)
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use ndarray::{ArrayD, IxDyn};
    use std::sync::Arc;
    use tessera_core::{Chunk, Partition};

    #[test]
    fn arrays_and_tables_come_back_equal() {
        let dir = SpillDir::create(None).unwrap();
        let chunk = Chunk::from_ndarray(ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| {
            (i[0] * 4 + i[1]) as f64 / 3.0
        }));
        let file = dir.write(&Value::Array(chunk.clone())).unwrap();
        assert!(file.bytes() > 0);
        let back = file.read().unwrap().into_chunk("test").unwrap();
        assert_eq!(back.shape(), chunk.shape());
        assert_eq!(
            back.to_ndarray::<f64>().unwrap(),
            chunk.to_ndarray::<f64>().unwrap()
        );

        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = |ks: Vec<i64>, ss: Vec<Option<&str>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ks)),
                    Arc::new(StringArray::from(ss)),
                ],
            )
            .unwrap()
        };
        let part = Partition::with_buckets(
            schema.clone(),
            vec![
                vec![batch(vec![1, 2], vec![Some("a"), None])],
                vec![],
                vec![batch(vec![3], vec![Some("c")])],
            ],
        )
        .unwrap();
        let file = dir.write(&Value::Table(part.clone())).unwrap();
        let back = file.read().unwrap().into_partition("test").unwrap();
        assert_eq!(back.num_buckets(), 3);
        for b in 0..3 {
            let want: Vec<_> = part.bucket_batches(b).unwrap().to_vec();
            let got: Vec<_> = back.bucket_batches(b).unwrap().to_vec();
            let rows = |v: &[RecordBatch]| v.iter().map(|b| b.num_rows()).sum::<usize>();
            assert_eq!(rows(&got), rows(&want), "bucket {b}");
            if !want.is_empty() {
                let want = arrow_select::concat::concat_batches(&schema, &want).unwrap();
                let got = arrow_select::concat::concat_batches(&schema, &got).unwrap();
                assert_eq!(got.columns(), want.columns(), "bucket {b}");
            }
        }
    }

    #[test]
    fn files_and_directory_are_removed() {
        let dir = SpillDir::create(None).unwrap();
        let path = dir.path().to_path_buf();
        let chunk = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[5]), 1i64));
        let file = dir.write(&Value::Array(chunk)).unwrap();
        let file_path = file.path.clone();
        assert!(file_path.exists());
        drop(file);
        assert!(!file_path.exists());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = SpillDir::create(None).unwrap();
        let chunk = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[1000]), 2.5f64));
        let file = dir.write(&Value::Array(chunk)).unwrap();
        let bytes = std::fs::read(&file.path).unwrap();
        std::fs::write(&file.path, &bytes[..bytes.len() / 2]).unwrap();
        let err = file.read().unwrap_err().to_string();
        assert!(err.contains(&file.path.display().to_string()), "{err}");
        std::fs::write(&file.path, b"not arrow at all").unwrap();
        assert!(file.read().is_err());
    }

    /// Inputs the `spill_file` fuzz target crashed on (kept under `tests/data/fuzz/`):
    /// each must be refused with an error.
    #[test]
    fn fuzz_crashes_are_errors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fuzz/spill_file");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(decode_spill(bytes).is_err(), "{}", path.display());
            n += 1;
        }
        assert!(n > 0);
    }
}
