//! A team of threads that stays up: a forward pass is one job that every
//! thread runs at once, its steps separated by a barrier, so threads are woken
//! once per pass instead of once per operation (a fork-join per matrix-vector
//! product costs more than the product's own time on small layers).
//!
//! Waiting spins briefly, then yields, then (between jobs) sleeps: spinning
//! alone would starve a thread that shares its core with another process.
//!
//! The thread that posts a job never sleeps nor takes a lock a worker holds:
//! in a browser that thread is the page's, which may not block. There the
//! workers are Web Workers that the page starts ([`start_global`]), and they
//! sleep on `memory.atomic.wait32`, which a worker may do.

use std::cell::{Cell, UnsafeCell};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::{Error, Result};

/// What a thread of a job knows: its index, the team size, the barrier and
/// the work counters.
pub(crate) struct Ctx<'a> {
    pub ith: usize,
    pub nth: usize,
    shared: &'a Shared,
    /// The next work counter this thread will use.
    step: Cell<usize>,
}

/// Work counters a job can use, one per step that calls [`Ctx::chunks`].
const COUNTERS: usize = 1024;

impl Ctx<'_> {
    /// Waits until every thread of the job has reached this point.
    pub fn barrier(&self) {
        if self.nth == 1 {
            return;
        }
        let s = self.shared;
        let phase = s.phase.load(Ordering::Acquire);
        if s.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.nth {
            s.arrived.store(0, Ordering::Relaxed);
            s.phase.fetch_add(1, Ordering::Release);
            return;
        }
        wait_until(|| s.phase.load(Ordering::Acquire) != phase || s.failed.load(Ordering::Relaxed));
    }

    /// Chunks of `chunk` items of `0..len` for this thread to do, taken from
    /// a counter shared with the other threads until none is left: a thread
    /// that the OS lets run longer does more. Every thread of a job must call
    /// this at the same steps, in the same order.
    pub fn chunks(&self, len: usize, chunk: usize) -> impl Iterator<Item = Range<usize>> + '_ {
        let step = self.step.get();
        self.step.set(step + 1);
        let chunk = chunk.max(1);
        let counter = self.shared.counters.get(step);
        let mut fixed = counter.is_none().then(|| self.share(len, chunk));
        std::iter::from_fn(move || match (&mut fixed, counter) {
            (Some(r), _) => (r.start < r.end).then(|| std::mem::replace(r, r.end..r.end)),
            (None, Some(c)) => {
                let start = c.fetch_add(chunk, Ordering::Relaxed);
                (start < len).then(|| start..(start + chunk).min(len))
            }
            (None, None) => None,
        })
    }

    /// This thread's share `[start, end)` of `0..len`, split in blocks of
    /// `align` items (the last share takes the remainder).
    pub fn share(&self, len: usize, align: usize) -> std::ops::Range<usize> {
        let blocks = len.div_ceil(align);
        let start = (blocks * self.ith / self.nth * align).min(len);
        let end = (blocks * (self.ith + 1) / self.nth * align).min(len);
        start..end
    }
}

type Job = dyn Fn(&Ctx) + Sync;

struct Shared {
    /// Bumped to start a job; workers run the job of the generation they see.
    generation: AtomicU32,
    /// The job of the current generation: written before the generation is
    /// bumped, cleared after every worker is done with it.
    job: UnsafeCell<Option<&'static Job>>,
    bell: Bell,
    /// Workers that have started.
    started: AtomicUsize,
    /// Workers done with the current job.
    done: AtomicUsize,
    arrived: AtomicUsize,
    phase: AtomicUsize,
    /// A thread's job panicked: barriers stop waiting and the job fails.
    failed: AtomicBool,
    counters: Vec<AtomicUsize>,
}

// SAFETY: `job` is written only by the thread running `Team::run`, while no
// worker reads it (before the generation that publishes it, after every
// worker has reported done); everything else is atomic or `Sync`.
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> Shared {
        Shared {
            generation: AtomicU32::new(0),
            job: UnsafeCell::new(None),
            bell: Bell::default(),
            started: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            phase: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            counters: (0..COUNTERS).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn ctx(&self, ith: usize, nth: usize) -> Ctx<'_> {
        Ctx {
            ith,
            nth,
            shared: self,
            step: Cell::new(0),
        }
    }
}

/// A fixed team of `threads` threads, the caller being one of them.
pub(crate) struct Team {
    threads: usize,
    shared: Arc<Shared>,
    /// One job at a time.
    running: Mutex<()>,
}

/// Spins, then yields, until `ready` holds.
fn wait_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < 4_000 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Starts worker thread `ith` (1, 2, ...) running the closure; false when it
/// cannot.
pub type Spawn<'a> = &'a dyn Fn(usize, Box<dyn FnOnce() + Send>) -> bool;

static GLOBAL: OnceLock<Team> = OnceLock::new();

/// Makes the process's team `threads` threads, the ones beyond the caller
/// started by `spawn`: for platforms whose `std` starts none (WebAssembly in
/// a browser, where they are Web Workers). Returns the team's size, which is
/// that of the team already made if there is one (the first CPU model made
/// it). Wait for [`global_started`] to reach it before running a model: a
/// job waits for every worker, and a worker that never starts never comes.
pub fn start_global(threads: usize, spawn: Spawn) -> usize {
    GLOBAL
        .get_or_init(|| Team::with_spawn(threads, spawn))
        .threads()
}

/// How many threads of the process's team are running (the caller's
/// counts as one); 0 before the team is made.
pub fn global_started() -> usize {
    GLOBAL
        .get()
        .map_or(0, |t| 1 + t.shared.started.load(Ordering::Acquire))
}

impl Team {
    /// The process's team: `GPT2_THREADS` threads (or `RAYON_NUM_THREADS`),
    /// else one per core; one thread in a browser unless the page started
    /// more with [`start_global`].
    pub fn global() -> &'static Team {
        GLOBAL.get_or_init(|| Team::new(default_threads()))
    }

    /// A team of `threads` threads, or of as many as the platform can start
    /// (one where it has no threads, as in a browser without them).
    pub fn new(threads: usize) -> Team {
        Team::with_spawn(threads, &|ith, f| {
            std::thread::Builder::new()
                .name(format!("gpt2-cpu-{ith}"))
                .spawn(f)
                .is_ok()
        })
    }

    /// A team of `threads` threads whose workers `spawn` starts.
    pub fn with_spawn(threads: usize, spawn: Spawn) -> Team {
        let wanted = threads.max(1);
        let shared = Arc::new(Shared::new());
        // Workers learn the team size when they run a job, so that the team
        // can shrink if the platform refuses a thread.
        let size = Arc::new(AtomicUsize::new(wanted));
        let mut threads = 1;
        while threads < wanted {
            let (shared, team_size, ith) = (shared.clone(), size.clone(), threads);
            if !spawn(ith, Box::new(move || worker(&shared, ith, &team_size))) {
                break;
            }
            threads += 1;
        }
        size.store(threads, Ordering::Release);
        Team {
            threads,
            shared,
            running: Mutex::new(()),
        }
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on every thread of the team and returns when all are done.
    pub fn run(&self, job: &(dyn Fn(&Ctx) + Sync)) -> Result<()> {
        let _one = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        for c in &s.counters {
            c.store(0, Ordering::Relaxed);
        }
        if self.threads == 1 {
            return caught(|| job(&s.ctx(0, 1)));
        }
        // SAFETY: the job outlives its use: this function waits below until
        // every worker has finished it before returning.
        let job_static: &'static Job = unsafe { std::mem::transmute(job) };
        s.failed.store(false, Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        s.arrived.store(0, Ordering::Relaxed);
        // SAFETY: no worker reads the slot now: each finished the last job
        // (below) and reads it again only after the generation changes.
        unsafe { *s.job.get() = Some(job_static) };
        s.generation.fetch_add(1, Ordering::Release);
        s.bell.ring(&s.generation);
        let mine = caught(|| job(&s.ctx(0, self.threads)));
        if mine.is_err() {
            s.failed.store(true, Ordering::Relaxed);
        }
        wait_until(|| s.done.load(Ordering::Acquire) == self.threads - 1);
        // SAFETY: every worker is done with the job.
        unsafe { *s.job.get() = None };
        mine?;
        if s.failed.load(Ordering::Relaxed) {
            return Err(Error::Backend(
                "a CPU worker thread failed during the forward pass".into(),
            ));
        }
        Ok(())
    }
}

/// Runs `f`, turning a panic into an error.
fn caught(f: impl FnOnce()) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| Error::Backend("the CPU forward pass failed (a kernel panicked)".into()))
}

fn worker(s: &Shared, ith: usize, size: &AtomicUsize) {
    s.started.fetch_add(1, Ordering::Release);
    let mut seen = 0u32;
    loop {
        // Spin a little for the next job (decode steps follow each other
        // closely), then sleep until one is posted.
        let mut spins = 0u32;
        while s.generation.load(Ordering::Acquire) == seen && spins < 20_000 {
            std::hint::spin_loop();
            spins += 1;
        }
        s.bell.sleep_while(&s.generation, seen);
        seen = s.generation.load(Ordering::Acquire);
        // SAFETY: the generation just seen published the slot, which stays
        // as it is until this worker reports done.
        let job = unsafe { *s.job.get() }.expect("a job is posted with its generation");
        let nth = size.load(Ordering::Acquire);
        if caught(|| job(&s.ctx(ith, nth))).is_err() {
            s.failed.store(true, Ordering::Relaxed);
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

/// Where idle workers sleep until the generation changes. Natively a
/// condition variable, whose lock only the ringer and sleepers take briefly.
#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
#[derive(Default)]
struct Bell {
    lock: Mutex<()>,
    wake: std::sync::Condvar,
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
impl Bell {
    fn sleep_while(&self, generation: &AtomicU32, seen: u32) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while generation.load(Ordering::Acquire) == seen {
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes every sleeper; called after the generation changed.
    fn ring(&self, _generation: &AtomicU32) {
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_all();
    }
}

/// In WebAssembly with threads: workers wait on the generation's own word,
/// and the page's thread, which may not block on a lock, only notifies it.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
#[derive(Default)]
struct Bell;

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
impl Bell {
    fn sleep_while(&self, generation: &AtomicU32, seen: u32) {
        use std::arch::wasm32::memory_atomic_wait32;
        while generation.load(Ordering::Acquire) == seen {
            // SAFETY: the pointer is the atomic's own, aligned word.
            unsafe { memory_atomic_wait32(generation.as_ptr().cast(), seen as i32, -1) };
        }
    }

    fn ring(&self, generation: &AtomicU32) {
        // SAFETY: as above.
        unsafe { std::arch::wasm32::memory_atomic_notify(generation.as_ptr().cast(), u32::MAX) };
    }
}

fn default_threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    for var in ["GPT2_THREADS", "RAYON_NUM_THREADS"] {
        if let Some(n) = std::env::var(var).ok().and_then(|v| v.trim().parse().ok()) {
            if n > 0 {
                return n;
            }
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A buffer that the threads of a job write in disjoint parts.
pub(crate) struct SharedMut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: threads only write disjoint ranges (each op's partition) and read
// after a barrier; see the call sites.
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    pub fn new(data: &mut [T]) -> Self {
        SharedMut {
            ptr: data.as_mut_ptr(),
            len: data.len(),
        }
    }

    /// The whole buffer, to read (after a barrier).
    ///
    /// # Safety
    /// No thread writes it while the returned slice is alive.
    pub unsafe fn get(&self) -> &[T] {
        std::slice::from_raw_parts(self.ptr, self.len)
    }

    /// The whole buffer, to write the parts this thread owns.
    ///
    /// # Safety
    /// Threads write disjoint elements, and none reads another thread's
    /// elements before the next barrier.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.ptr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn every_thread_runs_each_step_after_the_barrier() {
        let team = Team::new(3);
        for _ in 0..50 {
            let counts: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
            team.run(&|ctx| {
                for (step, c) in counts.iter().enumerate() {
                    // Every thread sees all of the previous step's increments.
                    assert_eq!(c.load(Ordering::SeqCst), 0, "step {step} started early");
                    ctx.barrier();
                    c.fetch_add(1, Ordering::SeqCst);
                    ctx.barrier();
                    assert_eq!(c.load(Ordering::SeqCst), ctx.nth);
                    ctx.barrier();
                }
            })
            .unwrap();
        }
    }

    #[test]
    fn shares_cover_the_range_once() {
        let s = Shared::new();
        for (len, align, nth) in [(50257, 4, 2), (7, 4, 3), (0, 4, 2), (2304, 16, 5)] {
            let mut next = 0;
            for ith in 0..nth {
                let r = s.ctx(ith, nth).share(len, align);
                assert_eq!(r.start, next, "len {len} nth {nth}");
                assert!(r.start.is_multiple_of(align) || r.start == len);
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn chunks_cover_the_range_once_whoever_takes_them() {
        let team = Team::new(3);
        for (len, chunk) in [(50257, 64), (7, 4), (0, 4), (12, 1)] {
            let seen: Vec<AtomicUsize> = (0..len).map(|_| AtomicUsize::new(0)).collect();
            team.run(&|ctx| {
                for _step in 0..3 {
                    for r in ctx.chunks(len, chunk) {
                        assert!(r.len() <= chunk);
                        for i in r {
                            seen[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    ctx.barrier();
                }
            })
            .unwrap();
            assert!(
                seen.iter().all(|s| s.load(Ordering::Relaxed) == 3),
                "len {len} chunk {chunk}"
            );
        }
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_panicking_job_is_an_error_and_the_team_goes_on() {
        let team = Team::new(2);
        let err = team.run(&|ctx| {
            if ctx.ith == 1 {
                panic!("boom");
            }
            ctx.barrier();
        });
        assert!(err.is_err());
        team.run(&|ctx| ctx.barrier()).unwrap();
    }
}
