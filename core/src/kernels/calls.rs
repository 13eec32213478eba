//! The process-wide registry of call functions that `Op::Call` runs by name: whole values
//! in (chunks, partitions, objects), one value out (futures: `submit_call`, Python `submit`).

use super::named::{Named, guarded};
use crate::error::{Error, Result};
use crate::value::Value;
use std::sync::Arc;

/// A call function: the task's input values and the op's opaque argument bytes in, one
/// value out. Closures may capture state (an interpreter, a model), hence `Arc<dyn Fn>`.
pub type CallFn = Arc<dyn Fn(&[Value], &[u8]) -> Result<Value> + Send + Sync>;

type CallDyn = dyn Fn(&[Value], &[u8]) -> Result<Value> + Send + Sync;

static CALLS: Named<CallDyn> = Named::new();

/// Register `f` under `name` in this process (a worker runs `Op::Call` tasks naming it);
/// a second registration under the same name replaces the first.
pub fn register_call<F>(name: &str, f: F)
where
    F: Fn(&[Value], &[u8]) -> Result<Value> + Send + Sync + 'static,
{
    CALLS.insert(name, Arc::new(f));
}

/// The call function registered under `name`, if any.
pub fn lookup_call(name: &str) -> Option<CallFn> {
    CALLS.get(name)
}

/// Names of every registered call function, sorted.
pub fn registered_calls() -> Vec<String> {
    CALLS.names()
}

/// Run the call function `name`. Unknown names err naming it; a panic inside becomes an
/// error carrying its message, so it fails only this task.
pub(crate) fn run_call(name: &str, args: &[u8], inputs: &[Value]) -> Result<Value> {
    let f = lookup_call(name).ok_or_else(|| {
        Error::other(format!(
            "unknown call function {name:?}: this worker binary does not register it"
        ))
    })?;
    guarded(&format!("call {name:?}"), || f(inputs, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::object;

    #[test]
    fn registered_calls_run_by_name_on_whole_values() {
        register_call("test.concat", |inputs: &[Value], args: &[u8]| {
            let mut out = args.to_vec();
            for v in inputs {
                out.extend_from_slice(&object::bytes(v)?);
            }
            Ok(object::value(&out))
        });
        register_call(
            "test.call_panics",
            |_: &[Value], _: &[u8]| -> Result<Value> { panic!("kaboom") },
        );
        assert!(registered_calls().contains(&"test.concat".to_string()));
        let inputs = [object::value(b"b"), object::value(b"c")];
        let out = run_call("test.concat", b"a", &inputs).unwrap();
        assert_eq!(object::bytes(&out).unwrap(), b"abc");
        let e = run_call("test.call_panics", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("kaboom"), "{e}");
        let e = run_call("test.no_such_call", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("\"test.no_such_call\""), "{e}");
        let e = run_call(
            "test.concat",
            &[],
            &[Value::Array(crate::Chunk::from_ndarray(
                ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2]), 1.0f64),
            ))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("not an object"), "{e}");
    }
}
