//! The process-wide registry of user kernels that `Op::Kernel` runs by name (`map_blocks`,
//! `blockwise`): a worker runs exactly the kernels its binary registered.

use super::named::{Named, guarded};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use std::sync::Arc;

/// A user kernel: the task's input chunks and the op's opaque argument bytes in, one
/// chunk out. Closures may capture state (a Python callable, a model), hence `Arc<dyn Fn>`.
pub type KernelFn = Arc<dyn Fn(&[Chunk], &[u8]) -> Result<Chunk> + Send + Sync>;

type KernelDyn = dyn Fn(&[Chunk], &[u8]) -> Result<Chunk> + Send + Sync;

static KERNELS: Named<KernelDyn> = Named::new();

/// Register `f` under `name` for this process, replacing any kernel of that name.
/// Accepts plain functions and closures alike.
pub fn register_kernel<F>(name: &str, f: F)
where
    F: Fn(&[Chunk], &[u8]) -> Result<Chunk> + Send + Sync + 'static,
{
    KERNELS.insert(name, Arc::new(f));
}

/// Remove the kernel registered under `name`; returns whether there was one.
pub fn unregister_kernel(name: &str) -> bool {
    KERNELS.remove(name)
}

/// The kernel registered under `name`, if any.
pub fn lookup_kernel(name: &str) -> Option<KernelFn> {
    KERNELS.get(name)
}

/// Names of every registered kernel, sorted.
pub fn registered_kernels() -> Vec<String> {
    KERNELS.names()
}

/// Run the kernel registered under `name`. Unknown names err naming the kernel; a panic
/// inside the kernel becomes an error carrying its message, so it fails only this task.
pub(crate) fn run_kernel(name: &str, args: &[u8], inputs: &[Chunk]) -> Result<Chunk> {
    let f = lookup_kernel(name).ok_or_else(|| {
        Error::other(format!(
            "unknown kernel {name:?}: this worker binary does not register it"
        ))
    })?;
    guarded(&format!("kernel {name:?}"), || f(inputs, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn double(inputs: &[Chunk], _args: &[u8]) -> Result<Chunk> {
        let a = inputs
            .first()
            .ok_or_else(|| Error::other("double needs one input"))?;
        Ok(Chunk::from_ndarray(a.view::<f64>()?.mapv(|x| 2.0 * x)))
    }

    #[test]
    fn registered_kernels_run_by_name() {
        register_kernel("test.double", double);
        let offset = 10.0;
        register_kernel("test.add_arg", move |inputs: &[Chunk], args: &[u8]| {
            let k = args.first().copied().unwrap_or(0) as f64 + offset;
            Ok(Chunk::from_ndarray(
                inputs[0].view::<f64>()?.mapv(|x| x + k),
            ))
        });
        register_kernel("test.panics", |_: &[Chunk], _: &[u8]| -> Result<Chunk> {
            panic!("boom")
        });
        let names = registered_kernels();
        assert!(names.contains(&"test.double".to_string()));
        assert!(names.windows(2).all(|w| w[0] <= w[1]));
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[3]), 1.5));
        let out = run_kernel("test.double", &[], std::slice::from_ref(&c)).unwrap();
        assert_eq!(
            out.to_ndarray::<f64>().unwrap(),
            ArrayD::from_elem(IxDyn(&[3]), 3.0)
        );
        let out = run_kernel("test.add_arg", &[2], std::slice::from_ref(&c)).unwrap();
        assert_eq!(
            out.to_ndarray::<f64>().unwrap(),
            ArrayD::from_elem(IxDyn(&[3]), 13.5)
        );
        let e = run_kernel("test.panics", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        let e = run_kernel("test.nope", &[], &[]).unwrap_err();
        assert!(
            e.to_string().contains("unknown kernel \"test.nope\""),
            "{e}"
        );
        assert!(unregister_kernel("test.double"));
        assert!(lookup_kernel("test.double").is_none());
    }
}
