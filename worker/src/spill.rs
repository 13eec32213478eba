//! Spill files: a stored value written to the worker's local disk as an Arrow IPC file
//! and read back on demand, inside a directory that is removed when the worker stops.

use arrow_ipc::writer::FileWriter;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_core::{Error, Result, Value};

/// Names of spill directories start with this, then `<pid>-<n>`.
const DIR_PREFIX: &str = "tessera-spill-";

/// The file inside a spill directory that its worker holds an exclusive lock on while it
/// lives; the OS drops the lock when the process dies, however it dies.
const LOCK_FILE: &str = ".lock";

/// The directory one worker spills into (`<parent>/tessera-spill-<pid>-<n>`), removed
/// with everything in it when dropped. A worker killed before it could remove it (SIGKILL,
/// a crash, the OS out of memory) leaves it behind; the next spill directory created under
/// the same parent removes it (see [`remove_stale_dirs`]).
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    next_file: AtomicU64,
    /// Holds the directory's lock for as long as this lives.
    _lock: File,
}

impl SpillDir {
    /// Create a fresh spill directory under `parent` (the OS temp directory if `None`).
    pub fn create(parent: Option<&Path>) -> Result<SpillDir> {
        static DIRS: AtomicU64 = AtomicU64::new(0);
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        let failed = |e: std::io::Error| {
            Error::Cluster(format!(
                "cannot create spill directory {}: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(&path).map_err(failed)?;
        let lock = File::create(path.join(LOCK_FILE)).map_err(failed)?;
        if !try_lock(&lock) {
            return Err(failed(std::io::Error::other("its lock is held")));
        }
        let removed = remove_stale_dirs(&parent);
        if removed > 0 {
            tracing::info!(removed, parent = %parent.display(), "removed spill directories of dead workers");
        }
        Ok(SpillDir {
            path,
            next_file: AtomicU64::new(0),
            _lock: lock,
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

/// Take the exclusive lock on `file` without waiting; whether it was free.
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this `File` owns; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Remove the spill directories under `parent` whose worker is gone: their lock can be
/// taken (or, for a directory without a lock file, made by an older build, its process
/// no longer exists). Directories of live workers are left alone. Returns how many were
/// removed.
pub fn remove_stale_dirs(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let dir = entry.path();
        let stale = match File::open(dir.join(LOCK_FILE)) {
            Ok(lock) => try_lock(&lock),
            Err(_) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        };
        if stale && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
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
    fn directories_of_dead_workers_are_removed_and_live_ones_kept() {
        let parent = std::env::temp_dir().join(format!("spill-purge-{}", std::process::id()));
        std::fs::create_dir_all(&parent).unwrap();
        let live = SpillDir::create(Some(&parent)).unwrap();
        // Left by a worker killed with SIGKILL: its lock file is not held any more.
        let unlocked = parent.join(format!("{DIR_PREFIX}{}-9999", std::process::id()));
        std::fs::create_dir_all(&unlocked).unwrap();
        std::fs::write(unlocked.join(LOCK_FILE), b"").unwrap();
        std::fs::write(unlocked.join("0.arrow"), b"spilled").unwrap();
        // Left by an older build (no lock file) whose process is gone.
        let old = parent.join(format!("{DIR_PREFIX}4294967295-0"));
        std::fs::create_dir_all(&old).unwrap();
        let unrelated = parent.join("tessera-spill-notes");
        std::fs::create_dir_all(&unrelated).unwrap();
        let second = SpillDir::create(Some(&parent)).unwrap();
        assert!(!unlocked.exists() && !old.exists());
        assert!(live.path().exists() && second.path().exists() && unrelated.exists());
        drop((live, second));
        std::fs::remove_dir_all(&parent).unwrap();
    }

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
