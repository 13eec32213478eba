//! Plan fragments as bytes: datafusion-proto with an extension codec for Tessera's own
//! plan node ([`StageInputExec`]); decoding is bounded and never panics on hostile bytes.

use super::stage_input::StageInputExec;
use crate::error::{Error, Result};
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

/// The schema encoded by [`schema_to_bytes`]; malformed bytes are an error, never a
/// panic. This is the entry point of the `ipc_schema` fuzz target.
pub fn schema_from_bytes(bytes: &[u8]) -> Result<SchemaRef> {
    crate::value::ipc::schema_from_stream(bytes)
        .map_err(|e| Error::decode(format!("a schema: {e}")))
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
        Ok(Arc::new(decode_stage_input(buf).map_err(df_err)?))
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
        buf.extend(encode_stage_input(leaf).map_err(df_err)?);
        Ok(())
    }
}

/// The bytes that stand for `leaf` inside a datafusion-proto plan (an extension node).
pub fn encode_stage_input(leaf: &StageInputExec) -> Result<Vec<u8>> {
    let wire = StageInputWire {
        id: leaf.id(),
        partitions: leaf.partitions() as u64,
        projection: leaf
            .projection()
            .map(|p| p.iter().map(|&i| i as u64).collect()),
        schema: schema_to_bytes(leaf.input_schema())?,
    };
    crate::codec::encode(&wire)
}

/// Decode a stage input node made by [`encode_stage_input`]; malformed bytes, a schema
/// that does not decode, too many partitions or a projection past the schema's columns
/// are an error. This is the entry point of the `plan_stage_input` fuzz target.
pub fn decode_stage_input(buf: &[u8]) -> Result<StageInputExec> {
    let wire: StageInputWire = crate::codec::decode(buf)?;
    let schema = schema_from_bytes(&wire.schema)?;
    let partitions = usize::try_from(wire.partitions)
        .ok()
        .filter(|p| *p <= crate::value::MAX_BUCKETS)
        .ok_or_else(|| Error::decode("too many stage input partitions"))?;
    let projection = match wire.projection {
        None => None,
        Some(p) => {
            let p: Vec<usize> = p.into_iter().map(|i| i as usize).collect();
            if p.iter().any(|&i| i >= schema.fields().len()) {
                return Err(Error::decode(
                    "stage input projection names a column the schema lacks",
                ));
            }
            Some(p)
        }
    };
    StageInputExec::try_new(wire.id, schema, partitions, projection)
        .map_err(|e| Error::decode(format!("a stage input node: {e}")))
}

/// Encode a plan fragment for a task.
pub fn plan_to_bytes(plan: Arc<dyn ExecutionPlan>) -> Result<Vec<u8>> {
    datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &TesseraPlanCodec)
        .map(|b| b.to_vec())
        .map_err(|e| Error::Plan(format!("cannot send the plan to workers: {e}")))
}

/// Decode a plan fragment (functions resolve through `ctx`); bytes over
/// [`MAX_PLAN_BYTES`] or malformed are an error. This is the entry point of the
/// `plan_fragment` fuzz target.
pub fn plan_from_bytes(bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    if bytes.len() > MAX_PLAN_BYTES {
        return Err(Error::decode(format!(
            "a plan fragment of {} bytes is over the {MAX_PLAN_BYTES}-byte limit",
            bytes.len()
        )));
    }
    // datafusion-proto's prost decoding stops at 100 nested messages; what the converter
    // may still assert on runs where a panic becomes an error.
    crate::guard::guarded("a plan fragment", || {
        datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
            bytes,
            ctx,
            &TesseraPlanCodec,
        )
        .map_err(|e| Error::decode(format!("plan fragment: {e}")))
    })
}
