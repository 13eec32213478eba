//! Progress of the client's submissions as the scheduler reports it: the latest counts per
//! submission, user hooks (`Client::on_progress`), and an `indicatif` bar on stderr.
//!
//! The bar appears only for a computation still running a second after it was submitted,
//! only when stderr is a terminal (indicatif hides it otherwise), and never when
//! `TESSERA_PROGRESS=0`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_core::wire::SubmissionProgress;

/// A progress callback.
pub type ProgressHook = Arc<dyn Fn(&SubmissionProgress) + Send + Sync>;

/// How long a computation runs before it gets a bar.
const BAR_AFTER: Duration = Duration::from_secs(1);
/// Submissions whose progress is remembered (the newest).
const KEEP: usize = 256;

#[derive(Default)]
struct Hub {
    started: HashMap<u64, Instant>,
    latest: HashMap<u64, SubmissionProgress>,
    bars: HashMap<u64, ProgressBar>,
    hooks: Vec<ProgressHook>,
}

/// The client's progress state (shared by its session task and its API).
pub struct Progress {
    hub: Mutex<Hub>,
    bars_enabled: AtomicBool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            hub: Mutex::default(),
            bars_enabled: AtomicBool::new(std::env::var("TESSERA_PROGRESS").as_deref() != Ok("0")),
        }
    }
}

fn is_finished(p: &SubmissionProgress) -> bool {
    p.done + p.erred >= p.total
}

impl Progress {
    fn hub(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Submission `id` was sent now.
    pub fn started(&self, id: u64) {
        let mut hub = self.hub();
        if hub.started.len() >= KEEP {
            let oldest = hub.started.keys().min().copied();
            if let Some(o) = oldest {
                hub.started.remove(&o);
                hub.latest.remove(&o);
            }
        }
        hub.started.insert(id, Instant::now());
    }

    /// A `Progress` event arrived.
    pub fn update(&self, p: SubmissionProgress) {
        let mut hub = self.hub();
        let hooks = hub.hooks.clone();
        let finished = is_finished(&p);
        let old_enough = hub
            .started
            .get(&p.id)
            .is_some_and(|t| t.elapsed() >= BAR_AFTER);
        if self.bars_enabled.load(Ordering::Relaxed)
            && !finished
            && old_enough
            && !hub.bars.contains_key(&p.id)
        {
            let bar = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} tasks ({per_sec}, eta {eta}) {msg}",
            ) {
                bar.set_style(style);
            }
            hub.bars.insert(p.id, bar);
        }
        if let Some(bar) = hub.bars.get(&p.id) {
            bar.set_length(p.total);
            bar.set_position(p.done + p.erred);
            if p.erred > 0 {
                bar.set_message(format!("{} erred", p.erred));
            }
        }
        if finished && let Some(bar) = hub.bars.remove(&p.id) {
            bar.finish_and_clear();
        }
        hub.latest.insert(p.id, p.clone());
        drop(hub);
        for hook in hooks {
            hook(&p);
        }
    }

    /// Add a hook called with every progress event (from the client's session thread:
    /// keep it short).
    pub fn add_hook(&self, hook: ProgressHook) {
        self.hub().hooks.push(hook);
    }

    /// The latest progress of submission `id`.
    pub fn get(&self, id: u64) -> Option<SubmissionProgress> {
        self.hub().latest.get(&id).cloned()
    }

    /// The latest progress of the newest submission that has any.
    pub fn newest(&self) -> Option<SubmissionProgress> {
        let hub = self.hub();
        hub.latest
            .keys()
            .max()
            .and_then(|id| hub.latest.get(id).cloned())
    }

    /// Show (or never show) `indicatif` bars from now on; a host with a bar of its own
    /// (the Python package) turns them off.
    pub fn set_bars(&self, enabled: bool) {
        self.bars_enabled.store(enabled, Ordering::Relaxed);
        if !enabled {
            for (_, bar) in self.hub().bars.drain() {
                bar.finish_and_clear();
            }
        }
    }

    /// The summed progress of every submission numbered `first` or later that has
    /// reported any (what one call that submits several graphs has done so far).
    pub fn since(&self, first: u64) -> Option<SubmissionProgress> {
        let hub = self.hub();
        let mut sum: Option<SubmissionProgress> = None;
        for p in hub.latest.values().filter(|p| p.id >= first) {
            let s = sum.get_or_insert(SubmissionProgress {
                id: p.id,
                ..SubmissionProgress::default()
            });
            s.id = s.id.max(p.id);
            s.total += p.total;
            s.done += p.done;
            s.erred += p.erred;
        }
        sum
    }

    /// Whether a bar is showing for `id` (for tests).
    pub fn has_bar(&self, id: u64) -> bool {
        self.hub().bars.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn p(id: u64, total: u64, done: u64) -> SubmissionProgress {
        SubmissionProgress {
            id,
            total,
            done,
            erred: 0,
        }
    }

    #[test]
    fn hooks_see_every_event_and_latest_is_kept() {
        let progress = Progress::default();
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        progress.add_hook(Arc::new(move |e| {
            s.fetch_add(e.done, Ordering::Relaxed);
        }));
        progress.started(1);
        progress.update(p(1, 10, 3));
        progress.update(p(1, 10, 10));
        assert_eq!(seen.load(Ordering::Relaxed), 13);
        assert_eq!(progress.get(1), Some(p(1, 10, 10)));
        assert_eq!(progress.newest(), Some(p(1, 10, 10)));
        assert_eq!(progress.get(2), None);
    }

    #[test]
    fn a_bar_only_for_long_unfinished_computations_and_gone_when_done() {
        let progress = Progress {
            hub: Mutex::default(),
            bars_enabled: AtomicBool::new(true),
        };
        progress.started(1);
        progress.update(p(1, 10, 1));
        assert!(!progress.has_bar(1), "too young for a bar");
        progress
            .hub()
            .started
            .insert(1, Instant::now() - Duration::from_secs(2));
        progress.update(p(1, 10, 2));
        assert!(progress.has_bar(1));
        progress.update(p(1, 10, 10));
        assert!(
            !progress.has_bar(1),
            "finished computations clear their bar"
        );
        progress.started(2);
        progress
            .hub()
            .started
            .insert(2, Instant::now() - Duration::from_secs(2));
        progress.set_bars(false);
        progress.update(p(2, 10, 2));
        assert!(!progress.has_bar(2), "bars turned off");
    }

    #[test]
    fn since_sums_the_submissions_from_a_mark() {
        let progress = Progress::default();
        assert_eq!(progress.since(1), None);
        progress.update(p(1, 10, 10));
        progress.update(p(2, 4, 1));
        progress.update(SubmissionProgress {
            id: 3,
            total: 6,
            done: 2,
            erred: 1,
        });
        let s = progress.since(2).unwrap();
        assert_eq!((s.id, s.total, s.done, s.erred), (3, 10, 3, 1));
        assert_eq!(progress.since(4), None);
    }
}
