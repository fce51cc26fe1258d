//! Buffers on the GPU (storage, uniform, staging) and reading results back.

use futures_channel::oneshot;
use wgpu::util::DeviceExt;

use super::gpu::Gpu;
use super::recorder::WorkCounters;
use crate::{Error, Result};

impl Gpu {
    /// A storage buffer of `bytes` (at least 16), uninitialised.
    pub(super) fn storage(&self, name: &str, bytes: u64) -> wgpu::Buffer {
        WorkCounters::add(&self.work.buffers_created, 1);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes.max(16).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `values` (f32s, u32s, f16s or bytes).
    pub(super) fn upload<T: bytemuck::NoUninit>(&self, name: &str, values: &[T]) -> wgpu::Buffer {
        let data: &[u8] = bytemuck::cast_slice(values);
        let mut padded;
        let contents = if data.len() < 16 || !data.len().is_multiple_of(4) {
            padded = data.to_vec();
            padded.resize(data.len().max(16).next_multiple_of(4), 0);
            &padded[..]
        } else {
            data
        };
        WorkCounters::add(&self.work.buffers_created, 1);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A uniform buffer of `bytes`, written with `queue.write_buffer`.
    pub(super) fn uniform(&self, name: &str, bytes: u64) -> wgpu::Buffer {
        WorkCounters::add(&self.work.buffers_created, 1);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes.next_multiple_of(16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A buffer the CPU reads results from.
    pub(super) fn staging(&self, bytes: u64) -> wgpu::Buffer {
        WorkCounters::add(&self.work.buffers_created, 1);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(16).next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Waits for the GPU and reads the first `n` values (f32s or u32s) of a
    /// staging buffer (natively by polling; in the browser without blocking).
    pub(super) async fn read<T: bytemuck::Pod>(
        &self,
        staging: &wgpu::Buffer,
        n: usize,
    ) -> Result<Vec<T>> {
        let bytes = (n * std::mem::size_of::<T>()) as u64;
        WorkCounters::add(&self.work.readback_bytes, bytes);
        let (mapped_tx, mapped_rx) = oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |result| {
            // The receiver is gone only when the read was abandoned.
            let _ = mapped_tx.send(result);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.lost_or(format!("waiting for the GPU failed: {e}")))?;
        let mapped = match mapped_rx.await {
            Ok(mapped) => mapped.map_err(|e| e.to_string()),
            Err(oneshot::Canceled) => Err("the GPU dropped the request".to_string()),
        };
        if let Err(e) = mapped {
            return Err(self.lost_or(format!("reading results back from the GPU failed: {e}")));
        }
        self.check()?;
        let data = {
            let view = staging
                .get_mapped_range(0..bytes)
                .map_err(|e| Error::Backend(format!("reading results back: {e}")))?;
            // The mapped bytes need not be aligned for T: copy them out.
            bytemuck::pod_collect_to_vec(&view[..])
        };
        staging.unmap();
        Ok(data)
    }

    fn lost_or(&self, message: String) -> Error {
        match self.check() {
            Err(e) => e,
            Ok(()) => Error::Backend(message),
        }
    }
}
