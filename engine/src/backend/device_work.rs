//! What a GPU backend reports of its own work, for `gpt2 bench`: counts of
//! dispatches, submissions, bytes read back and objects created, and, when
//! profiled, time per kernel kind.

use std::ops::Sub;

use serde::Serialize;

/// Counts of GPU work since a model was loaded; the difference of two
/// snapshots is the work between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeviceWork {
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Bytes copied from the GPU to the host.
    pub readback_bytes: u64,
    /// Buffers created (weights, activations, caches, staging).
    pub buffers_created: u64,
    /// Bind groups created.
    pub bind_groups_created: u64,
    /// Compute pipelines built (at load, or when a pass first needs one).
    pub pipelines_built: u64,
}

impl Sub for DeviceWork {
    type Output = DeviceWork;

    fn sub(self, earlier: DeviceWork) -> DeviceWork {
        DeviceWork {
            dispatches: self.dispatches.saturating_sub(earlier.dispatches),
            submissions: self.submissions.saturating_sub(earlier.submissions),
            readback_bytes: self.readback_bytes.saturating_sub(earlier.readback_bytes),
            buffers_created: self.buffers_created.saturating_sub(earlier.buffers_created),
            bind_groups_created: self
                .bind_groups_created
                .saturating_sub(earlier.bind_groups_created),
            pipelines_built: self.pipelines_built.saturating_sub(earlier.pipelines_built),
        }
    }
}

impl std::ops::AddAssign for DeviceWork {
    fn add_assign(&mut self, other: DeviceWork) {
        self.dispatches += other.dispatches;
        self.submissions += other.submissions;
        self.readback_bytes += other.readback_bytes;
        self.buffers_created += other.buffers_created;
        self.bind_groups_created += other.bind_groups_created;
        self.pipelines_built += other.pipelines_built;
    }
}

/// GPU time of one kind of kernel, summed over its dispatches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelTime {
    /// `embeddings`, `layer_norm`, `linear`, `attention`, `logits`, `summary`, `kv_copy`.
    pub kind: &'static str,
    pub seconds: f64,
    /// Bytes the dispatches read and wrote, as their shapes say.
    pub bytes: u64,
    pub dispatches: u64,
}
