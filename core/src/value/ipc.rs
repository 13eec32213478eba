//! Arrow IPC bytes from a socket or a file, checked before Arrow decodes them: message
//! headers, buffer bounds, no compression, and a guard that turns a decoder panic into an error.
//!
//! arrow-ipc trusts the lengths and offsets a message declares: an out-of-range buffer
//! offset panics, a compressed body's declared size is allocated up front (a few hostile
//! bytes abort the process), an IPC file's footer and blocks are read at the sizes they
//! claim. Tessera never writes compressed IPC, so every message is checked here first;
//! what Arrow may still reject by panicking runs inside [`guarded`] (see [`crate::guard`]).

use super::ipc_schema::check_schema;
use crate::error::{Error, Result};
use crate::guard::guarded;
use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::{Block, MessageHeader};
use arrow_schema::SchemaRef;
use std::sync::Arc;

/// Largest IPC message header (the flatbuffer, without body) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024 * 1024;
/// Most field nodes or buffers one record batch message may declare.
pub const MAX_BATCH_BUFFERS: usize = 1 << 20;
/// Magic bytes that open and close an Arrow IPC file.
const FILE_MAGIC: &[u8; 6] = b"ARROW1";
/// Marks a message whose length follows (the IPC encapsulation since Arrow 0.15).
const CONTINUATION: [u8; 4] = [0xff; 4];

fn bad(what: impl std::fmt::Display) -> Error {
    Error::decode(format!("Arrow IPC: {what}"))
}

/// Check one IPC message header (a flatbuffer `Message`) that comes with a body of
/// `body_len` bytes: it must verify, be a schema (of types arrow-ipc converts without
/// panicking), record batch, dictionary batch or empty message, carry no compression,
/// and keep every buffer inside the body.
pub fn check_message(header: &[u8], body_len: usize) -> Result<()> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "a message header of {} bytes is over the {MAX_HEADER_BYTES}-byte limit",
            header.len()
        )));
    }
    let message = arrow_ipc::root_as_message(header).map_err(|e| bad(format!("{e}")))?;
    match message.header_type() {
        MessageHeader::NONE => Ok(()),
        MessageHeader::Schema => check_schema(
            message
                .header_as_schema()
                .ok_or_else(|| bad("a schema message without its schema"))?,
        ),
        MessageHeader::RecordBatch => check_batch(
            message
                .header_as_record_batch()
                .ok_or_else(|| bad("a record batch message without its batch"))?,
            body_len,
        ),
        MessageHeader::DictionaryBatch => check_batch(
            message
                .header_as_dictionary_batch()
                .and_then(|d| d.data())
                .ok_or_else(|| bad("a dictionary message without its batch"))?,
            body_len,
        ),
        other => Err(bad(format!(
            "unexpected message type {}",
            other.variant_name().unwrap_or("unknown")
        ))),
    }
}

fn check_batch(batch: arrow_ipc::RecordBatch<'_>, body_len: usize) -> Result<()> {
    if batch.compression().is_some() {
        return Err(bad("compressed bodies are not accepted"));
    }
    if batch.length() < 0 {
        return Err(bad("a negative row count"));
    }
    let nodes = batch.nodes().map(|n| n.len()).unwrap_or(0);
    let buffers = batch.buffers().map(|b| b.len()).unwrap_or(0);
    if nodes > MAX_BATCH_BUFFERS || buffers > MAX_BATCH_BUFFERS {
        return Err(bad(format!(
            "{nodes} field nodes and {buffers} buffers (at most {MAX_BATCH_BUFFERS} each)"
        )));
    }
    for node in batch.nodes().iter().flatten() {
        if node.length() < 0 || node.null_count() < 0 || node.null_count() > node.length() {
            return Err(bad(format!(
                "a field of {} rows with {} nulls",
                node.length(),
                node.null_count()
            )));
        }
    }
    for buffer in batch.buffers().iter().flatten() {
        let end = u64::try_from(buffer.offset())
            .ok()
            .zip(u64::try_from(buffer.length()).ok())
            .and_then(|(o, l)| o.checked_add(l));
        if end.is_none_or(|end| end > body_len as u64) {
            return Err(bad(format!(
                "a buffer at {} of {} bytes outside a body of {body_len} bytes",
                buffer.offset(),
                buffer.length()
            )));
        }
    }
    if batch.variadicBufferCounts().iter().flatten().any(|c| c < 0) {
        return Err(bad("a negative variadic buffer count"));
    }
    Ok(())
}

/// The schema of an Arrow IPC stream (its first message, which must be a schema).
pub fn schema_from_stream(bytes: &[u8]) -> Result<SchemaRef> {
    let word = |at: usize| -> Option<[u8; 4]> { bytes.get(at..at + 4)?.try_into().ok() };
    let (start, len): (usize, _) = match word(0) {
        Some(CONTINUATION) => (8, word(4)),
        _ => (4, word(0)),
    };
    let len = len
        .map(i32::from_le_bytes)
        .ok_or_else(|| bad("a stream cut short"))?;
    let header = usize::try_from(len)
        .ok()
        .and_then(|len| bytes.get(start..start.checked_add(len)?))
        .ok_or_else(|| {
            bad(format!(
                "a schema message of {len} bytes past the stream's end"
            ))
        })?;
    check_message(header, 0)?;
    let message = arrow_ipc::root_as_message(header).map_err(|e| bad(format!("{e}")))?;
    let schema = message
        .header_as_schema()
        .ok_or_else(|| bad("the stream does not start with a schema"))?;
    guarded("an Arrow IPC schema", || {
        Ok(Arc::new(arrow_ipc::convert::fb_to_schema(schema)))
    })
}

/// The schema and record batches of an Arrow IPC file held in `bytes` (a file of one
/// batch points into `bytes` where aligned; several batches get a copy each, so that each
/// reports only its own memory). The footer and
/// every block are bounds-checked against the file and every message is checked with
/// [`check_message`] before Arrow reads it.
pub fn decode_file(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let bytes = Buffer::from_vec(bytes);
    let n = bytes.len();
    if n < 8 + 10 || &bytes[..6] != FILE_MAGIC || &bytes[n - 6..] != FILE_MAGIC {
        return Err(bad("not an Arrow IPC file (magic bytes or length)"));
    }
    let footer_len = i32::from_le_bytes(bytes[n - 10..n - 6].try_into().expect("4 bytes"));
    let footer_start = usize::try_from(footer_len)
        .ok()
        .and_then(|l| (n - 10).checked_sub(l))
        .filter(|start| *start >= 8)
        .ok_or_else(|| bad(format!("a footer of {footer_len} bytes in a file of {n}")))?;
    let footer = arrow_ipc::root_as_footer(&bytes[footer_start..n - 10])
        .map_err(|e| bad(format!("footer: {e}")))?;
    let fb_schema = footer
        .schema()
        .ok_or_else(|| bad("a footer without schema"))?;
    check_schema(fb_schema)?;
    let schema = guarded("an Arrow IPC file schema", || {
        Ok(Arc::new(arrow_ipc::convert::fb_to_schema(fb_schema)))
    })?;
    let mut decoder = arrow_ipc::reader::FileDecoder::new(schema.clone(), footer.version());
    let blocks = footer.recordBatches().map_or(0, |b| b.len())
        + footer.dictionaries().map_or(0, |d| d.len());
    let shared_file = blocks <= 1;
    let block_bytes = |block: &Block| -> Result<Buffer> {
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let fits = || -> Option<(usize, usize, usize)> {
            let offset = usize::try_from(offset).ok()?;
            let meta = usize::try_from(meta).ok()?;
            let body = usize::try_from(body).ok()?;
            let end = offset.checked_add(meta)?.checked_add(body)?;
            (end <= footer_start).then_some((offset, meta, body))
        };
        let (offset, meta, body) = fits().ok_or_else(|| {
            bad(format!(
                "a block at {offset} of {meta}+{body} bytes outside the file"
            ))
        })?;
        // With several blocks, each gets its own allocation: arrays report the capacity
        // of the allocation they point into, so batches sharing the whole file would
        // each count the whole file (and DataFusion's memory pool would refuse them).
        let block = if shared_file {
            bytes.slice_with_length(offset, meta + body)
        } else {
            Buffer::from(&bytes[offset..offset + meta + body])
        };
        let prefix = if block.get(..4) == Some(&CONTINUATION[..]) {
            8
        } else {
            4
        };
        let header = block
            .get(prefix..meta)
            .ok_or_else(|| bad(format!("a block whose header of {meta} bytes is too short")))?;
        check_message(header, body)?;
        Ok(block)
    };
    for block in footer.dictionaries().iter().flatten() {
        let data = block_bytes(block)?;
        guarded("an Arrow IPC dictionary", || {
            decoder.read_dictionary(block, &data).map_err(bad)
        })?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let data = block_bytes(block)?;
        let batch = guarded("an Arrow IPC record batch", || {
            decoder.read_record_batch(block, &data).map_err(bad)
        })?;
        batches.extend(batch);
    }
    Ok((schema, batches))
}

#[cfg(test)]
#[path = "ipc_tests.rs"]
mod tests;
