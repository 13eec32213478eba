//! Plan fragments as bytes: datafusion-proto with an extension codec for Tessera's own
//! plan node ([`StageInputExec`]); decoding is bounded and never panics on hostile bytes.

use super::stage_input::StageInputExec;
use crate::error::{Error, Result};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest plan fragment accepted (bytes of datafusion-proto).
pub const MAX_PLAN_BYTES: usize = 64 * 1024 * 1024;

/// Encodes and decodes [`StageInputExec`] inside datafusion-proto plans.
#[derive(Debug, Default)]
pub struct TesseraPlanCodec;

#[derive(Serialize, Deserialize)]
struct StageInputWire {
    id: u32,
    partitions: u64,
    projection: Option<Vec<u64>>,
    #[serde(with = "serde_bytes")]
    schema: Vec<u8>,
}

/// The Arrow IPC stream bytes of `schema` (a schema message, no batches).
pub fn schema_to_bytes(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, schema)
        .map_err(|e| Error::other(format!("encoding a schema: {e}")))?;
    writer
        .finish()
        .map_err(|e| Error::other(format!("encoding a schema: {e}")))?;
    drop(writer);
    Ok(out)
}

/// The schema encoded by [`schema_to_bytes`].
pub fn schema_from_bytes(bytes: &[u8]) -> Result<SchemaRef> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| Error::decode(format!("a schema: {e}")))?;
    Ok(reader.schema())
}

fn df_err(e: Error) -> DataFusionError {
    DataFusionError::Plan(e.to_string())
}

impl PhysicalExtensionCodec for TesseraPlanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Plan(
                "a stage input node cannot have children".into(),
            ));
        }
        let wire: StageInputWire = crate::codec::decode(buf).map_err(df_err)?;
        let schema = schema_from_bytes(&wire.schema).map_err(df_err)?;
        let partitions = usize::try_from(wire.partitions)
            .ok()
            .filter(|p| *p <= crate::value::MAX_BUCKETS)
            .ok_or_else(|| DataFusionError::Plan("too many stage input partitions".into()))?;
        let projection = match wire.projection {
            None => None,
            Some(p) => {
                let p: Vec<usize> = p.into_iter().map(|i| i as usize).collect();
                if p.iter().any(|&i| i >= schema.fields().len()) {
                    return Err(DataFusionError::Plan(
                        "stage input projection names a column the schema lacks".into(),
                    ));
                }
                Some(p)
            }
        };
        Ok(Arc::new(StageInputExec::try_new(
            wire.id, schema, partitions, projection,
        )?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        let Some(leaf) = node.downcast_ref::<StageInputExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "{} cannot be sent to workers (no datafusion-proto encoding)",
                node.name()
            )));
        };
        let wire = StageInputWire {
            id: leaf.id(),
            partitions: leaf.partitions() as u64,
            projection: leaf
                .projection()
                .map(|p| p.iter().map(|&i| i as u64).collect()),
            schema: schema_to_bytes(leaf.input_schema()).map_err(df_err)?,
        };
        buf.extend(crate::codec::encode(&wire).map_err(df_err)?);
        Ok(())
    }
}

/// Encode a plan fragment for a task.
pub fn plan_to_bytes(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<u8>> {
    datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &TesseraPlanCodec)
        .map(|b| b.to_vec())
        .map_err(|e| Error::Plan(format!("cannot send the plan to workers: {e}")))
}

/// Decode a plan fragment (functions resolve through `ctx`).
pub fn plan_from_bytes(bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    if bytes.len() > MAX_PLAN_BYTES {
        return Err(Error::decode(format!(
            "a plan fragment of {} bytes is over the {MAX_PLAN_BYTES}-byte limit",
            bytes.len()
        )));
    }
    // datafusion-proto recurses once per plan level; a hostile, deeply nested message
    // must not overflow the stack, so decoding runs where a panic cannot escape.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
            bytes,
            ctx,
            &TesseraPlanCodec,
        )
    }))
    .map_err(|_| Error::decode("the plan fragment could not be decoded (decoder panicked)"))?
    .map_err(|e| Error::decode(format!("plan fragment: {e}")))
}
