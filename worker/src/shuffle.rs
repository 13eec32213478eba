//! The worker's side of shuffles: per-shuffle buffers of the pieces this worker owns
//! (accounted and bounded), and the transfer and unpack steps the executor runs.
//!
//! Pieces arrive from peers over Flight `DoPut` (descriptor path = the piece header) or
//! from this worker's own transfers directly. A buffer holds one attempt of a shuffle:
//! a piece of a newer attempt replaces everything older, pieces of older or forgotten
//! attempts are dropped, and a piece sent twice (a transfer that ran again) replaces its
//! copy, so re-running a transfer is harmless. An unpack reads its partition's pieces and
//! removes them once its output is stored; the scheduler's `ForgetShuffle` drops the rest.
//! Buffers live in memory, bounded by a byte limit: a piece that would exceed it is
//! refused, which fails the transfer and restarts the shuffle (spilling to disk is future
//! work; the bound keeps a worker from being killed by the OS meanwhile).

use crate::metrics::Counters;
use crate::peers::PeerPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tessera_core::shuffle::{PieceHeader, ShuffleAssignment};
use tessera_core::{Chunk, Error, Result};

/// Pieces received for one shuffle.
#[derive(Default)]
struct Buffer {
    /// Attempts up to this one are forgotten: their pieces are refused.
    forgotten: u64,
    /// The attempt whose pieces are held.
    attempt: u64,
    /// Pieces by partition, then by source.
    parts: HashMap<u64, HashMap<u64, Chunk>>,
}

impl Buffer {
    fn bytes(&self) -> u64 {
        self.parts
            .values()
            .flat_map(|p| p.values())
            .map(|c| c.nbytes() as u64)
            .sum()
    }
}

/// This worker's shuffle buffers.
pub struct ShuffleBuffers {
    buffers: Mutex<HashMap<String, Buffer>>,
    bytes: AtomicU64,
    received: AtomicU64,
    limit: u64,
}

impl ShuffleBuffers {
    /// Buffers holding at most `limit` bytes of pieces in total.
    pub fn new(limit: u64) -> Self {
        ShuffleBuffers {
            buffers: Mutex::new(HashMap::new()),
            bytes: AtomicU64::new(0),
            received: AtomicU64::new(0),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Buffer>> {
        // Every operation below leaves the map consistent before it can panic.
        self.buffers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes of pieces held now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes of pieces accepted since start.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Accept a piece. `Ok(false)` when it belongs to an older or forgotten attempt and
    /// was dropped; `Err` when holding it would exceed the byte limit.
    pub fn accept(&self, header: PieceHeader, piece: Chunk) -> Result<bool> {
        let n = piece.nbytes() as u64;
        let mut buffers = self.lock();
        let buf = buffers.entry(header.shuffle.clone()).or_default();
        if header.attempt <= buf.forgotten || header.attempt < buf.attempt {
            return Ok(false);
        }
        if header.attempt > buf.attempt {
            let old = buf.bytes();
            buf.parts.clear();
            buf.attempt = header.attempt;
            self.bytes.fetch_sub(old, Ordering::Relaxed);
        }
        let replaced = buf
            .parts
            .get(&header.partition)
            .and_then(|p| p.get(&header.source))
            .map_or(0, |c| c.nbytes() as u64);
        let held = self.bytes();
        // Spill hook: past a target fraction of the limit, the coldest partitions' pieces
        // would be written here as Arrow IPC files on local disk (keeping only their paths
        // in `parts`), and `pieces` would read them back; until then a full buffer refuses.
        if held - replaced + n > self.limit {
            return Err(Error::Cluster(format!(
                "shuffle {}: a piece of {n} bytes for partition {} would exceed this worker's \
                 shuffle buffer limit ({held} of {} bytes held)",
                header.shuffle, header.partition, self.limit
            )));
        }
        buf.parts
            .entry(header.partition)
            .or_default()
            .insert(header.source, piece);
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_sub(replaced, Ordering::Relaxed);
        self.received.fetch_add(n, Ordering::Relaxed);
        Ok(true)
    }

    /// The pieces of `partition` held for `attempt` of `shuffle`, by source (empty when
    /// the buffer holds another attempt).
    pub fn pieces(&self, shuffle: &str, attempt: u64, partition: u64) -> HashMap<u64, Chunk> {
        let buffers = self.lock();
        match buffers.get(shuffle) {
            Some(b) if b.attempt == attempt => b.parts.get(&partition).cloned().unwrap_or_default(),
            _ => HashMap::new(),
        }
    }

    /// Drop the pieces of `partition` of `attempt` (its output is built and stored).
    pub fn remove_partition(&self, shuffle: &str, attempt: u64, partition: u64) {
        let mut buffers = self.lock();
        if let Some(b) = buffers.get_mut(shuffle)
            && b.attempt == attempt
            && let Some(p) = b.parts.remove(&partition)
        {
            let n: u64 = p.values().map(|c| c.nbytes() as u64).sum();
            self.bytes.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Forget attempts up to `attempt` of `shuffle`: their pieces are dropped now and
    /// refused from now on.
    pub fn forget(&self, shuffle: &str, attempt: u64) {
        let mut buffers = self.lock();
        let buf = buffers.entry(shuffle.to_string()).or_default();
        buf.forgotten = buf.forgotten.max(attempt);
        if buf.attempt <= attempt {
            let old = buf.bytes();
            buf.parts.clear();
            self.bytes.fetch_sub(old, Ordering::Relaxed);
        }
    }

    /// Drop every buffer and every forgotten-attempt mark. For a worker that joins a
    /// scheduler again: a restarted scheduler numbers attempts afresh, and the one it lost
    /// contact with restarted every shuffle this worker owned partitions of.
    pub fn clear(&self) {
        let mut buffers = self.lock();
        buffers.clear();
        self.bytes.store(0, Ordering::Relaxed);
    }

    /// Number of shuffles with pieces held (for tests).
    pub fn active(&self) -> usize {
        self.lock().values().filter(|b| !b.parts.is_empty()).count()
    }
}

/// Send `pieces` (partition, piece) of input `source` to their owners: local ones into
/// `buffers`, the others over Flight, one stream of puts per owner, owners concurrently.
pub async fn push_pieces(
    buffers: Arc<ShuffleBuffers>,
    peers: Arc<PeerPool>,
    counters: Arc<Counters>,
    self_address: String,
    assignment: &ShuffleAssignment,
    source: u64,
    pieces: Vec<(u64, Chunk)>,
) -> Result<()> {
    let mut by_owner: HashMap<String, Vec<(PieceHeader, Chunk)>> = HashMap::new();
    for (partition, piece) in pieces {
        let owner = assignment.owner(partition).ok_or_else(|| {
            Error::Cluster(format!(
                "shuffle {}: partition {partition} has no owner in the assignment",
                assignment.id
            ))
        })?;
        let header = PieceHeader {
            shuffle: assignment.id.clone(),
            attempt: assignment.attempt,
            partition,
            source,
        };
        by_owner
            .entry(owner.to_string())
            .or_default()
            .push((header, piece));
    }
    // One task per owner (owned data, so each is `'static`), all owners concurrently.
    let mut sends = Vec::with_capacity(by_owner.len());
    for (owner, list) in by_owner {
        let local = owner == self_address;
        sends.push(tokio::spawn(send_to(
            buffers.clone(),
            peers.clone(),
            counters.clone(),
            local,
            owner,
            list,
        )));
    }
    let mut first_error = None;
    for handle in sends {
        let r = handle
            .await
            .unwrap_or_else(|e| Err(Error::other(format!("a piece sender failed: {e}"))));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Send `list` to one owner, in order: into `buffers` when the owner is this worker.
async fn send_to(
    buffers: Arc<ShuffleBuffers>,
    peers: Arc<PeerPool>,
    counters: Arc<Counters>,
    local: bool,
    owner: String,
    list: Vec<(PieceHeader, Chunk)>,
) -> Result<()> {
    for (header, piece) in list {
        if local {
            buffers.accept(header, piece)?;
        } else {
            let n = piece.nbytes() as u64;
            let piece = tessera_core::Value::Array(piece);
            peers.put_path(&owner, header.to_path(), &piece).await?;
            Counters::add(&counters.bytes_sent, n);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn piece(n: usize) -> Chunk {
        Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[n]), 1.0f64))
    }

    fn h(attempt: u64, partition: u64, source: u64) -> PieceHeader {
        PieceHeader {
            shuffle: "s".into(),
            attempt,
            partition,
            source,
        }
    }

    #[test]
    fn attempts_supersede_and_forgotten_ones_are_refused() {
        let b = ShuffleBuffers::new(1 << 20);
        assert!(b.accept(h(1, 0, 0), piece(4)).unwrap());
        assert!(b.accept(h(1, 0, 1), piece(4)).unwrap());
        // The same piece again replaces its copy.
        assert!(b.accept(h(1, 0, 1), piece(4)).unwrap());
        assert_eq!(b.bytes(), 64);
        assert_eq!(b.pieces("s", 1, 0).len(), 2);
        // A newer attempt drops the older pieces; the older attempt is then refused.
        assert!(b.accept(h(2, 1, 0), piece(2)).unwrap());
        assert_eq!(b.bytes(), 16);
        assert!(!b.accept(h(1, 0, 2), piece(2)).unwrap());
        assert!(b.pieces("s", 1, 0).is_empty());
        assert_eq!(b.pieces("s", 2, 1).len(), 1);
        b.forget("s", 2);
        assert_eq!(b.bytes(), 0);
        assert_eq!(b.active(), 0);
        assert!(!b.accept(h(2, 0, 0), piece(2)).unwrap());
        assert!(b.accept(h(3, 0, 0), piece(2)).unwrap());
        b.remove_partition("s", 3, 0);
        assert_eq!(b.bytes(), 0);
        assert_eq!(b.received(), 8 * (4 + 4 + 4 + 2 + 2));
    }

    #[test]
    fn the_byte_limit_is_enforced() {
        let b = ShuffleBuffers::new(100);
        assert!(b.accept(h(1, 0, 0), piece(10)).unwrap());
        let e = b.accept(h(1, 0, 1), piece(10)).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(b.bytes(), 80);
        // Replacing a piece by one of the same size fits.
        assert!(b.accept(h(1, 0, 0), piece(10)).unwrap());
    }
}
