//! Futures of single values (Dask's `client.submit`): a call function registered in the
//! worker binary runs on values the cluster holds; futures passed as inputs chain calls.

use crate::client::{Client, KeyHold};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_core::ops::Op;
use tessera_core::value::object;
use tessera_core::{Error, Result, Task, TaskGraph, TaskKey, Value};

/// A value being computed (or scattered) on the cluster, held while the future lives.
#[derive(Clone)]
pub struct ValueFuture {
    client: Client,
    key: TaskKey,
    state: Arc<Mutex<Attempts>>,
}

/// What a retry needs: the task to submit again, the retries left, and the current hold.
struct Attempts {
    task: Option<Task>,
    retries_left: u32,
    hold: Arc<KeyHold>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ValueFuture {
    /// The key of the value.
    pub fn key(&self) -> &TaskKey {
        &self.key
    }

    /// Whether the value is computed or erred for good (never blocks; an error with retries
    /// left counts as not done until it is waited on and retried).
    pub fn done(&self) -> bool {
        self.client.key_done(&self.key) && !self.may_retry()
    }

    fn may_retry(&self) -> bool {
        let s = lock(&self.state);
        s.task.is_some() && s.retries_left > 0 && self.client.key_erred(&self.key)
    }

    /// Block until computed, or return the task's error once its retries are used up.
    pub fn wait(&self) -> Result<()> {
        self.client.block_on(self.wait_async())
    }

    /// [`ValueFuture::wait`], waiting at most `timeout`: `Ok(false)` when it ran out.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.client.block_on(async {
            match tokio::time::timeout(timeout, self.wait_async()).await {
                Ok(r) => r.map(|_| true),
                Err(_) => Ok(false),
            }
        })
    }

    pub(crate) async fn wait_async(&self) -> Result<()> {
        loop {
            match self.client.wait_key(&self.key).await {
                Ok(_) => return Ok(()),
                Err(Error::Task(e)) => {
                    let task = {
                        let mut s = lock(&self.state);
                        if s.retries_left == 0 || s.task.is_none() {
                            return Err(Error::Task(e));
                        }
                        s.retries_left -= 1;
                        s.task.clone()
                    };
                    let task = task.expect("checked above");
                    tracing::info!(key = %self.key, "task erred; retrying: {e}");
                    let hold = self
                        .client
                        .submit_tasks(vec![task], self.key.clone())
                        .await?;
                    lock(&self.state).hold = hold;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Block until computed and fetch the value from a worker holding it.
    pub fn value(&self) -> Result<Value> {
        self.client.block_on(async {
            self.wait_async().await?;
            self.client.fetch_value(&self.key).await
        })
    }

    /// Block until computed and fetch the bytes of an object value.
    pub fn object(&self) -> Result<Vec<u8>> {
        object::bytes(&self.value()?)
    }
}

impl Client {
    /// Submit one task that runs the call function `name` (see [`crate::register_call`]) on the
    /// values of `inputs`, with argument bytes `args`; its result gets `key`. `retries`
    /// resubmits the task when it errs, as many times, when the future is waited on.
    /// Submitting a key the cluster already holds reuses it (pure calls share results).
    pub fn submit_call(
        &self,
        key: TaskKey,
        name: &str,
        args: Vec<u8>,
        inputs: &[ValueFuture],
        retries: u32,
    ) -> Result<ValueFuture> {
        let mut one = self.submit_calls(name, vec![(key, args, inputs.to_vec())], retries)?;
        Ok(one.pop().expect("one call gives one future"))
    }

    /// Submit many calls of the function `name` as one graph (one round trip to the
    /// scheduler): each `(key, args, inputs)` as in [`Client::submit_call`]. Repeated
    /// keys run once and their futures share the value.
    pub fn submit_calls(
        &self,
        name: &str,
        calls: Vec<(TaskKey, Vec<u8>, Vec<ValueFuture>)>,
        retries: u32,
    ) -> Result<Vec<ValueFuture>> {
        if name.is_empty() {
            return Err(Error::other("submit_call: the call function needs a name"));
        }
        if let Some((key, _, _)) = calls.iter().find(|(k, _, _)| k.as_str().is_empty()) {
            return Err(Error::other(format!(
                "submit_call: every call needs a key, got {key:?}"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let mut tasks = Vec::with_capacity(calls.len());
        let mut keyed = Vec::with_capacity(calls.len());
        for (key, args, inputs) in calls {
            let op = Op::Call {
                name: name.to_string(),
                args,
            };
            let task = Task::new(
                key.clone(),
                &op,
                inputs.iter().map(|f| f.key.clone()).collect(),
                0,
            );
            if seen.insert(key.clone()) {
                tasks.push(task.clone());
            }
            keyed.push((key, task));
        }
        let outputs: Vec<TaskKey> = tasks.iter().map(|t| t.key.clone()).collect();
        let group =
            self.block_on(self.send_submission(TaskGraph { tasks }, outputs, vec![], vec![], &[]))?;
        // One hold per key, shared by the futures of that key.
        let holds = self.split_hold(group);
        let futures = keyed
            .into_iter()
            .map(|(key, task)| ValueFuture {
                client: self.clone(),
                state: Arc::new(Mutex::new(Attempts {
                    task: Some(task),
                    retries_left: retries,
                    hold: holds[&key].clone(),
                })),
                key,
            })
            .collect();
        Ok(futures)
    }

    /// Submit `tasks`, holding `output`.
    pub(crate) async fn submit_tasks(
        &self,
        tasks: Vec<Task>,
        output: TaskKey,
    ) -> Result<Arc<KeyHold>> {
        self.send_submission(TaskGraph { tasks }, vec![output], vec![], vec![], &[])
            .await
    }

    /// Put `value` on a worker under `key`; the future holds it there.
    pub fn scatter_value(&self, key: TaskKey, value: Value) -> Result<ValueFuture> {
        if key.as_str().is_empty() {
            return Err(Error::other("scatter_value: the value needs a key"));
        }
        let hold = self.block_on(async {
            let scattered = self.scatter_values(vec![(key.clone(), value)]).await?;
            let hold = self.hold(vec![key.clone()]);
            self.send_submission(
                TaskGraph::default(),
                vec![],
                scattered,
                vec![],
                std::slice::from_ref(&hold),
            )
            .await?;
            Ok::<_, Error>(hold)
        })?;
        Ok(ValueFuture {
            client: self.clone(),
            key,
            state: Arc::new(Mutex::new(Attempts {
                task: None,
                retries_left: 0,
                hold,
            })),
        })
    }

    /// Block until one of `futures` is done (computed or erred for good) and return its
    /// index; `None` when `timeout` runs out first or `futures` is empty.
    pub fn wait_first(
        &self,
        futures: &[ValueFuture],
        timeout: Option<Duration>,
    ) -> Result<Option<usize>> {
        if futures.is_empty() {
            return Ok(None);
        }
        self.block_on(async {
            let waits = futures
                .iter()
                .map(|f| Box::pin(async move { f.wait_async().await }))
                .collect::<Vec<_>>();
            let first = futures::future::select_all(waits);
            let picked = match timeout {
                Some(t) => match tokio::time::timeout(t, first).await {
                    Ok((_, index, _)) => Some(index),
                    Err(_) => None,
                },
                None => Some(first.await.1),
            };
            Ok(picked)
        })
    }
}
